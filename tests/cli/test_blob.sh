#!/usr/bin/env bash
# arca put / arca get: round trips, unknown and corrupt blobs.
. "${ARCA_TEST_LIB:-$(dirname "$0")/../lib.sh}" || exit 2

printf 'small blob\n' >small.txt
: >empty.txt
head -c 150000 /dev/urandom >big.bin   # > 100 KiB: stored as a file

for f in small.txt empty.txt big.bin; do
	run "$ARCA" put "$f"
	check_rc "blob__put_${f}_exit_0" 0
	want=$(sha256sum "$f" | cut -d' ' -f1)
	assert_eq "blob__put_${f}_prints_sha256" "$want" "$OUT"
	d=$OUT

	"$ARCA" get "$d" >"got.$f" 2>"$ERR_FILE"
	assert_eq "blob__get_${f}_stdout_exit_0" 0 "$?"
	assert_files_eq "blob__get_${f}_stdout_roundtrip" "$f" "got.$f"

	run "$ARCA" get "$d" -o "file.$f"
	check_rc "blob__get_${f}_o_exit_0" 0
	assert_files_eq "blob__get_${f}_o_roundtrip" "$f" "file.$f"
done

big=$(sha256sum big.bin | cut -d' ' -f1)
# -o onto what is not a regular file: a device or a FIFO is written into
# (as `> PATH` would), never replaced by a rename (as root, -o /dev/null
# once replaced the system's /dev/null with a regular file); a directory
# is refused and left as it was.
if [ "$(id -u)" = 0 ] && mknod "$TEST_TMP/null" c 1 3 2>/dev/null; then
	run "$ARCA" get "$big" -o "$TEST_TMP/null"
	check_rc "blob__get_o_device_exit_0" 0
	assert_eq "blob__get_o_device_still_a_device" 1 \
		"$([ -c "$TEST_TMP/null" ] && echo 1)"
else
	echo "ok - blob__get_o_device__skipped (not root: cannot mknod)"
fi
mkfifo "$TEST_TMP/fifo"
cat "$TEST_TMP/fifo" >from_fifo.bin &
run timeout 20 "$ARCA" get "$big" -o "$TEST_TMP/fifo"
wait
check_rc "blob__get_o_fifo_exit_0" 0
assert_eq "blob__get_o_fifo_still_a_fifo" 1 "$([ -p "$TEST_TMP/fifo" ] && echo 1)"
assert_files_eq "blob__get_o_fifo_bytes" big.bin from_fifo.bin
mkdir -p adir
run "$ARCA" get "$big" -o adir
check_rc "blob__get_o_directory_exit_2" 2
assert_contains "blob__get_o_directory_named" "$(cat "$ERR_FILE")" "adir: not a regular file"
assert_eq "blob__get_o_directory_left" 1 "$([ -d adir ] && echo 1)"

if [ -n "$(blob_file "$big")" ]; then pass "blob__big_is_a_file"; else fail "blob__big_is_a_file" "no blobs/ file"; fi
small=$(sha256sum small.txt | cut -d' ' -f1)
if [ -z "$(blob_file "$small")" ]; then pass "blob__small_is_inline"; else fail "blob__small_is_inline" "found a blobs/ file"; fi

# Putting the same content twice stores it once.
run "$ARCA" info --json
n1=$(printf '%s' "$OUT" | python3 -c 'import json,sys; print(json.load(sys.stdin)["blobs"])')
run "$ARCA" put big.bin
run "$ARCA" info --json
n2=$(printf '%s' "$OUT" | python3 -c 'import json,sys; print(json.load(sys.stdin)["blobs"])')
assert_eq "blob__put_dedup" "$n1" "$n2"

# Several files: one digest per line, in order.
run "$ARCA" put small.txt big.bin
assert_eq "blob__put_several" "$(printf '%s\n%s' "$small" "$big")" "$OUT"

# ---- errors -------------------------------------------------------------------
unknown=$(printf 'not stored' | sha256sum | cut -d' ' -f1)
run "$ARCA" get "$unknown"
check_rc "blob__get_unknown_exit_3" 3
assert_eq "blob__get_unknown_no_stdout" 0 "$(wc -c <"$OUT_FILE" | tr -d ' ')"
assert_contains "blob__get_unknown_message" "$ERR" "arca: blob ${unknown:0:12}…: not found"
run "$ARCA" get "$unknown" -o nothing.out
check_rc "blob__get_unknown_o_exit_3" 3
if [ -e nothing.out ]; then fail "blob__get_unknown_o_no_file" "file created"; else pass "blob__get_unknown_o_no_file"; fi

