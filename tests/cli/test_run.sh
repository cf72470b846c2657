#!/usr/bin/env bash
# arca run: miss then hit, failures, declared outputs, --no-cache,
# --refresh, --store after the command, exit status conventions.
. "${ARCA_TEST_LIB:-$(dirname "$0")/../lib.sh}" || exit 2

# A stage that counts its real executions in ./count, uppercases in.txt
# into out/up.txt (a nested output dir) and writes to both streams.
cat >stage.sh <<'EOF'
#!/bin/sh
echo run >>count
mkdir -p out
tr a-z A-Z <"$1" >out/up.txt
printf 'line for stdout\n'
printf 'line for stderr\n' >&2
exit 0
EOF
chmod +x stage.sh
echo "hello arca" >in.txt
runs() { if [ -f count ]; then wc -l <count | tr -d ' '; else echo 0; fi; }

RUN=("$ARCA" run --stage upper --in in.txt --out out/up.txt -- ./stage.sh in.txt)

# ---- miss, then hit -------------------------------------------------
run "${RUN[@]}"
check_rc "run__miss_exit_0" 0
assert_eq "run__miss_runs_command" 1 "$(runs)"
assert_contains "run__miss_line" "$ERR" "arca: miss upper "
assert_contains "run__stored_line" "$ERR" "arca: stored upper "
assert_eq "run__miss_passes_stdout" "line for stdout" "$OUT"
assert_contains "run__miss_passes_stderr" "$ERR" "line for stderr"
cp out/up.txt expected.txt
key8=$(printf '%s\n' "$ERR" | sed -n 's/^arca: miss upper \([0-9a-f]\{8\}\)$/\1/p')
assert_eq "run__key8_is_8_hex" 8 "${#key8}"

rm -rf out
run "${RUN[@]}"
check_rc "run__hit_exit_0" 0
assert_eq "run__hit_does_not_run_command" 1 "$(runs)"
assert_files_eq "run__hit_restores_output" expected.txt out/up.txt
assert_eq "run__hit_replays_stdout" "line for stdout" "$OUT"
assert_contains "run__hit_replays_stderr" "$ERR" "line for stderr"
assert_contains "run__hit_line" "$ERR" "arca: hit upper $key8 (saved "
assert_not_contains "run__hit_no_miss_line" "$ERR" "arca: miss"

# A hit overwrites a modified output with the cached bytes.
echo "scribbled" >out/up.txt
run "${RUN[@]}"
assert_files_eq "run__hit_overwrites_modified_output" expected.txt out/up.txt
assert_eq "run__hit_again_no_run" 1 "$(runs)"

# No temp files are left next to restored outputs.
assert_eq "run__hit_leaves_no_temp_files" "" "$(ls -A out | grep -v '^up.txt$')"

# The restored mode follows the original's permission bits.
cat >mkexec.sh <<'EOF'
#!/bin/sh
echo run >>count
printf '#!/bin/sh\necho hi\n' >tool.out
chmod 755 tool.out
EOF
chmod +x mkexec.sh
check "run__mode_miss" "$ARCA" run --out tool.out -- ./mkexec.sh
rm -f tool.out
check "run__mode_hit" "$ARCA" run --out tool.out -- ./mkexec.sh
if [ -x tool.out ]; then pass "run__hit_restores_mode"; else fail "run__hit_restores_mode" "$(ls -l tool.out)"; fi

# ---- the stage defaults to CMD's basename -----------------------------
run "$ARCA" run -- ./stage.sh in.txt
assert_contains "run__default_stage_is_basename" "$ERR" "arca: miss stage.sh "
run "$ARCA" ls --json
assert_contains "run__default_stage_listed" "$OUT" '"stage": "stage.sh"'

# ---- failures cache nothing ---------------------------------------------
cat >fail.sh <<'EOF'
#!/bin/sh
echo run >>count
echo partial >fail.out
echo "failing" >&2
exit 3
EOF
chmod +x fail.sh
before=$(runs)
run "$ARCA" run --stage flaky --out fail.out -- ./fail.sh
check_rc "run__failure_status_passes_through" 3
assert_contains "run__failure_message" "$ERR" "arca: flaky failed with status 3; nothing cached"
run "$ARCA" run --stage flaky --out fail.out -- ./fail.sh
check_rc "run__failure_again_status" 3
assert_eq "run__failure_not_cached_runs_again" $((before + 2)) "$(runs)"
run "$ARCA" ls --stage flaky
assert_eq "run__failure_ls_empty" 1 "$(printf '%s\n' "$OUT" | wc -l | tr -d ' ')"

