#!/usr/bin/env bash
# Build one libFuzzer target and run it for a bounded time: the shared body
# of tests/fuzz/test_fuzz_*.sh (each calls this with its target's name).
#
#   fuzz_run.sh NAME
#
# Compiles tests/fuzz/fuzz_NAME.c with libarca's sources (every src/lib .c
# file) under clang's -fsanitize=fuzzer,address,undefined into a temp dir
# and runs it on a copy of the seed corpus tests/fuzz/corpus/NAME/ (with
# the dictionary tests/fuzz/NAME.dict when there is one) for
# ARCA_FUZZ_SECONDS (default 60). Any crash, leak, UB, timeout (10 s per
# input) or RSS above 1 GiB fails the test; the failing input is printed
# (hex) and kept when ARCA_FUZZ_KEEP=DIR is set.
#
# Environment: ARCA_SRC (the repository; default: found from this file),
# ARCA_FUZZ_SECONDS, ARCA_FUZZ_KEEP, CC_FUZZ (default clang).
# Prints "1 passed, 0 failed" or "0 passed, 1 failed" at the end.
set -u

name=${1:?usage: fuzz_run.sh NAME}
target=fuzz_$name
src=${ARCA_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
seconds=${ARCA_FUZZ_SECONDS:-60}
cc=${CC_FUZZ:-clang}

result() {
	if [ "$1" = ok ]; then
		echo "1 passed, 0 failed"
		exit 0
	fi
	echo "0 passed, 1 failed"
	exit 1
}

case $seconds in
'' | *[!0-9]*)
	echo "FAIL - $target: ARCA_FUZZ_SECONDS='$seconds' is not a number of seconds"
	result fail
	;;
esac

for f in "$src/tests/fuzz/$target.c" "$src/tests/fuzz/corpus/$name"; do
	if [ ! -e "$f" ]; then
		echo "FAIL - $target: $f not found"
		result fail
	fi
done

if ! command -v "$cc" >/dev/null 2>&1; then
	echo "FAIL - $target: $cc not found (scripts/bootstrap installs clang and libclang-rt-14-dev)"
	result fail
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/arca-fuzz.XXXXXX") || result fail
trap 'rm -rf "$tmp"' EXIT

# The sanitizers of an outer build (ASAN_OPTIONS from `make test`) are not
# this binary's; give it its own settings.
unset ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS
export ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

# shellcheck disable=SC2046 # pkg-config's words are meant to split
if ! "$cc" -g -O1 -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=undefined -fno-omit-frame-pointer \
	-D_GNU_SOURCE -Wall -Wextra -I"$src/include" \
	"$src/tests/fuzz/$target.c" "$src"/src/lib/*.c \
	$(pkg-config --cflags --libs yaml-0.1 sqlite3 libcrypto jansson libcurl \
		hiredis libxml-2.0 inih libzstd) \
	-lm -lpthread \
	-o "$tmp/$target" >"$tmp/build.log" 2>&1; then
	echo "FAIL - $target: cannot build the fuzzer"
	sed 's/^/    /' "$tmp/build.log"
	result fail
fi

mkdir "$tmp/corpus" "$tmp/artifacts"
cp "$src/tests/fuzz/corpus/$name"/* "$tmp/corpus/"
dict=()
if [ -f "$src/tests/fuzz/$name.dict" ]; then
	dict=("-dict=$src/tests/fuzz/$name.dict")
fi

# Harnesses that need scratch files (fuzz_config) make them under TMPDIR.
TMPDIR=$tmp "$tmp/$target" -max_total_time="$seconds" -timeout=10 \
	-rss_limit_mb=1024 -max_len=8192 -print_final_stats=1 \
	"${dict[@]}" \
	-artifact_prefix="$tmp/artifacts/" "$tmp/corpus" >"$tmp/fuzz.log" 2>&1
rc=$?

runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$tmp/fuzz.log" | tail -n 1)
if [ "$rc" -eq 0 ] && [ -z "$(ls -A "$tmp/artifacts")" ]; then
	echo "ok - $target: ${runs:-?} inputs in ${seconds} s, no crash, leak or timeout"
	result ok
fi

echo "FAIL - $target: libFuzzer exited $rc"
grep -E 'ERROR|SUMMARY|broken promise|runtime error|Test unit written' "$tmp/fuzz.log" |
	head -n 20 | sed 's/^/    /'
tail -n 40 "$tmp/fuzz.log" | sed 's/^/    | /'
for f in "$tmp"/artifacts/*; do
	[ -f "$f" ] || continue
	echo "    input $(basename "$f") ($(wc -c <"$f") bytes):"
	od -An -c "$f" | head -n 20 | sed 's/^/      /'
	if [ -n "${ARCA_FUZZ_KEEP:-}" ]; then
		mkdir -p "$ARCA_FUZZ_KEEP" && cp "$f" "$ARCA_FUZZ_KEEP/"
	fi
done
result fail