run "$ARCA" get 3f2a
check_rc "blob__get_prefix_rejected_exit_2" 2
run "$ARCA" get zz"${unknown:2}"
check_rc "blob__get_not_hex_exit_2" 2
run "$ARCA" get
check_rc "blob__get_no_digest_exit_2" 2
run "$ARCA" put no-such-file
check_rc "blob__put_missing_file_exit_3" 3
assert_contains "blob__put_missing_file_message" "$ERR" "arca: no-such-file:"
# One bad FILE among good ones stores nothing.
fresh_store
printf 'never stored\n' >good.txt
run "$ARCA" put good.txt no-such-file
check_rc "blob__put_mixed_exit_3" 3
assert_eq "blob__put_mixed_no_stdout" "" "$OUT"
run "$ARCA" get "$(sha256sum good.txt | cut -d' ' -f1)"
check_rc "blob__put_mixed_stored_nothing" 3
"$ARCA" put big.bin >/dev/null
mkdir -p adir
run "$ARCA" put adir
check_rc "blob__put_directory_exit_2" 2
run "$ARCA" put
check_rc "blob__put_no_file_exit_2" 2

# ---- a corrupt file blob: nothing written, exit 4, quarantined --------------------
f=$(blob_file "$big")
corrupt_file "$f"
run "$ARCA" get "$big"
check_rc "blob__get_corrupt_exit_4" 4
assert_eq "blob__get_corrupt_writes_0_bytes" 0 "$(wc -c <"$OUT_FILE" | tr -d ' ')"
assert_contains "blob__get_corrupt_message" "$ERR" "arca: blob ${big:0:12}…: corrupt (quarantined)"
run "$ARCA" info --json
q=$(printf '%s' "$OUT" | python3 -c 'import json,sys; print(json.load(sys.stdin)["quarantined"])')
assert_eq "blob__get_corrupt_quarantined" 1 "$q"
run "$ARCA" get "$big"
check_rc "blob__get_after_quarantine_not_found_3" 3

# Same with -o: the destination is left untouched.
"$ARCA" put big.bin >/dev/null
corrupt_file "$(blob_file "$big")" 1000
echo "precious" >dest.bin
run "$ARCA" get "$big" -o dest.bin
check_rc "blob__get_o_corrupt_exit_4" 4
assert_eq "blob__get_o_corrupt_leaves_dest" "precious" "$(cat dest.bin)"
assert_eq "blob__get_o_corrupt_no_temp_left" "" "$(ls -A | grep -F 'dest.bin.' || true)"

# Through a pipe too: not a byte reaches the reader.
"$ARCA" put big.bin >/dev/null
corrupt_file "$(blob_file "$big")" 140000
n=$("$ARCA" get "$big" 2>/dev/null | wc -c | tr -d ' ')
assert_eq "blob__get_corrupt_pipe_0_bytes" 0 "$n"

# ARCA_INLINE_THRESHOLD moves the inline/file boundary; a bad value is refused.
head -c 64 /dev/urandom >sixty-four.bin
head -c 65 /dev/urandom >sixty-five.bin
for f in sixty-four.bin sixty-five.bin; do
	ARCA_INLINE_THRESHOLD=64 "$ARCA" put "$f" >/dev/null 2>"$ERR_FILE"
	assert_eq "blob__threshold_put_${f}_exit_0" 0 "$?"
done
d64=$(sha256sum sixty-four.bin | cut -d' ' -f1)
d65=$(sha256sum sixty-five.bin | cut -d' ' -f1)
if [ -z "$(blob_file "$d64")" ]; then pass "blob__threshold_64_inline"; else fail "blob__threshold_64_inline" "found a blobs/ file"; fi
if [ -n "$(blob_file "$d65")" ]; then pass "blob__threshold_65_file"; else fail "blob__threshold_65_file" "no blobs/ file"; fi
ARCA_INLINE_THRESHOLD=lots "$ARCA" put small.txt >/dev/null 2>"$ERR_FILE"
rc=$?
# A bad setting is a usage error for any command (docs/cli.md, Configuration).
assert_eq "blob__threshold_bad_value_fails" 2 "$rc"
assert_contains "blob__threshold_bad_value_named" "$(cat "$ERR_FILE")" "ARCA_INLINE_THRESHOLD='lots'"

finish
