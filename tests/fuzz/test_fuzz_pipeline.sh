#!/usr/bin/env bash
# Fuzz the pipeline parser with libFuzzer for a bounded time.
#
# Compiles tests/fuzz/fuzz_pipeline.c with libarca's sources (every src/lib .c file)
# under clang's
# -fsanitize=fuzzer,address,undefined into a temp dir and runs it on a copy
# of the seed corpus (tests/fuzz/corpus/pipeline/) for ARCA_FUZZ_SECONDS
# (default 30). Any crash, leak, UB, timeout (10 s per input) or RSS above
# 1 GiB fails the test; the failing input is printed (hex) and kept when
# ARCA_FUZZ_KEEP=DIR is set.
#
# Environment: ARCA_SRC (the repository; default: found from this file),
# ARCA_FUZZ_SECONDS, ARCA_FUZZ_KEEP, CC_FUZZ (default clang).
# Prints "1 passed, 0 failed" or "0 passed, 1 failed" at the end.
set -u

src=${ARCA_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
seconds=${ARCA_FUZZ_SECONDS:-30}
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
	echo "FAIL - fuzz_pipeline: ARCA_FUZZ_SECONDS='$seconds' is not a number of seconds"
	result fail
	;;
esac

if ! command -v "$cc" >/dev/null 2>&1; then
	echo "FAIL - fuzz_pipeline: $cc not found (scripts/bootstrap installs clang and libclang-rt-14-dev)"
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
	"$src/tests/fuzz/fuzz_pipeline.c" "$src"/src/lib/*.c \
	$(pkg-config --cflags --libs yaml-0.1 sqlite3 libcrypto jansson libcurl) \
	-lm -lpthread \
	-o "$tmp/fuzz_pipeline" >"$tmp/build.log" 2>&1; then
	echo "FAIL - fuzz_pipeline: cannot build the fuzzer"
	sed 's/^/    /' "$tmp/build.log"
	result fail
fi

mkdir "$tmp/corpus" "$tmp/artifacts"
cp "$src"/tests/fuzz/corpus/pipeline/* "$tmp/corpus/"

"$tmp/fuzz_pipeline" -max_total_time="$seconds" -timeout=10 \
	-rss_limit_mb=1024 -max_len=8192 -print_final_stats=1 \
	-dict="$src/tests/fuzz/pipeline.dict" \
	-artifact_prefix="$tmp/artifacts/" "$tmp/corpus" >"$tmp/fuzz.log" 2>&1
rc=$?

runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$tmp/fuzz.log" | tail -n 1)
if [ "$rc" -eq 0 ] && [ -z "$(ls -A "$tmp/artifacts")" ]; then
	echo "ok - fuzz_pipeline: ${runs:-?} inputs in ${seconds} s, no crash, leak or timeout"
	result ok
fi

echo "FAIL - fuzz_pipeline: libFuzzer exited $rc"
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
