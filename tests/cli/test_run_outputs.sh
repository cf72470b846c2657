#!/usr/bin/env bash
# arca run can never cache a wrong result: stale outputs are removed
# before a miss, concurrent runs writing the same output never interleave,
# undeclared stdin is not cached (--stdin-in keys it), a missing output is
# exit 124, outputs stay in the working directory, directories and
# symlinks are reported as such, control bytes in names are escaped.
. "${ARCA_TEST_LIB:-$(dirname "$0")/../lib.sh}" || exit 2

stored_count() { "$ARCA" ls --json | grep -c '"key"'; }

# ---- a declared output left from an earlier run ------------------------
echo stale >pre.txt
run "$ARCA" run --stage s --out pre.txt -- true
check_rc "outputs__stale_exit_124" 124
assert_contains "outputs__stale_not_produced" "$ERR" \
	"arca: s: declared output 'pre.txt' was not produced; nothing cached"
assert_eq "outputs__stale_removed" "no" "$([ -e pre.txt ] && echo yes || echo no)"
assert_eq "outputs__stale_nothing_cached" 0 "$(stored_count)"
# A command that rewrites it makes it its own.
echo stale >pre.txt
run "$ARCA" run --stage s2 --out pre.txt -- sh -c 'echo new >pre.txt'
check_rc "outputs__rewritten_exit_0" 0
rm pre.txt
run "$ARCA" run --stage s2 --out pre.txt -- sh -c 'echo new >pre.txt'
assert_contains "outputs__rewritten_hit" "$ERR" "arca: hit s2 "
assert_eq "outputs__rewritten_restored" "new" "$(cat pre.txt)"
# An output that is also an input would be removed: refused.
echo data >both.txt
run "$ARCA" run --in both.txt --out ./both.txt -- true
check_rc "outputs__also_input_exit_125" 125
assert_contains "outputs__also_input_message" "$ERR" "arca: output 'both.txt': also an input"
assert_eq "outputs__also_input_kept" "data" "$(cat both.txt)"

# ---- exit 124 is not the command's own 1 ----------------------------------
run "$ARCA" run --stage one --out never.txt -- sh -c 'exit 1'
check_rc "outputs__command_1_is_1" 1
run "$ARCA" run --stage lazy --out never.txt -- true
check_rc "outputs__missing_is_124" 124
run "$ARCA" run --help
assert_contains "outputs__help_124" "$OUT" "124 when CMD exited"
run "$ARCA" --help
assert_contains "outputs__main_help_124" "$OUT" "124 (CMD exited 0 but a declared output is missing)"

# ---- directories and symlinks ---------------------------------------------
fresh_store
run "$ARCA" run --out d -- mkdir -p d
check_rc "outputs__directory_exit_124" 124
assert_contains "outputs__directory_message" "$ERR" \
	"arca: mkdir: declared output 'd' is a directory, not a file (declare the files inside it); nothing cached"
assert_eq "outputs__directory_nothing_cached" 0 "$(stored_count)"
echo target >target.txt
run "$ARCA" run --stage link --out l.txt -- ln -s target.txt l.txt
check_rc "outputs__symlink_exit_124" 124
assert_contains "outputs__symlink_message" "$ERR" \
	"arca: link: declared output 'l.txt' is a symbolic link, not a file (links are not followed); nothing cached"
assert_eq "outputs__symlink_nothing_cached" 0 "$(stored_count)"

# ---- outputs stay inside the working directory --------------------------
for bad in /tmp/x.txt ../x.txt a/../../x.txt; do
	run "$ARCA" run --out "$bad" -- true
	check_rc "outputs__outside_${bad//\//_}_exit_125" 125
	assert_eq "outputs__outside_${bad//\//_}_one_line" \
		"arca: output '$bad': outside the working directory (an output is a relative path without '..')" \
		"$ERR"
done

# ---- stdin is not in the key unless declared ----------------------------
fresh_store
run sh -c 'echo one | "$ARCA" run -- cat'
assert_eq "stdin__first_prints_one" "one" "$OUT"
run sh -c 'echo two | "$ARCA" run -- cat'
assert_eq "stdin__second_prints_two" "two" "$OUT"
assert_eq "stdin__notice" \
	"arca: notice: stdin is a pipe and not declared (--stdin-in): running cat without the cache" \
	"$ERR"
