#!/usr/bin/env bash
# arca run: what enters the action key, and secrets never reaching the store.
. "${ARCA_TEST_LIB:-$(dirname "$0")/../lib.sh}" || exit 2

echo "first content" >in.txt

# The key8 printed by the last run's miss/hit/refresh line.
key_of() {
	printf '%s\n' "$ERR" | sed -n 's/^arca: \(miss\|hit\|refresh\) [^ ]* \([0-9a-f]\{8\}\)\( .*\)\{0,1\}$/\2/p' | head -1
}
# "hit" or "miss" for the last run.
outcome() {
	case "$ERR" in
	*"arca: hit "*) echo hit ;;
	*"arca: miss "*) echo miss ;;
	*) echo "none: $ERR" ;;
	esac
}

base() {
	run "$ARCA" run --stage k --in in.txt --param a=1 --param b=2 \
		--env ARCA_TEST_VAR --tool-version v1 "$@" -- sh -c 'cat in.txt >/dev/null'
}

export ARCA_TEST_VAR=one
base
check_rc "keys__base_miss_exit_0" 0
assert_eq "keys__base_miss" miss "$(outcome)"
k0=$(key_of)
base
assert_eq "keys__same_action_hits" hit "$(outcome)"
assert_eq "keys__same_action_same_key" "$k0" "$(key_of)"

# Reordering --param flags is the same action.
run "$ARCA" run --stage k --in in.txt --param b=2 --param a=1 \
	--env ARCA_TEST_VAR --tool-version v1 -- sh -c 'cat in.txt >/dev/null'
assert_eq "keys__param_order_irrelevant" hit "$(outcome)"
assert_eq "keys__param_order_same_key" "$k0" "$(key_of)"

# A changed parameter value.
run "$ARCA" run --stage k --in in.txt --param a=1 --param b=3 \
	--env ARCA_TEST_VAR --tool-version v1 -- sh -c 'cat in.txt >/dev/null'
assert_eq "keys__param_value_misses" miss "$(outcome)"
k_param=$(key_of)
assert_not_contains "keys__param_value_new_key" "$k0" "$k_param"

# A changed environment value, and an unset variable.
ARCA_TEST_VAR=two base
assert_eq "keys__env_value_misses" miss "$(outcome)"
k_env=$(key_of)
(unset ARCA_TEST_VAR; base; echo "$ERR" >"$TEST_TMP/unset.err")
case "$(cat "$TEST_TMP/unset.err")" in
*"arca: miss "*) pass "keys__env_unset_misses" ;;
*) fail "keys__env_unset_misses" "$(cat "$TEST_TMP/unset.err")" ;;
esac
ARCA_TEST_VAR= base
assert_eq "keys__env_empty_differs_from_unset" miss "$(outcome)"

# A changed tool version.
base_v2() {
	run "$ARCA" run --stage k --in in.txt --param a=1 --param b=2 \
		--env ARCA_TEST_VAR --tool-version v2 -- sh -c 'cat in.txt >/dev/null'
}
base_v2
assert_eq "keys__tool_version_misses" miss "$(outcome)"

# A changed input content (same name).
echo "second content" >in.txt
base
assert_eq "keys__input_content_misses" miss "$(outcome)"
k_in=$(key_of)
echo "first content" >in.txt
base
assert_eq "keys__input_content_back_hits" hit "$(outcome)"
assert_eq "keys__input_content_back_same_key" "$k0" "$(key_of)"

# A changed argv and stage.
run "$ARCA" run --stage k --in in.txt --param a=1 --param b=2 \
	--env ARCA_TEST_VAR --tool-version v1 -- sh -c 'cat  in.txt >/dev/null'
assert_eq "keys__argv_misses" miss "$(outcome)"
run "$ARCA" run --stage k2 --in in.txt --param a=1 --param b=2 \
	--env ARCA_TEST_VAR --tool-version v1 -- sh -c 'cat in.txt >/dev/null'
assert_eq "keys__stage_misses" miss "$(outcome)"

# Keys are all different.
n=$(printf '%s\n' "$k0" "$k_param" "$k_env" "$k_in" | sort -u | wc -l | tr -d ' ')
assert_eq "keys__distinct_keys" 4 "$n"