# Killed by a signal: 128+N.
run "$ARCA" run --stage killed -- sh -c 'kill -TERM $$'
check_rc "run__signal_exit_128_plus_n" 143

# ---- a declared output that is not produced ------------------------------
run "$ARCA" run --stage lazy --out never.txt -- sh -c 'echo run >>count'
check_rc "run__missing_output_exit_124" 124
assert_contains "run__missing_output_message" "$ERR" \
	"arca: lazy: declared output 'never.txt' was not produced; nothing cached"
before=$(runs)
run "$ARCA" run --stage lazy --out never.txt -- sh -c 'echo run >>count'
assert_eq "run__missing_output_not_cached" $((before + 1)) "$(runs)"

# ---- --no-cache -----------------------------------------------------------
fresh_store
rm -f count
for i in 1 2 3; do
	run "$ARCA" run --no-cache --stage nc --out nc.txt -- sh -c 'echo run >>count; echo x >nc.txt; echo out'
done
check_rc "run__no_cache_exit_0" 0
assert_eq "run__no_cache_runs_every_time" 3 "$(runs)"
assert_eq "run__no_cache_passes_stdout" "out" "$OUT"
run "$ARCA" ls --json
assert_eq "run__no_cache_stores_nothing" "[]" "$OUT"
run "$ARCA" run --no-cache --stage nc -- sh -c 'exit 7'
check_rc "run__no_cache_status_passes_through" 7

# ---- --refresh ------------------------------------------------------------
fresh_store
rm -f count out/up.txt
check "run__refresh_first_miss" "${RUN[@]}"
run "$ARCA" run --refresh --stage upper --in in.txt --out out/up.txt -- ./stage.sh in.txt
check_rc "run__refresh_exit_0" 0
assert_eq "run__refresh_recomputes" 2 "$(runs)"
assert_contains "run__refresh_stores" "$ERR" "arca: stored upper"
run "${RUN[@]}"
assert_contains "run__after_refresh_hits" "$ERR" "arca: hit upper"
assert_eq "run__after_refresh_no_run" 2 "$(runs)"
run "$ARCA" ls --json
assert_eq "run__refresh_replaces_entry" 1 \
	"$(printf '%s' "$OUT" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')"
run "$ARCA" run --refresh --no-cache -- true
check_rc "run__refresh_and_no_cache_conflict_125" 125

# ---- large streams: passed through live, captured, replayed byte-identical ----
fresh_store
python3 -c 'import os,sys; sys.stdout.buffer.write(os.urandom(1 << 20))' >stream.bin
STREAM=("$ARCA" run --stage stream --in stream.bin -- sh -c 'cat stream.bin; head -c 200000 stream.bin >&2')
"${STREAM[@]}" >s1.out 2>s1.err
assert_eq "run__stream_miss_exit_0" 0 "$?"
assert_files_eq "run__stream_miss_stdout_passthrough" stream.bin s1.out
head -c 200000 stream.bin >stream.head
"${STREAM[@]}" >s2.out 2>s2.err
assert_eq "run__stream_hit_exit_0" 0 "$?"
assert_files_eq "run__stream_hit_stdout_replay" stream.bin s2.out
python3 - s1.err s2.err stream.head <<'PY' && pass "run__stream_stderr_replay" || fail "run__stream_stderr_replay" "stderr bodies differ"
import sys
def body(p):
    b = open(p, "rb").read()
    # drop arca's own status line(s) at the start / end
    for prefix in (b"arca: miss ", b"arca: hit "):
        if b.startswith(prefix):
            b = b[b.index(b"\n") + 1:]
    i = b.rfind(b"arca: ")
    return b[:i] if i >= 0 else b
want = open(sys.argv[3], "rb").read()
sys.exit(0 if body(sys.argv[1]) == want and body(sys.argv[2]) == want else 1)
PY
grep -a -q 'arca: hit stream ' s2.err && pass "run__stream_hit_line" || fail "run__stream_hit_line" "$(tail -c 200 s2.err)"

# ---- signals sent to arca reach CMD ------------------------------------------------
for sig in TERM INT; do
	rm -f started
	# Background jobs start with SIGINT ignored; give arca default ones.
	python3 -c 'import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])' \
		"$ARCA" run --stage sig$sig -- sh -c 'trap "echo got >caught; exit 9" '$sig'; touch started; i=0; while [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done' \
		>/dev/null 2>"sig$sig.err" &
	pid=$!
	for i in $(seq 1 100); do [ -f started ] && break; sleep 0.05; done
	kill -$sig $pid
	wait $pid
	rc=$?
	assert_eq "run__sig${sig}_forwarded_child_status" 9 "$rc"
	if [ -f caught ]; then pass "run__sig${sig}_child_caught_it"; else fail "run__sig${sig}_child_caught_it" "$(cat sig$sig.err)"; fi
	rm -f caught
