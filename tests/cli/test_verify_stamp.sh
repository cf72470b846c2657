#!/bin/bash
# verify: stamp from the environment, and the threaded put of a large
# file (hash_pipe.c) on a full disk: the store on a 16 MiB tmpfs (mounted
# here; needs root). A 24 MiB put fails with the "full" error (exit 5)
# and leaves no temp file; the store still verifies clean; a rewritten
# blob is found by the next read and by `arca verify` under stamp.
. "${ARCA_TEST_LIB:-$(dirname "$0")/../lib.sh}" || exit 2
export ARCA_DISK_RESERVE=0
export ARCA_VERIFY=stamp ARCA_VERIFY_STAMP_MIN=1M

mount_tmpfs 16m
ARCA_DIR="$MNT/store"
export ARCA_DIR

run "$ARCA" info
check_rc "verify_stamp__env_accepted" 0
ARCA_VERIFY=sometimes run "$ARCA" info
check_rc "verify_stamp__bad_env_exit_2" 2
assert_contains "verify_stamp__bad_env_named" "$ERR" "ARCA_VERIFY='sometimes'"

# 9 MiB: above the threaded threshold (8 MiB), fits.
head -c 9437184 /dev/urandom >fits.bin
run "$ARCA" put fits.bin
check_rc "verify_stamp__threaded_put_fits" 0
d=$(sha256sum fits.bin | cut -c1-64)
assert_eq "verify_stamp__threaded_put_digest" "$d" "$(printf '%s' "$OUT" | grep -o '[0-9a-f]\{64\}' | head -1)"

# 24 MiB: the tmpfs fills in the middle of the threaded put.
head -c 25165824 /dev/urandom >big.bin
run "$ARCA" put big.bin
check_rc "verify_stamp__threaded_put_full_exit_5" 5
case "$ERR" in
*"No space left"* | *full*) pass "verify_stamp__full_says_full" ;;
*) fail "verify_stamp__full_says_full" "stderr: $ERR" ;;
esac
check "verify_stamp__no_temp_file_left" test -z "$(ls -A "$ARCA_DIR/tmp" | grep -v '^pins-')"
check "verify_stamp__no_blob_file_for_failed_put" \
	test ! -e "$ARCA_DIR/blobs/$(sha256sum big.bin | cut -c1-2)/$(sha256sum big.bin | cut -c1-64)"
run "$ARCA" verify
check_rc "verify_stamp__store_verifies_after_full" 0
rm -f big.bin

run "$ARCA" get "$d" -o got.bin
check_rc "verify_stamp__get_after_full" 0
assert_files_eq "verify_stamp__get_bytes" fits.bin got.bin

# A rewrite (chmod u+w, flip, chmod back) changes mtime and ctime: the
# next read under stamp hashes and finds it.
f="$ARCA_DIR/blobs/${d:0:2}/$d"
corrupt_file "$f"
run "$ARCA" get "$d" -o got2.bin
if [ "$RC" -ne 0 ]; then pass "verify_stamp__rewrite_found_by_read"; else fail "verify_stamp__rewrite_found_by_read" "rc 0"; fi
check "verify_stamp__nothing_published" test ! -e got2.bin
check "verify_stamp__quarantined" test -e "$ARCA_DIR/quarantine/$d"

# arca verify re-hashes under stamp: a rewritten second blob is found.
head -c 2097152 /dev/urandom >two.bin
"$ARCA" put two.bin >/dev/null
d2=$(sha256sum two.bin | cut -c1-64)
"$ARCA" get "$d2" -o /dev/null
corrupt_file "$ARCA_DIR/blobs/${d2:0:2}/$d2"
run "$ARCA" verify
check_rc "verify_stamp__verify_finds_flip_exit_1" 1
assert_contains "verify_stamp__verify_names_blob" "$OUT" "corrupt: $d2"

finish
