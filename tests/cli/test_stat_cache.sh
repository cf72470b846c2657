#!/usr/bin/env bash
# The stat cache from the command line (docs/store.md, "Stat cache"): a hit
# whose input is unchanged does not open it; --rehash and
# ARCA_NO_STAT_CACHE=1 read it; a same-size rewrite is seen; clear --input
# and status take --rehash. "Opened" is what strace(1) sees.
. "${ARCA_TEST_LIB:-$(dirname "$0")/../lib.sh}" || exit 2

# The clock ahead of the files' times, so that entries are not racy
# (libarca reads ARCA_TEST_NOW), without sleeping.
ARCA_TEST_NOW=$(($(date +%s) + 100))
export ARCA_TEST_NOW

head -c 300000 /dev/urandom >big.bin
arca_run() { run timeout 60 "$ARCA" run --stage copy --in big.bin \
	--out out.bin "$@" -- cp big.bin out.bin; }

arca_run
check_rc "first run" 0
assert_contains "first run is a miss" "$ERR" "miss copy"
rows=$(sqlite3 "$ARCA_DIR/index.db" "SELECT count(*) FROM stat_cache" 2>/dev/null || echo none)
# The clock is ahead: the output just stored is not racy either.
assert_eq "input, tool and output recorded" "3" "$rows"

# opened_in CMD...: 1 when the traced CMD opened big.bin, else 0.
opened_in() {
	strace -f -qq -e trace=open,openat -o "$TEST_TMP/trace" "$@" \
		>/dev/null 2>"$TEST_TMP/trace.err"
	if grep -q 'big\.bin"' "$TEST_TMP/trace"; then echo 1; else echo 0; fi
}
run_cmd=("$ARCA" run --stage copy --in big.bin --out out.bin -- cp big.bin out.bin)
if command -v strace >/dev/null 2>&1 && strace -qq -o /dev/null true 2>/dev/null; then
	assert_eq "a hit does not open the unchanged input" 0 "$(opened_in "${run_cmd[@]}")"
	assert_eq "--rehash opens it" 1 "$(opened_in "$ARCA" run --rehash \
		--stage copy --in big.bin --out out.bin -- cp big.bin out.bin)"
	assert_eq "ARCA_NO_STAT_CACHE=1 opens it" 1 "$(ARCA_NO_STAT_CACHE=1 \
		opened_in "${run_cmd[@]}")"
	assert_eq "ARCA_NO_STAT_CACHE=0 is on" 0 "$(ARCA_NO_STAT_CACHE=0 \
		opened_in "${run_cmd[@]}")"
else
	echo "skip - strace cannot trace here"
fi

arca_run
assert_contains "unchanged input hits" "$ERR" "hit copy"
# A rewrite of the same size in the same second: other bytes, a miss.
head -c 300000 /dev/urandom >big.bin
arca_run
assert_contains "same-size rewrite is a miss" "$ERR" "miss copy"
assert_files_eq "output is of the new input" big.bin out.bin
# A touched file with the same bytes: read again, same digest, a hit.
touch -d '@'"$(($(date +%s) - 30))" big.bin
arca_run
assert_contains "touched input hits" "$ERR" "hit copy"

run "$ARCA" clear --rehash --input big.bin
check_rc "clear --rehash --input" 0
assert_contains "clear --input found the entry" "$OUT" "removed 1 entry"
run "$ARCA" clear --input no-such-file
check_rc "clear --input of a missing file" 3

cat >arca.yaml <<'YAML'
stages:
  copy:
    cmd: cp big.bin out.bin
    deps: [big.bin]
    outs: [out.bin]
YAML
run timeout 60 "$ARCA" repro
check_rc "repro" 0
run timeout 60 "$ARCA" status --rehash
check_rc "status --rehash" 0
assert_contains "status after repro" "$OUT" "copy: up to date"
run "$ARCA" run --help
assert_contains "run --help names --rehash" "$OUT" "--rehash"

finish
