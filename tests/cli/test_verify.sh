#!/usr/bin/env bash
# arca verify: finds flipped bytes, quarantines them, and the affected
# action is recomputed by the next run.
. "${ARCA_TEST_LIB:-$(dirname "$0")/../lib.sh}" || exit 2

run "$ARCA" verify
check_rc "verify__empty_store_exit_0" 0
assert_eq "verify__empty_store_summary" "checked 0 blobs, 0 corrupt" "$OUT"

head -c 200000 /dev/urandom >big.in
STAGE=("$ARCA" run --stage copy --in big.in --out big.out -- sh -c 'echo run >>count; cp big.in big.out')
check "verify__setup_run" "${STAGE[@]}"
"$ARCA" put big.in >/dev/null
printf 'small\n' >small.txt
"$ARCA" put small.txt >/dev/null

run "$ARCA" verify
check_rc "verify__intact_exit_0" 0
assert_contains "verify__intact_summary" "$OUT" " 0 corrupt"
assert_not_contains "verify__intact_no_corrupt_lines" "$OUT" "corrupt:"

digest=$(sha256sum big.out | cut -d' ' -f1)
f=$(blob_file "$digest")
if [ -n "$f" ]; then pass "verify__output_blob_is_a_file"; else fail "verify__output_blob_is_a_file" "no blobs/ file for $digest"; fi
corrupt_file "$f"

run "$ARCA" verify
check_rc "verify__corrupt_exit_1" 1
assert_contains "verify__corrupt_line" "$OUT" "corrupt: $digest ("
assert_contains "verify__corrupt_quarantined" "$OUT" ") — quarantined"
assert_contains "verify__corrupt_summary" "$OUT" ", 1 corrupt"
if [ -e "$f" ]; then fail "verify__blob_file_moved" "$f still there"; else pass "verify__blob_file_moved"; fi
run "$ARCA" info --json
assert_eq "verify__quarantine_counted" 1 \
	"$(printf '%s' "$OUT" | python3 -c 'import json,sys; print(json.load(sys.stdin)["quarantined"])')"
run "$ARCA" ls --json
assert_eq "verify__action_removed" "[]" "$OUT"

run "$ARCA" verify
check_rc "verify__second_pass_clean_exit_0" 0

# The next run recomputes, and after that it hits again.
rm -f big.out
run "${STAGE[@]}"
check_rc "verify__rerun_exit_0" 0
assert_contains "verify__rerun_misses" "$ERR" "arca: miss copy"
assert_eq "verify__rerun_ran_command" 2 "$(wc -l <count | tr -d ' ')"
assert_files_eq "verify__rerun_output" big.in big.out
rm -f big.out
run "${STAGE[@]}"
assert_contains "verify__then_hits" "$ERR" "arca: hit copy"
assert_files_eq "verify__hit_output" big.in big.out

run "$ARCA" verify extra
check_rc "verify__extra_argument_exit_2" 2

finish
