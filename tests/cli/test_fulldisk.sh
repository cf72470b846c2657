#!/bin/bash
# A full disk: the store on a 4 MiB tmpfs (mounted here; needs root).
# Puts fail with the distinct "full" error (exit 5); `arca run` still
# hands over CMD's outputs and exit status and warns that caching failed;
# the full store verifies clean and keeps no temp files; once space is
# freed, puts and runs work again and hit.
. "${ARCA_TEST_LIB:-$(dirname "$0")/../lib.sh}" || exit 2
# The raw full disk: no disk-aware limit evicting ahead of it (that has
# its own test, test_fulldisk_recover.sh).
export ARCA_DISK_RESERVE=0

mount_tmpfs 4m

ARCA_DIR="$MNT/store"
export ARCA_DIR
WORK="$TEST_TMP/work"   # outputs go to the normal disk

# Files of 300 KiB (file blobs), each different.
make_file() {
	head -c 307200 /dev/urandom >"$1"
}

# 1. Put until a put fails: the failure is "full", exit 5.
n=0
full_rc=0
while [ $n -lt 40 ]; do
	make_file "blob$n"
	run "$ARCA" put "blob$n"
	if [ "$RC" -ne 0 ]; then
		full_rc=$RC
		break
	fi
	n=$((n + 1))
done
assert_eq "a put fails once the tmpfs is full (after $n puts)" 5 "$full_rc"
case "$ERR" in
*"No space left"* | *full*) pass "the failure says the disk is full" ;;
*) fail "the failure says the disk is full" "stderr: $ERR" ;;
esac
rm -f "blob$n"
check "no temp file left in tmp/ after a failed put" \
	test -z "$(ls -A "$ARCA_DIR/tmp")"
check "blobs stored before the disk filled still read back" \
	"$ARCA" get "$(sha256sum blob0 | cut -c1-64)" -o got0
assert_files_eq "... byte-exact" blob0 got0

# Take whatever space is left, so the index cannot grow either.
dd if=/dev/zero of="$MNT/filler" bs=4k 2>/dev/null
run "$ARCA" get "$(sha256sum blob1 | cut -c1-64)" -o got1
check_rc "stored blobs still read back when not a byte is free" 0
assert_files_eq "... byte-exact" blob1 got1
run "$ARCA" info
check_rc "the store opens and reports on a full disk" 0
make_file small
head -c 2000 /dev/urandom >small
run "$ARCA" put small
check_rc "a small (inline) put on a full disk fails with exit 5" 5

# 2. arca run with the store full: CMD runs, outputs and status reach the
# user, caching fails with a warning.
cat >"$WORK/stage.sh" <<'EOF'
#!/bin/sh
echo x >>runs
head -c 307200 /dev/urandom >out.bin
echo "stage stdout"
exit "${1:-0}"
EOF
chmod +x "$WORK/stage.sh"
runs() { if [ -f runs ]; then wc -l <runs | tr -d ' '; else echo 0; fi; }

run "$ARCA" run --out out.bin -- ./stage.sh 0
check_rc "run on a full store exits with CMD's status 0" 0
assert_contains "CMD's stdout is passed through" "$OUT" "stage stdout"
assert_contains "arca warns that caching failed" "$ERR" "could not cache"
assert_contains "... because the disk is full" "$ERR" "No space left"
assert_eq "CMD ran" 1 "$(runs)"
check "the output is handed over" test -s out.bin
run "$ARCA" run --out out.bin -- ./stage.sh 3
check_rc "run on a full store passes CMD's exit status 3 through" 3
assert_eq "CMD ran again (nothing was cached)" 2 "$(runs)"
check "no temp file left in tmp/ after failed caching" \
	test -z "$(ls -A "$ARCA_DIR/tmp")"

# 3. The full store is consistent.
run "$ARCA" verify
check_rc "verify on the full store finds nothing corrupt" 0

# 4. Free space: puts and runs work again, and hit afterwards.
rm -f "$MNT/filler"
run "$ARCA" clear --all
check_rc "clear --all frees the store's space" 0
check "... its blob files are gone" test -z "$(find "$ARCA_DIR/blobs" -type f)"
run "$ARCA" put small
check_rc "after freeing space a put works again" 0
run "$ARCA" put blob0
check_rc "... a file blob too" 0
run "$ARCA" run --out out.bin -- ./stage.sh 0
check_rc "after freeing space run stores its result" 0
assert_contains "... and says so" "$ERR" "stored"
cp out.bin first.bin
rm -f out.bin
run "$ARCA" run --out out.bin -- ./stage.sh 0
check_rc "the next run hits" 0
assert_contains "... reported as a hit" "$ERR" "hit"
assert_eq "CMD was not run for the hit" 3 "$(runs)"
assert_files_eq "the hit restores the output" first.bin out.bin
run "$ARCA" verify
check_rc "the store verifies clean at the end" 0
check "and tmp/ is empty" test -z "$(ls -A "$ARCA_DIR/tmp")"

finish