run sh -c 'echo x | "$ARCA" run --stage st3 -- sh -c "cat >/dev/null; exit 3"'
check_rc "stdin__status_is_the_commands" 3
echo from-file >stdin.txt
run sh -c '"$ARCA" run -- cat <stdin.txt'
assert_eq "stdin__file_prints_it" "from-file" "$OUT"
assert_contains "stdin__file_notice" "$ERR" "arca: notice: stdin is a regular file and not declared"
assert_eq "stdin__nothing_cached" 0 "$(stored_count)"
# /dev/null is empty whatever the run: cached.
run "$ARCA" run --stage nul -- cat
assert_contains "stdin__dev_null_stored" "$ERR" "arca: stored nul "
run "$ARCA" run --stage nul -- cat
assert_contains "stdin__dev_null_hits" "$ERR" "arca: hit nul "
# --stdin-in: the same stdin hits, another misses.
run sh -c 'echo one | "$ARCA" run --stdin-in -- cat'
assert_eq "stdin_in__first_prints_one" "one" "$OUT"
assert_contains "stdin_in__first_stored" "$ERR" "arca: stored cat "
k1=$(printf '%s\n' "$ERR" | sed -n 's/^arca: stored cat \([0-9a-f]\{8\}\) .*/\1/p')
run sh -c 'echo one | "$ARCA" run --stdin-in -- cat'
assert_eq "stdin_in__same_prints_one" "one" "$OUT"
assert_contains "stdin_in__same_hits" "$ERR" "arca: hit cat $k1 "
run sh -c 'echo two | "$ARCA" run --stdin-in -- cat'
assert_eq "stdin_in__other_prints_two" "two" "$OUT"
assert_contains "stdin_in__other_misses" "$ERR" "arca: miss cat "
assert_not_contains "stdin_in__other_not_k1" "$ERR" "$k1"
assert_eq "stdin_in__no_temp_left" "" "$(ls -A "$ARCA_DIR/tmp")"
echo one >'(stdin)'
run "$ARCA" run --in '(stdin)' -- true
check_rc "stdin_in__reserved_name_exit_125" 125
assert_contains "stdin_in__reserved_name_message" "$ERR" \
	"arca: input '(stdin)': the name is reserved for the standard input"

# ---- control bytes in names are escaped -----------------------------------
name=$(printf 'a\033[31mb\nc')
run "$ARCA" run --stage "$name" -- true
assert_contains "escape__miss_line" "$ERR" 'arca: miss a\x1b[31mb\nc '
assert_contains "escape__stored_line" "$ERR" 'arca: stored a\x1b[31mb\nc '
assert_eq "escape__two_lines" 2 "$(printf '%s\n' "$ERR" | wc -l | tr -d ' ')"
assert_eq "escape__no_raw_esc" 0 "$(printf '%s' "$ERR" | tr -cd '\033' | wc -c | tr -d ' ')"
run "$ARCA" run --stage "$name" --out "$(printf 'o\033ut')" -- true
assert_contains "escape__missing_output_line" "$ERR" \
	"arca: a\\x1b[31mb\\nc: declared output 'o\\x1but' was not produced; nothing cached"

# ---- concurrent runs writing the same output ------------------------------
# Two keys (A and B) write out.txt in chunks, slowly, at the same time.
# Without output locks each can hash the other's bytes and store them
# under its own key; with them every key restores exactly its bytes.
SLOW=(-- sh -c 'for i in 1 2 3 4; do printf %s "$1"; sleep 0.05; done >out.txt' sh)
ok=1
for round in 1 2 3 4 5; do
	fresh_store
	rm -f out.txt
	"$ARCA" run --stage slow --param p=A --out out.txt "${SLOW[@]}" AAAA \
		>a.out 2>a.err &
	pa=$!
	"$ARCA" run --stage slow --param p=B --out out.txt "${SLOW[@]}" BBBB \
		>b.out 2>b.err &
	pb=$!
	wait "$pa" || { ok=0; fail "concurrent__round${round}_a_exit" "$(cat a.err)"; }
	wait "$pb" || { ok=0; fail "concurrent__round${round}_b_exit" "$(cat b.err)"; }
	for p in A B; do
		rm -f out.txt
		run "$ARCA" run --stage slow --param p=$p --out out.txt "${SLOW[@]}" $p$p$p$p
		case "$ERR" in
		*"arca: hit slow "*) ;;
		*) ok=0; fail "concurrent__round${round}_${p}_hits" "$ERR" ;;
		esac
		got=$(cat out.txt)
		if [ "$got" != "$p$p$p$p$p$p$p$p$p$p$p$p$p$p$p$p" ]; then
			ok=0
			fail "concurrent__round${round}_${p}_bytes" "got '$got'"
		fi
	done
done
[ "$ok" = 1 ] && pass "concurrent__each_key_restores_its_own_bytes"

finish
