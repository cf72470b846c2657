#!/usr/bin/env bash
# The arca front end: help, version, dispatch, usage errors, the store
# location, and an unusable store.
. "${ARCA_TEST_LIB:-$(dirname "$0")/../lib.sh}" || exit 2

run "$ARCA" --version
check_rc "cli__version_exit_0" 0
assert_eq "cli__version" "arca 0.1.0" "$OUT"

run "$ARCA" --help
check_rc "cli__help_exit_0" 0
for cmd in run put get ls info stats rm clear verify; do
	assert_contains "cli__help_lists_$cmd" "$OUT" "  $cmd "
done
assert_contains "cli__help_exit_codes" "$OUT" "Exit codes:"
assert_contains "cli__help_exit_125" "$OUT" "125"

for cmd in run put get ls info stats rm clear verify; do
	run "$ARCA" help $cmd
	check_rc "cli__help_${cmd}_exit_0" 0
	assert_contains "cli__help_${cmd}_usage" "$OUT" "Usage: arca $cmd"
	help_text=$OUT
	run "$ARCA" $cmd --help
	assert_eq "cli__${cmd}_dash_help_same" "$help_text" "$OUT"
done

run "$ARCA" help nosuch
check_rc "cli__help_unknown_exit_2" 2

run "$ARCA"
check_rc "cli__no_command_exit_2" 2

run "$ARCA" frobnicate
check_rc "cli__unknown_command_exit_127" 127
assert_contains "cli__unknown_command_message" "$ERR" "arca: 'frobnicate' is not an arca command"

run "$ARCA" --bogus ls
check_rc "cli__unknown_global_option_exit_2" 2
assert_contains "cli__unknown_global_option_message" "$ERR" "arca: unknown option '--bogus'"
run "$ARCA" ls --bogus
check_rc "cli__unknown_command_option_exit_2" 2
assert_contains "cli__unknown_command_option_message" "$ERR" "arca: ls: unknown option '--bogus'"
run "$ARCA" --store
check_rc "cli__store_missing_argument_exit_2" 2
run "$ARCA" get -o
check_rc "cli__get_o_missing_argument_exit_2" 2
assert_contains "cli__missing_argument_message" "$ERR" "requires an argument"

# Bad input: exactly one line on stderr, nothing on stdout.
for args in "frobnicate" "--bogus ls" "ls --bogus" "get -o" "get 12" "clear" \
	"rm" "run --param x -- true" "run --in missing.wav -- true" "run nosuchcmd-arca"; do
	set -- $args
	run "$ARCA" "$@"
	assert_eq "cli__one_line_error [$args]" 1 "$(printf '%s\n' "$ERR" | wc -l | tr -d ' ')"
	assert_eq "cli__no_stdout_on_error [$args]" "" "$OUT"
	assert_eq "cli__error_prefix [$args]" "arca: " "${ERR:0:6}"
done

# ---- where the store is -------------------------------------------------------
run "$ARCA" info --json
assert_contains "cli__store_from_ARCA_DIR" "$OUT" "\"location\": \"$ARCA_DIR\""
if [ -f "$ARCA_DIR/index.db" ]; then pass "cli__store_created_on_first_use"; else fail "cli__store_created_on_first_use" "no $ARCA_DIR/index.db"; fi
run "$ARCA" --store "$TEST_TMP/s-global" info --json
assert_contains "cli__store_global_option" "$OUT" "\"location\": \"$TEST_TMP/s-global\""
run "$ARCA" info --store "$TEST_TMP/s-local" --json
assert_contains "cli__store_command_option" "$OUT" "\"location\": \"$TEST_TMP/s-local\""
run "$ARCA" --store "$TEST_TMP/s-global" info --store "$TEST_TMP/s-local" --json
assert_contains "cli__store_command_option_wins" "$OUT" "\"location\": \"$TEST_TMP/s-local\""
(
	unset ARCA_DIR
	export XDG_CACHE_HOME="$TEST_TMP/xdg"
	"$ARCA" info --json >"$TEST_TMP/xdg.out" 2>&1
)
assert_contains "cli__store_xdg_default" "$(cat "$TEST_TMP/xdg.out")" "\"location\": \"$TEST_TMP/xdg/arca\""
(
	unset ARCA_DIR XDG_CACHE_HOME
	export HOME="$TEST_TMP/home"
	mkdir -p "$HOME"
	"$ARCA" info --json >"$TEST_TMP/home.out" 2>&1
)
assert_contains "cli__store_home_default" "$(cat "$TEST_TMP/home.out")" "\"location\": \"$TEST_TMP/home/.cache/arca\""

# ---- an unusable store: a path under a regular file -----------------------------
# (Tests may run as root, where permission bits do not block writes.)
echo "not a directory" >"$TEST_TMP/plainfile"
bad="$TEST_TMP/plainfile/store"
printf 'x' >one.txt
for cmd in "put one.txt" "ls" "info" "stats" "verify" "clear --all" "rm abcd"; do
	set -- $cmd
	name=$1
	run "$ARCA" --store "$bad" "$@"
	check_rc "cli__unusable_store_${name}_exit_5" 5
	assert_eq "cli__unusable_store_${name}_one_line" 1 "$(printf '%s\n' "$ERR" | wc -l | tr -d ' ')"
	assert_contains "cli__unusable_store_${name}_message" "$ERR" "arca: store $bad"
done
d=$(sha256sum one.txt | cut -d' ' -f1)
run "$ARCA" --store "$bad" get "$d"
check_rc "cli__unusable_store_get_exit_5" 5
rm -f ran
run "$ARCA" run --store "$bad" -- sh -c 'echo ran >ran'
check_rc "cli__unusable_store_run_exit_125" 125
assert_eq "cli__unusable_store_run_one_line" 1 "$(printf '%s\n' "$ERR" | wc -l | tr -d ' ')"
if [ -e ran ]; then fail "cli__unusable_store_run_not_run" "command ran"; else pass "cli__unusable_store_run_not_run"; fi
if [ -f "$TEST_TMP/plainfile" ] && [ "$(cat "$TEST_TMP/plainfile")" = "not a directory" ]; then
	pass "cli__unusable_store_file_untouched"
else
	fail "cli__unusable_store_file_untouched" "plainfile changed"
fi

# --no-cache never opens the store.
run "$ARCA" run --no-cache --store "$bad" -- sh -c 'echo ran >ran'
check_rc "cli__no_cache_without_store_exit_0" 0

finish
