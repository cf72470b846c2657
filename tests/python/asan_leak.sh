#!/usr/bin/env bash
# The binding under AddressSanitizer's leak checker (issue 12): build the
# cffi extension against the ARCA_SANITIZE build's libarca, run
# tests/python/asan_leak.py (10,000 put/get calls, then stages) with the
# compiler's libasan preloaded into Debian's /usr/bin/python3, and expect
# no leak; then run it once more leaking a blob buffer on purpose and
# expect LeakSanitizer to report it (the check can fail).
set -euo pipefail
src=${ARCA_SRC:?ARCA_SRC: the source tree}
libdir=${ARCA_LIB_DIR:?ARCA_LIB_DIR: the directory of the sanitizer build libarca.so}
cc=${ARCA_CC:-cc}
py=/usr/bin/python3
asan=$("$cc" -print-file-name=libasan.so)
[ -f "$asan" ] || asan=$("$cc" -print-file-name=libclang_rt.asan-x86_64.so)
if [ ! -f "$asan" ]; then
	echo "asan_leak.sh: no ASan runtime found by $cc -print-file-name" >&2
	exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$src/python/arca" "$src/python/arca_build.py" "$work/"
rm -f "$work"/arca/_arca.*
(cd "$work" && ARCA_INCLUDE_DIR="$src/include" ARCA_LIB_DIR="$libdir" \
	"$py" arca_build.py >/dev/null)
# Suppressions: the interpreter's own allocations. A pattern matches any
# frame of a leak's allocation stack, and every stack has interpreter
# frames further up, so stacks are cut to the allocating function
# (malloc_context_size=2: the interceptor and its caller): a leak is
# suppressed only when the interpreter itself called malloc (Python 3.11
# keeps frames in mmap'd chunks LSan does not scan, so an object only a
# frame refers to can look leaked). Leaks allocated by libarca (or
# SQLite, jansson, OpenSSL on its behalf) are reported with that caller.
interp=$(basename "$(readlink -f "$py")")
printf 'leak:%s\n' "$interp" >"$work/lsan.supp"
run() {
	(cd "$work" && env LD_PRELOAD="$asan" PYTHONMALLOC=malloc \
		ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:malloc_context_size=2 \
		LSAN_OPTIONS=suppressions="$work/lsan.supp":print_suppressions=0:leak_check_at_exit=0 \
		PYTHONPATH="$work" TMPDIR="$work" "$@" \
		"$py" "$src/tests/python/asan_leak.py")
}
run env
if out=$(run env ARCA_LEAK_SELFTEST=1 2>&1); then
	echo "asan_leak.sh: the deliberate leak was not reported" >&2
	exit 1
fi
grep -q 'LeakSanitizer: detected memory leaks' <<<"$out" || {
	echo "asan_leak.sh: the deliberate-leak run failed otherwise:" >&2
	echo "$out" >&2
	exit 1
}
echo "asan_leak.sh: the deliberate leak was reported"
