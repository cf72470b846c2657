#!/bin/bash
# A flipped byte in a stage's cached output (a file blob or an inline blob)
# or in its manifest: the next `arca run` notices, recomputes (counted by
# real executions), hands over the right bytes, and the run after hits.
. "${ARCA_TEST_LIB:-$(dirname "$0")/../lib.sh}" || exit 2

# Flip one byte of an inline blob (or manifest) inside index.db.
flip_inline() {
	python3 - "$ARCA_DIR/index.db" "$1" <<'EOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
d = bytes.fromhex(sys.argv[2])
(data,) = db.execute("SELECT data FROM blobs WHERE digest = ? AND inline = 1",
                     (d,)).fetchone()
data = bytearray(data)
data[len(data) // 2] ^= 0x20
db.execute("UPDATE blobs SET data = ? WHERE digest = ?", (bytes(data), d))
db.commit()
EOF
}

manifest_of_only_action() {
	python3 - "$ARCA_DIR/index.db" <<'EOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
rows = db.execute("SELECT hex(manifest) FROM actions").fetchall()
assert len(rows) == 1, rows
print(rows[0][0].lower())
EOF
}

cat >stage.sh <<'EOF'
#!/bin/sh
echo x >>runs
python3 -c 'import sys; sys.stdout.buffer.write(bytes(range(256)) * 1024)' >big.out
echo "small output" >small.out
echo "stage ran"
EOF
chmod +x stage.sh
python3 -c 'import sys; sys.stdout.buffer.write(bytes(range(256)) * 1024)' >big.want
echo "small output" >small.want
runs() { if [ -f runs ]; then wc -l <runs | tr -d ' '; else echo 0; fi; }

stage() {
	rm -f big.out small.out
	run "$ARCA" run --stage corrupt --out big.out --out small.out -- ./stage.sh
}

# Each case: a fresh store, a run that stores, a flip, then a recompute.
for what in file inline manifest; do
	fresh_store
	rm -f runs
	stage
	check_rc "corruption__${what}_first_run" 0
	case $what in
	file)
		f=$(blob_file "$(sha256sum big.want | cut -c1-64)")
		chmod u+w "$f" && corrupt_file "$f"
		;;
	inline)
		flip_inline "$(sha256sum small.want | cut -c1-64)"
		;;
	manifest)
		flip_inline "$(manifest_of_only_action)"
		;;
	esac
	stage
	check_rc "corruption__${what}_rerun_exit_0" 0
	assert_eq "corruption__${what}_recomputed" 2 "$(runs)"
	assert_files_eq "corruption__${what}_big_output_right" big.want big.out
	assert_files_eq "corruption__${what}_small_output_right" small.want small.out
	case $what in
	manifest) ;; # a corrupt manifest is a plain miss
	*) assert_contains "corruption__${what}_says_corrupt" "$ERR" "corrupt" ;;
	esac
	stage
	check_rc "corruption__${what}_third_run_exit_0" 0
	assert_contains "corruption__${what}_third_run_hits" "$ERR" "hit"
	assert_eq "corruption__${what}_not_run_again" 2 "$(runs)"
	assert_files_eq "corruption__${what}_hit_output_right" big.want big.out
	check "corruption__${what}_quarantined" \
		test -n "$(ls -A "$ARCA_DIR/quarantine")"
	run "$ARCA" verify
	check_rc "corruption__${what}_verify_clean_after" 0
done

finish
