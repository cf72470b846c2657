#!/usr/bin/env bash
# A damaged index.db: every command still works, says in one line what
# was done, and file blobs stay readable; verify reports index damage as
# such (issue 8). Also: get of a blob whose file was deleted by hand.
. "${ARCA_TEST_LIB:-$(dirname "$0")/../lib.sh}" || exit 2

head -c 300000 /dev/urandom >big1.in
head -c 200000 /dev/urandom >big2.in
printf 'small\n' >small.in
d1=$("$ARCA" put big1.in)
d2=$("$ARCA" put big2.in)
ds=$("$ARCA" put small.in)
check "index_damage__setup_run" "$ARCA" run --stage copy --in big1.in \
	--out out.bin -- cp big1.in out.bin

# (big1.in and the output out.bin are one blob: two blob files.)
# Garbage over index.db (SQLITE_NOTADB). A clean close checkpointed the
# WAL into index.db, so without it SQLite reads the garbage itself.
head -c 8192 /dev/urandom >"$ARCA_DIR/index.db"
rm -f "$ARCA_DIR/index.db-wal" "$ARCA_DIR/index.db-shm"
run "$ARCA" info
check_rc "index_damage__garbage_info_exit_0" 0
assert_contains "index_damage__garbage_one_line_warning" "$ERR" \
	"arca: warning: store $ARCA_DIR: index.db was damaged (file is not a database); moved to quarantine/index.db."
assert_contains "index_damage__garbage_warning_counts" "$ERR" \
	"rebuilt from 2 blob files; cached actions are lost"
assert_eq "index_damage__garbage_warning_is_one_line" 1 "$(wc -l <"$ERR_FILE" | tr -d ' ')"
n=$(ls "$ARCA_DIR"/quarantine/ | grep -c '^index\.db\.[0-9T]*$')
assert_eq "index_damage__garbage_index_kept_in_quarantine" 1 "$n"
run "$ARCA" get "$d1" -o got1
check_rc "index_damage__file_blob_still_readable" 0
assert_files_eq "index_damage__file_blob_bytes" big1.in got1
run "$ARCA" get "$ds"
check_rc "index_damage__inline_blob_is_a_miss" 3
run "$ARCA" verify
check_rc "index_damage__verify_after_repair_exit_0" 0
assert_not_contains "index_damage__no_phantom_reports" "$OUT" "corrupt:"
assert_contains "index_damage__verify_summary" "$OUT" "checked 2 blobs, 0 corrupt"
run "$ARCA" info
assert_not_contains "index_damage__repaired_once" "$ERR" "warning"
# The lost action is a miss and is recomputed.
rm -f out.bin
run "$ARCA" run --stage copy --in big1.in --out out.bin -- cp big1.in out.bin
check_rc "index_damage__run_after_repair_exit_0" 0
assert_contains "index_damage__run_after_repair_misses" "$ERR" "arca: miss copy"
assert_files_eq "index_damage__run_output" big1.in out.bin

# A flipped byte in a b-tree page that opening does not read: found by
# verify's PRAGMA integrity_check, exit 1, one line naming the store.
fresh_store
for i in $(seq 1 60); do printf 'inline blob %s\n' "$i" >"i$i.in"; "$ARCA" put "i$i.in" >/dev/null; done
d1=$("$ARCA" put big1.in)
rm -f "$ARCA_DIR/index.db-wal" "$ARCA_DIR/index.db-shm"
# The fullest leaf page of an index (type 0x0a): the blobs' digest index.
off=$(python3 - "$ARCA_DIR/index.db" <<'PY'
import sys
b = open(sys.argv[1], 'rb').read()
ps = int.from_bytes(b[16:18], 'big') or 65536
best, off = 0, -1
for p in range(1, len(b) // ps):
    pg = b[p * ps:(p + 1) * ps]
    cells = int.from_bytes(pg[3:5], 'big')
    if pg[0] == 0x0a and cells > best:
        best, off = cells, (p + 1) * ps - 1
print(off)
PY
)
corrupt_file "$ARCA_DIR/index.db" "$off"
run "$ARCA" get "$d1" -o got1
check_rc "index_damage__btree_flip_get_still_works" 0
run "$ARCA" verify
check_rc "index_damage__btree_flip_verify_exit_1" 1
assert_contains "index_damage__btree_flip_verify_warning" "$ERR" \
	"arca: warning: store $ARCA_DIR: index.db was damaged (integrity_check: "
assert_contains "index_damage__btree_flip_summary" "$OUT" ", 0 corrupt, index rebuilt"
assert_not_contains "index_damage__btree_flip_no_phantom" "$OUT" "corrupt:"
run "$ARCA" verify
check_rc "index_damage__btree_flip_second_verify_exit_0" 0
run "$ARCA" get "$d1" -o got1
check_rc "index_damage__btree_flip_file_blob_readable" 0
assert_files_eq "index_damage__btree_flip_file_blob_bytes" big1.in got1

# Index rows that disagree with intact bytes (a damaged size, a flipped
# inline flag) are corrected, never reported corrupt or quarantined.
fresh_store
d2=$("$ARCA" put big2.in)
ds=$("$ARCA" put small.in)
python3 - "$ARCA_DIR/index.db" "$d2" "$ds" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("UPDATE blobs SET size = size + 1 WHERE digest = ?", (bytes.fromhex(sys.argv[2]),))
db.execute("UPDATE blobs SET inline = 0 WHERE digest = ?", (bytes.fromhex(sys.argv[3]),))
db.commit()
PY
run "$ARCA" verify
check_rc "index_damage__bad_rows_verify_exit_0" 0
assert_not_contains "index_damage__bad_rows_no_phantom" "$OUT" "corrupt:"
run "$ARCA" get "$d2" -o got2
check_rc "index_damage__bad_size_row_readable" 0
assert_files_eq "index_damage__bad_size_row_bytes" big2.in got2
run "$ARCA" get "$ds"
check_rc "index_damage__bad_inline_flag_readable" 0
assert_eq "index_damage__bad_inline_flag_bytes" small "$OUT"
run "$ARCA" info --json
assert_eq "index_damage__bad_size_row_corrected" $((200000 + 6)) \
	"$(printf '%s' "$OUT" | python3 -c 'import json,sys; print(json.load(sys.stdin)["bytes_total"])')"

# A blob file deleted by hand: get says it was missing from disk (not
# corrupt), exits 3, and drops the index entry.
fresh_store
d2=$("$ARCA" put big2.in)
rm -f "$ARCA_DIR/blobs/${d2:0:2}/$d2"
run "$ARCA" get "$d2"
check_rc "index_damage__deleted_file_get_exit_3" 3
assert_contains "index_damage__deleted_file_says_missing" "$ERR" "missing from disk"
assert_not_contains "index_damage__deleted_file_not_corrupt" "$ERR" "corrupt"
run "$ARCA" info --json
assert_eq "index_damage__deleted_file_row_dropped" 0 \
	"$(printf '%s' "$OUT" | python3 -c 'import json,sys; print(json.load(sys.stdin)["blobs"])')"

finish
