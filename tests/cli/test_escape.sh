#!/usr/bin/env bash
# Control bytes in names (stage names, paths, the store's location) are
# printed as C-style escapes (cli_esc in src/cli/common.c): \x1b, \n, \t,
# \\. A name can neither drive the terminal nor forge a line of output.
. "${ARCA_TEST_LIB:-$(dirname "$0")/../lib.sh}" || exit 2

ESC=$'\x1b'
NAME=$'a\x1bb\nc\td'
WANT='a\x1bb\nc\td'
has_control() { LC_ALL=C grep -q "$ESC" "$1" || [ "$(wc -l <"$1")" -ne "$2" ]; }

run "$ARCA" run --stage "$NAME" --tag $'t\x1bx' --out o.txt -- sh -c 'echo o >o.txt'
check_rc "escape__run_exit_0" 0
run "$ARCA" ls
check_rc "escape__ls_exit_0" 0
assert_contains "escape__ls_shows_escaped_name" "$OUT" "$WANT"
if has_control "$OUT_FILE" 2; then
	fail "escape__ls_no_raw_control_bytes" "$(od -c "$OUT_FILE" | head -5)"
else
	pass "escape__ls_no_raw_control_bytes"
fi
# Columns line up on the escaped width.
hdr=$(head -1 "$OUT_FILE" | awk '{ print index($0, "SIZE") }')
row=$(sed -n 2p "$OUT_FILE" | awk -v w="$WANT" '{ print index($0, w) + length(w) }')
if [ "$hdr" -gt "$row" ]; then pass "escape__ls_columns_fit"; else fail "escape__ls_columns_fit" "$OUT"; fi
# JSON keeps the name itself (JSON has its own escapes).
run "$ARCA" ls --json
assert_contains "escape__ls_json_raw_name" "$OUT" '"a\u001Bb\nc\td"'

run "$ARCA" stats
check_rc "escape__stats_exit_0" 0
assert_contains "escape__stats_shows_escaped_name" "$OUT" "$WANT"
n=$(wc -l <"$OUT_FILE")
if LC_ALL=C grep -q "$ESC" "$OUT_FILE"; then
	fail "escape__stats_no_raw_escape" "$OUT"
else
	pass "escape__stats_no_raw_escape"
fi
assert_eq "escape__stats_three_lines" 3 "$n"

# Messages on stderr stay one line.
run "$ARCA" put $'no\nsuch\x1bfile'
check_rc "escape__put_missing_exit_3" 3
assert_contains "escape__put_error_escaped" "$ERR" 'no\nsuch\x1bfile'
if has_control "$ERR_FILE" 1; then fail "escape__put_error_one_line" "$ERR"; else pass "escape__put_error_one_line"; fi
run "$ARCA" clear --input $'in\x1bput'
assert_contains "escape__clear_input_escaped" "$ERR" 'in\x1bput'
if has_control "$ERR_FILE" 1; then fail "escape__clear_error_one_line" "$ERR"; else pass "escape__clear_error_one_line"; fi
run "$ARCA" rm $'ab\ncd'
if has_control "$ERR_FILE" 1; then fail "escape__rm_error_one_line" "$ERR"; else pass "escape__rm_error_one_line"; fi
run "$ARCA" get -o $'x\x1b/y' 0000000000000000000000000000000000000000000000000000000000000000
if has_control "$ERR_FILE" 1; then fail "escape__get_error_one_line" "$ERR"; else pass "escape__get_error_one_line"; fi

# The store's location, as info prints it.
export ARCA_DIR="$TEST_TMP/st"$'\x1b'"ore"
run "$ARCA" info
check_rc "escape__info_exit_0" 0
assert_contains "escape__info_location_escaped" "$OUT" 'st\x1bore'
if LC_ALL=C grep -q "$ESC" "$OUT_FILE"; then fail "escape__info_no_raw_escape" "$OUT"; else pass "escape__info_no_raw_escape"; fi

finish
