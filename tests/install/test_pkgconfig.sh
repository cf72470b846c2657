#!/usr/bin/env bash
# `cmake --install` puts the library, headers, CLI and arca.pc in a prefix,
# and a program built with `pkg-config --cflags --libs arca` links and runs.
set -euo pipefail
build=$(dirname "$ARCA")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pass=0 fail=0
check() { if "$@"; then pass=$((pass + 1)); else echo "FAIL: $*"; fail=$((fail + 1)); fi; }

cmake --install "$build" --prefix "$work/prefix" > "$work/install.log"
libdir=$(ls -d "$work"/prefix/lib*/ | head -1)
check test -f "$work/prefix/include/arca/arca.h"
check test -f "$work/prefix/include/arca/sys/backend.h"
check test -x "$work/prefix/bin/arca"
check test -f "$libdir/pkgconfig/arca.pc"
check test -e "$libdir/libarca.so"
check test -f "$libdir/libarca.a"
# The server is its own executable in libexec, found by the installed
# arca (src/cli/serve_exec.c), also when the prefix is moved.
check test -x "$work/prefix/libexec/arca/arca-serve"
mv "$work/prefix" "$work/moved"
check sh -c "'$work/moved/bin/arca' serve --help | grep -q 'Usage: arca serve'"
mv "$work/moved" "$work/prefix"
# A command that needs no remote tier starts without libcurl, libxml2 or
# libmicrohttpd (src/lib/lazy_lib.h): none is a NEEDED entry of arca or
# libarca.so; arca-serve does need libmicrohttpd.
for f in "$work/prefix/bin/arca" "$libdir/libarca.so"; do
	check sh -c "! readelf -d '$f' | grep -E 'NEEDED.*(libcurl|libxml2|libmicrohttpd)'"
done
check sh -c "readelf -d '$work/prefix/libexec/arca/arca-serve' | grep -q 'NEEDED.*libmicrohttpd'"

cat > "$work/hello.c" <<'C'
#include <arca/arca.h>
#include <stdio.h>
#include <string.h>
int main(int argc, char **argv)
{
	arca_store *s = NULL;
	arca_digest d;
	arca_buf b = ARCA_BUF_INIT;
	char hex[ARCA_DIGEST_HEXLEN + 1];
	if (argc != 2 || arca_store_open(&s, argv[1], NULL) != 0)
		return 1;
	if (arca_blob_put(&d, s, "hello", 5) != 0 || arca_blob_get(&b, s, &d) != 0)
		return 2;
	arca_digest_to_hex(hex, &d);
	printf("%s %.*s\n", hex, (int)b.size, (const char *)b.data);
	arca_buf_free(&b);
	arca_store_close(s);
	return 0;
}
C
san=
grep -q '^ARCA_SANITIZE:BOOL=ON' "$build/CMakeCache.txt" && san="-fsanitize=address,undefined"
export PKG_CONFIG_PATH="$libdir/pkgconfig"
# shellcheck disable=SC2046
check cc $san -o "$work/hello" "$work/hello.c" $(pkg-config --cflags --libs arca)
out=$(LD_LIBRARY_PATH="$libdir" "$work/hello" "$work/store" 2>&1 || true)
check test "$out" = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824 hello"

# A program opening the store with NULL options obeys `arca limit` and
# config.yaml: store policy is read by the library.
cat > "$work/policy.c" <<'C'
#include <arca/arca.h>
#include <stdio.h>
int main(int argc, char **argv)
{
	arca_store *s = NULL;
	arca_options o;
	uint64_t max = 0;
	if (argc != 2 || arca_store_open(&s, argv[1], NULL) != 0) {
		fprintf(stderr, "%s\n", arca_errmsg());
		return 1;
	}
	if (arca_store_usage(NULL, &max, s) != 0 ||
	    arca_store_get_options(&o, s) != 0)
		return 2;
	printf("%llu %llu\n", (unsigned long long)max,
			(unsigned long long)o.default_ttl_s);
	arca_store_close(s);
	return 0;
}
C
# shellcheck disable=SC2046
check cc $san -o "$work/policy" "$work/policy.c" $(pkg-config --cflags --libs arca)
check "$work/prefix/bin/arca" --store "$work/store" limit 5M
printf 'ttl: 1w\n' >>"$work/store/config.yaml"
out=$(LD_LIBRARY_PATH="$libdir" XDG_CONFIG_HOME="$work/xdg" "$work/policy" "$work/store" 2>&1 || true)
check test "$out" = "5242880 604800"

# docs/api.md's example builds as the guide says, under strict flags, and
# runs against the installed shared library (a usage error: exit 2).
# shellcheck disable=SC2046
check cc $san -std=c11 -pedantic -Wall -Wextra -Werror -o "$work/orchestrator" \
  "$ARCA_SRC/examples/orchestrator/orchestrator.c" $(pkg-config --cflags --libs arca)
rc=0
LD_LIBRARY_PATH="$libdir" "$work/orchestrator" >/dev/null 2>&1 || rc=$?
check test "$rc" = 2
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