# Without --tool-version the executable's content is the tool identity.
mkdir -p bin
printf '#!/bin/sh\necho v1 >/dev/null\n' >bin/tool
chmod +x bin/tool
PATH="$PWD/bin:$PATH" run "$ARCA" run --stage t -- tool
assert_eq "keys__tool_digest_first_miss" miss "$(outcome)"
PATH="$PWD/bin:$PATH" run "$ARCA" run --stage t -- tool
assert_eq "keys__tool_digest_same_hits" hit "$(outcome)"
printf '#!/bin/sh\necho v2 >/dev/null\n' >bin/tool
PATH="$PWD/bin:$PATH" run "$ARCA" run --stage t -- tool
assert_eq "keys__tool_digest_changed_misses" miss "$(outcome)"

# ---- malformed parameters ---------------------------------------------------
fresh_store
rm -f ran
run "$ARCA" run --param novalue -- sh -c 'echo ran >ran'
check_rc "keys__param_without_equals_125" 125
assert_contains "keys__param_without_equals_names_it" "$ERR" "'novalue'"
run "$ARCA" run --param =v -- sh -c 'echo ran >ran'
check_rc "keys__param_empty_name_125" 125
run "$ARCA" run --param a=1 --param a=2 -- sh -c 'echo ran >ran'
check_rc "keys__param_duplicate_125" 125
run "$ARCA" run --env 'A=B' -- sh -c 'echo ran >ran'
check_rc "keys__env_malformed_125" 125
if [ -e ran ]; then fail "keys__bad_params_do_not_run" "command ran"; else pass "keys__bad_params_do_not_run"; fi

# ---- missing --in file ---------------------------------------------------------
run "$ARCA" run --in missing.wav -- sh -c 'echo ran >ran'
check_rc "keys__missing_input_125" 125
assert_eq "keys__missing_input_message" "arca: input 'missing.wav': No such file or directory" "$ERR"
if [ -e ran ]; then fail "keys__missing_input_does_not_run" "command ran"; else pass "keys__missing_input_does_not_run"; fi
run "$ARCA" ls --json
assert_eq "keys__missing_input_store_unchanged" "[]" "$OUT"

# ---- secret parameters ------------------------------------------------------------
fresh_store
SECRET="s3cr3t-T0ken-$$-xyzzy"
run "$ARCA" run --stage sec --secret-param token="$SECRET" --out sec.out -- sh -c 'echo done >sec.out'
check_rc "secret__run_exit_0" 0
assert_not_contains "secret__not_on_stderr" "$ERR" "$SECRET"
run "$ARCA" run --stage sec --secret-param token="$SECRET" --out sec.out -- sh -c 'echo done >sec.out'
assert_eq "secret__same_secret_hits" hit "$(outcome)"
run "$ARCA" run --stage sec --secret-param token="other-$SECRET" --out sec.out -- sh -c 'echo done >sec.out'
assert_eq "secret__other_secret_misses" miss "$(outcome)"
run "$ARCA" run --stage sec --secret-param "$SECRET" -- true
check_rc "secret__malformed_125" 125
assert_not_contains "secret__malformed_not_echoed" "$ERR" "$SECRET"
if grep -r -a -F -l -e "$SECRET" "$ARCA_DIR" >/dev/null 2>&1; then
	fail "secret__not_in_any_store_file" "$(grep -r -a -F -l -e "$SECRET" "$ARCA_DIR")"
else
	pass "secret__not_in_any_store_file"
fi
# index.db (and its WAL) are among those files; check them by name too.
found=0
for f in "$ARCA_DIR"/index.db*; do
	[ -f "$f" ] || continue
	grep -a -F -q -e "$SECRET" "$f" && found=1
done
assert_eq "secret__not_in_index_db" 0 "$found"
# The secret's name is kept.
if grep -r -a -F -q -e "token" "$ARCA_DIR"; then pass "secret__name_kept"; else fail "secret__name_kept" "name 'token' not found in the store"; fi
run "$ARCA" ls --json
assert_not_contains "secret__not_in_ls_json" "$OUT" "$SECRET"
run "$ARCA" info --json
assert_not_contains "secret__not_in_info_json" "$OUT" "$SECRET"
run "$ARCA" stats --json
assert_not_contains "secret__not_in_stats_json" "$OUT" "$SECRET"

finish