done
# A child that does not catch it dies of it: 128+N.
rm -f started
"$ARCA" run --stage sigdie -- sh -c 'touch started; exec sleep 30' >/dev/null 2>sigdie.err &
pid=$!
for i in $(seq 1 100); do [ -f started ] && break; sleep 0.05; done
sleep 0.1
kill -TERM $pid
wait $pid
assert_eq "run__sigterm_uncaught_exit_143" 143 "$?"
run "$ARCA" ls --json
assert_not_contains "run__signalled_not_cached" "$OUT" '"sig'

# ---- --store after the command name, and before it --------------------------
other="$TEST_TMP/other-store"
rm -f count
run "$ARCA" run --store "$other" --stage where -- sh -c 'echo run >>count'
check_rc "run__store_after_command" 0
run "$ARCA" --store "$other" ls --json
assert_contains "run__store_before_command_sees_it" "$OUT" '"stage": "where"'
run "$ARCA" ls --json
assert_not_contains "run__default_store_untouched" "$OUT" '"where"'
run "$ARCA" run --store "$other" --stage where -- sh -c 'echo run >>count'
assert_contains "run__store_after_command_hits" "$ERR" "arca: hit where"

# ---- CMD options are CMD's own -----------------------------------------------
run "$ARCA" run --stage echo1 echo --stage -n hi
assert_eq "run__cmd_options_not_parsed" "--stage -n hi" "$OUT"

# ---- CMD not found / not executable --------------------------------------------
fresh_store
run "$ARCA" run -- no-such-command-arca-test
check_rc "run__command_not_found_127" 127
assert_eq "run__command_not_found_message" "arca: command not found: no-such-command-arca-test" "$ERR"
echo 'echo hi' >notexec.sh
chmod 644 notexec.sh
run "$ARCA" run -- ./notexec.sh
check_rc "run__not_executable_126" 126
run "$ARCA" run -- ./no/such/path
check_rc "run__missing_path_127" 127
run "$ARCA" run
check_rc "run__no_command_125" 125
run "$ARCA" run --bogus -- true
check_rc "run__unknown_option_125" 125
assert_contains "run__unknown_option_message" "$ERR" "arca: run: unknown option '--bogus'"
run "$ARCA" run --stage
check_rc "run__option_missing_argument_125" 125
run "$ARCA" ls --json
assert_eq "run__bad_invocations_store_nothing" "[]" "$OUT"

# ---- a corrupt output blob in a hit: recompute ------------------------------------
fresh_store
rm -f count
head -c 300000 /dev/urandom >big.in
BIG=("$ARCA" run --stage bigcopy --in big.in --out big.out -- sh -c 'echo run >>count; cp big.in big.out')
check "run__big_miss" "${BIG[@]}"
digest=$(sha256sum big.out | cut -d' ' -f1)
f=$(blob_file "$digest")
if [ -n "$f" ]; then pass "run__big_output_is_file_blob"; else fail "run__big_output_is_file_blob" "no blobs/ file for $digest"; fi
[ -n "$f" ] && corrupt_file "$f"
rm -f big.out
run "${BIG[@]}"
check_rc "run__corrupt_hit_recomputes_exit_0" 0
assert_contains "run__corrupt_hit_message" "$ERR" "is corrupt; recomputing"
assert_eq "run__corrupt_hit_ran_command" 2 "$(runs)"
assert_files_eq "run__corrupt_hit_output_correct" big.in big.out
run "${BIG[@]}"
assert_contains "run__after_recompute_hits" "$ERR" "arca: hit bigcopy"
assert_files_eq "run__after_recompute_output_correct" big.in big.out

# ---- an output blob whose file is gone: a plain miss, not "corrupt" ------------
rm -f "$(blob_file "$digest")" big.out
run "${BIG[@]}"
check_rc "run__gone_blob_recomputes_exit_0" 0
assert_contains "run__gone_blob_is_a_miss" "$ERR" "arca: miss bigcopy"
assert_not_contains "run__gone_blob_not_corrupt" "$ERR" "corrupt"
assert_eq "run__gone_blob_ran_command" 3 "$(runs)"
assert_files_eq "run__gone_blob_output_correct" big.in big.out

finish
