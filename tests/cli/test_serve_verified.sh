#!/usr/bin/env bash
# arca serve's GET of a file blob trusts a handle's earlier verification
# of the very same file (src/lib/blob_open.c, docs/server.md
# "Performance"): a change to the file after that verification, even one
# that restores its mtime, is seen at the next GET (404, quarantined),
# never sent. The server runs under libfaketime 60 s ahead, so that the
# blob files count as older than the 2 s below which nothing is
# remembered; file times come from the kernel, unshifted.
SERVE_LIB=$(cd "$(dirname "$0")/.." && pwd)/serve_lib.sh
. "${ARCA_TEST_LIB:-$(dirname "$0")/../lib.sh}"
. "$SERVE_LIB"

FT=/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1
command -v curl >/dev/null || { fail "curl_installed"; finish; }
[ -f "$FT" ] || { fail "libfaketime_installed (package faketime)"; finish; }
REAL_ARCA=$ARCA
ARCA=$TEST_TMP/arca-ahead
printf '#!/bin/sh\nASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 LD_PRELOAD=%s FAKETIME=+60s exec %s "$@"\n' "$FT" \
	"$REAL_ARCA" >"$ARCA"
chmod +x "$ARCA"
C=(curl -s --max-time 30)

fresh_store
head -c 3000000 /dev/urandom >"$TEST_TMP/big"
d=$("$REAL_ARCA" put "$TEST_TMP/big")
file=$ARCA_DIR/blobs/${d:0:2}/$d
# One pool thread: every GET goes through the same handle.
start_server main --store "$ARCA_DIR" --threads 1 || { fail "started"; finish; }
get() { "${C[@]}" -o "$TEST_TMP/body" -w '%{http_code}' "$SRV_URL/cas/$d"; }

assert_eq "verified__first_get" 200 "$(get)"
assert_files_eq "verified__first_get_bytes" "$TEST_TMP/big" "$TEST_TMP/body"
assert_eq "verified__second_get" 200 "$(get)"
assert_files_eq "verified__second_get_bytes" "$TEST_TMP/big" "$TEST_TMP/body"

# Flip a byte in place and put the mtime back: the ctime still moved.
mtime=$(stat -c %y "$file")
printf '\x00' | dd of="$file" bs=1 seek=1000000 conv=notrunc status=none
touch -d "$mtime" "$file"
assert_eq "verified__changed_file_not_sent" 404 "$(get)"
[ -e "$ARCA_DIR/quarantine/$d" ] && pass "verified__changed_file_quarantined" ||
	fail "verified__changed_file_quarantined"
stop_server
finish
