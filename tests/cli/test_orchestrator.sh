#!/usr/bin/env bash
# examples/orchestrator (docs/api.md, "Example: a cached transcription
# orchestrator"): transcribe -> optional diarize -> format through
# arca_stage_*, with stand-ins for the three tools that count their runs.
# Computes, then hits; resumes after a failed format; degrades when the
# diarizer fails without serving the full transcript for the plain one.
# The program in docs/api.md is byte for byte the one built here.
. "${ARCA_TEST_LIB:-$(dirname "$0")/../lib.sh}" || exit 2

SRC=${ARCA_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
ORCH=${ARCA_ORCHESTRATOR:-$(dirname "$ARCA")/examples/orchestrator}
if [ ! -x "$ORCH" ]; then
	fail "orchestrator__binary" "no orchestrator binary at $ORCH" \
		"(set ARCA_ORCHESTRATOR, or build the 'orchestrator' target)"
	finish
fi

# ---- stand-ins: same arguments as the reference tools, no PocketSphinx --
# Each appends its name to $STANDIN_CALLS. Flag files in $STANDIN_FLAGS:
# NAME.fail makes it fail, transcribe.slow makes transcribe take 2 s,
# format.hang makes format write its pid to format.pid and sleep.
bin=$TEST_TMP/bin
mkdir -p "$bin"
cat >"$bin/transcribe" <<'EOF'
#!/bin/sh
echo transcribe >>"$STANDIN_CALLS"
[ ! -e "$STANDIN_FLAGS/transcribe.fail" ] || { echo "transcribe: told to fail" >&2; exit 4; }
[ ! -e "$STANDIN_FLAGS/transcribe.slow" ] || sleep 2
{ echo "words of"; cat "$1"; } >"$2"
EOF
cat >"$bin/diarize" <<'EOF'
#!/bin/sh
# diarize DIARIZER IN.wav OUT.rttm; DIARIZER "none" fails, as the real one.
echo diarize >>"$STANDIN_CALLS"
[ "$1" != none ] || { echo "diarize: no diarizer configured" >&2; exit 1; }
echo "SPEAKER audio 1 0.000 1.000 <NA> <NA> narrator <NA> <NA>" >"$3"
EOF
cat >"$bin/format" <<'EOF'
#!/bin/sh
# format WORDS.txt OUT.md SOURCE-NAME [SPEAKERS.rttm]
echo format >>"$STANDIN_CALLS"
if [ -e "$STANDIN_FLAGS/format.hang" ]; then
	echo partial >"$2"
	echo $$ >"$STANDIN_FLAGS/format.pid"
	exec sleep 60
fi
if [ -e "$STANDIN_FLAGS/format.fail" ]; then
	echo partial >"$2"
	echo "format: told to fail" >&2
	exit 3
fi
{
	echo "# Transcript: $3"
	cat "$1"
	if [ $# -eq 4 ]; then echo "speakers:"; cat "$4"; fi
} >"$2"
EOF
chmod +x "$bin"/*
export ORCH_TRANSCRIBE=$bin/transcribe ORCH_DIARIZE=$bin/diarize \
	ORCH_FORMAT=$bin/format
export STANDIN_CALLS=$TEST_TMP/calls STANDIN_FLAGS=$TEST_TMP/flags
mkdir -p "$STANDIN_FLAGS"
unset ORCH_DIARIZER ORCH_RECOGNIZER

calls() { if [ -f "$STANDIN_CALLS" ]; then grep -c "^$1\$" "$STANDIN_CALLS"; else echo 0; fi; }
all_calls() { echo "$(calls transcribe) $(calls diarize) $(calls format)"; }
# Every run's stderr is also kept, to look for sanitizer reports at the end
# (an error path that leaks exits 1 under ASan, as it does anyway).
run_orch() { run "$@"; cat "$ERR_FILE" >>"$TEST_TMP/all.err"; }
key8() { printf '%s\n' "$ERR" | sed -n "s/^orchestrator: $1 $2 \([0-9a-f]\{8\}\).*/\1/p"; }

echo "RIFF fake audio" >audio.wav

# ---- first run: every stage computes ----------------------------------
run_orch "$ORCH" audio.wav out
check_rc "orchestrator__first_run_exit_0" 0
for s in transcribe diarize format; do
	assert_contains "orchestrator__first_run_miss_$s" "$ERR" "orchestrator: miss $s "
	assert_contains "orchestrator__first_run_stored_$s" "$ERR" "orchestrator: stored $s "
done
assert_eq "orchestrator__first_run_runs_each_once" "1 1 1" "$(all_calls)"
assert_contains "orchestrator__first_run_wrote" "$ERR" "orchestrator: wrote out/transcript.md"
assert_not_contains "orchestrator__first_run_not_degraded" "$ERR" "degraded"
if [ -L out/audio.wav ]; then pass "orchestrator__audio_linked"; else fail "orchestrator__audio_linked" "$(ls -l out)"; fi
assert_contains "orchestrator__transcript_has_words" "$(cat out/transcript.md)" "RIFF fake audio"
assert_contains "orchestrator__transcript_has_source" "$(cat out/transcript.md)" "# Transcript: audio.wav"
assert_contains "orchestrator__transcript_has_speakers" "$(cat out/transcript.md)" "speakers:"
cp out/transcript.md full.md
full_format_key=$(key8 miss format)
assert_eq "orchestrator__format_key_printed" 8 "${#full_format_key}"

# ---- second run: every stage hits, outputs restored ---------------------
rm -f out/words.txt out/speakers.rttm out/transcript.md
run_orch "$ORCH" --store "$ARCA_DIR" audio.wav out
check_rc "orchestrator__second_run_exit_0" 0
for s in transcribe diarize format; do
	assert_contains "orchestrator__second_run_hit_$s" "$ERR" "orchestrator: hit $s "
done
assert_not_contains "orchestrator__second_run_no_miss" "$ERR" "orchestrator: miss"
assert_eq "orchestrator__second_run_runs_nothing" "1 1 1" "$(all_calls)"
assert_files_eq "orchestrator__second_run_restores_transcript" full.md out/transcript.md
if [ -f out/speakers.rttm ] && [ -f out/words.txt ]; then
	pass "orchestrator__second_run_restores_every_output"
else
	fail "orchestrator__second_run_restores_every_output" "$(ls out)"
fi

# The keys do not depend on the caller's directory or where AUDIO lives
# (the same bytes under the same file name elsewhere).
mkdir -p elsewhere
cp audio.wav elsewhere/audio.wav
(cd "$TEST_TMP" && run_orch "$ORCH" work/elsewhere/audio.wav work/out &&
	printf '%s\n' "$RC" >"$TEST_TMP/rc" && cp "$ERR_FILE" "$TEST_TMP/err")
assert_eq "orchestrator__other_cwd_exit_0" 0 "$(cat "$TEST_TMP/rc")"
assert_not_contains "orchestrator__other_cwd_and_audio_path_hit" \
	"$(cat "$TEST_TMP/err")" "orchestrator: miss"
assert_eq "orchestrator__other_cwd_runs_nothing" "1 1 1" "$(all_calls)"

# Other speaker bounds are another diarization (a miss); its output is the
# same here, so format's key is too and format hits.
run_orch "$ORCH" --max-speakers 4 audio.wav out
check_rc "orchestrator__max_speakers_exit_0" 0
assert_contains "orchestrator__max_speakers_transcribe_hits" "$ERR" "orchestrator: hit transcribe "
assert_contains "orchestrator__max_speakers_diarize_misses" "$ERR" "orchestrator: miss diarize "
assert_contains "orchestrator__max_speakers_format_hits" "$ERR" "orchestrator: hit format "
assert_eq "orchestrator__max_speakers_runs_diarize" "1 2 1" "$(all_calls)"

# ---- the diarizer fails: degraded, and the full transcript not served ----
rm -f "$STANDIN_CALLS"
run_orch env ORCH_DIARIZER=none "$ORCH" audio.wav out
check_rc "orchestrator__degraded_exit_0" 0
assert_contains "orchestrator__degraded_diarize_failed" "$ERR" "orchestrator: failed diarize "
assert_contains "orchestrator__degraded_says_so" "$ERR" "orchestrator: diarize failed: degraded to a transcript without speakers"
assert_contains "orchestrator__degraded_transcribe_hits" "$ERR" "orchestrator: hit transcribe "
assert_contains "orchestrator__degraded_format_misses" "$ERR" "orchestrator: miss format "
plain_format_key=$(key8 miss format)
if [ -n "$plain_format_key" ] && [ "$plain_format_key" != "$full_format_key" ]; then
	pass "orchestrator__degraded_format_key_differs"
else
	fail "orchestrator__degraded_format_key_differs" "full $full_format_key, plain '$plain_format_key'"
fi
assert_not_contains "orchestrator__degraded_transcript_has_no_speakers" "$(cat out/transcript.md)" "speakers:"
assert_contains "orchestrator__degraded_transcript_has_words" "$(cat out/transcript.md)" "RIFF fake audio"
if [ -e out/speakers.rttm ]; then
	fail "orchestrator__degraded_removes_rttm" "out/speakers.rttm is still there"
else
	pass "orchestrator__degraded_removes_rttm"
fi
assert_contains "orchestrator__degraded_wrote" "$ERR" "wrote out/transcript.md (without speakers)"
assert_eq "orchestrator__degraded_runs" "0 1 1" "$(all_calls)"
cp out/transcript.md plain.md

# Degraded again: the failed diarize is not cached (it runs again), the
# plain transcript is.
run_orch env ORCH_DIARIZER=none "$ORCH" audio.wav out
check_rc "orchestrator__degraded_again_exit_0" 0
assert_contains "orchestrator__degraded_again_format_hits" "$ERR" "orchestrator: hit format $plain_format_key"
assert_eq "orchestrator__degraded_again_runs_diarize_only" "0 2 1" "$(all_calls)"
assert_files_eq "orchestrator__degraded_again_same_transcript" plain.md out/transcript.md

# The diarizer back: the full transcript, from the cache.
run_orch "$ORCH" audio.wav out
check_rc "orchestrator__full_again_exit_0" 0
assert_contains "orchestrator__full_again_format_hits_full_key" "$ERR" "orchestrator: hit format $full_format_key"
assert_files_eq "orchestrator__full_again_full_transcript" full.md out/transcript.md
assert_eq "orchestrator__full_again_runs_nothing" "0 2 1" "$(all_calls)"

# A diarize command that cannot be started degrades too.
run_orch env ORCH_DIARIZE="$TEST_TMP/no-such-diarize" "$ORCH" audio.wav out
check_rc "orchestrator__diarize_not_found_exit_0" 0
assert_contains "orchestrator__diarize_not_found_message" "$ERR" "orchestrator: diarize: "
assert_contains "orchestrator__diarize_not_found_degraded" "$ERR" "degraded"
assert_files_eq "orchestrator__diarize_not_found_plain_transcript" plain.md out/transcript.md

# ---- resume: format fails, then only format runs ---------------------------
fresh_store
rm -f "$STANDIN_CALLS"
touch "$STANDIN_FLAGS/format.fail"
run_orch "$ORCH" audio.wav out
check_rc "orchestrator__format_fails_exit_1" 1
assert_contains "orchestrator__format_fails_transcribe_stored" "$ERR" "orchestrator: stored transcribe "
assert_contains "orchestrator__format_fails_diarize_stored" "$ERR" "orchestrator: stored diarize "
assert_contains "orchestrator__format_fails_line" "$ERR" "orchestrator: failed format "
assert_contains "orchestrator__format_fails_exit_status" "$ERR" "(exit status 3)"
assert_contains "orchestrator__format_fails_stopped" "$ERR" "orchestrator: stopped at format"
assert_not_contains "orchestrator__format_fails_not_stored" "$ERR" "orchestrator: stored format"
assert_eq "orchestrator__format_fails_runs" "1 1 1" "$(all_calls)"
if [ -e out/transcript.md ]; then
	fail "orchestrator__format_fails_leaves_no_transcript" "$(cat out/transcript.md)"
else
	pass "orchestrator__format_fails_leaves_no_transcript"
fi
rm -f "$STANDIN_FLAGS/format.fail"
run_orch "$ORCH" audio.wav out
check_rc "orchestrator__resume_exit_0" 0
assert_contains "orchestrator__resume_transcribe_hits" "$ERR" "orchestrator: hit transcribe "
assert_contains "orchestrator__resume_diarize_hits" "$ERR" "orchestrator: hit diarize "
assert_contains "orchestrator__resume_format_misses" "$ERR" "orchestrator: miss format "
assert_contains "orchestrator__resume_format_stored" "$ERR" "orchestrator: stored format "
assert_eq "orchestrator__resume_runs_only_format" "1 1 2" "$(all_calls)"
assert_files_eq "orchestrator__resume_full_transcript" full.md out/transcript.md

# The orchestrator killed (SIGKILL) while format runs: the next run hits
# transcribe and diarize, takes over the dead run's lease on format, and
# runs format only.
fresh_store
rm -f "$STANDIN_CALLS" "$STANDIN_FLAGS/format.pid"
touch "$STANDIN_FLAGS/format.hang"
"$ORCH" audio.wav out >/dev/null 2>"$TEST_TMP/killed.err" &
orch_pid=$!
for _ in $(seq 100); do [ -s "$STANDIN_FLAGS/format.pid" ] && break; sleep 0.1; done
kill -KILL "$orch_pid" 2>/dev/null
wait "$orch_pid" 2>/dev/null
[ -s "$STANDIN_FLAGS/format.pid" ] && kill -KILL "$(cat "$STANDIN_FLAGS/format.pid")" 2>/dev/null
rm -f "$STANDIN_FLAGS/format.hang"
assert_eq "orchestrator__killed_during_format" "1 1 1" "$(all_calls)"
start=$SECONDS
run_orch "$ORCH" audio.wav out
check_rc "orchestrator__after_kill_exit_0" 0
assert_contains "orchestrator__after_kill_transcribe_hits" "$ERR" "orchestrator: hit transcribe "
assert_contains "orchestrator__after_kill_diarize_hits" "$ERR" "orchestrator: hit diarize "
assert_contains "orchestrator__after_kill_format_stored" "$ERR" "orchestrator: stored format "
assert_eq "orchestrator__after_kill_runs_only_format" "1 1 2" "$(all_calls)"
assert_files_eq "orchestrator__after_kill_full_transcript" full.md out/transcript.md
if [ $((SECONDS - start)) -lt 20 ]; then
	pass "orchestrator__after_kill_no_long_lease_wait"
else
	fail "orchestrator__after_kill_no_long_lease_wait" "took $((SECONDS - start)) s"
fi

# Two runs on the same audio in different OUTDIRs at once: one computes
# each stage, the other waits for its lease and hits.
fresh_store
rm -f "$STANDIN_CALLS"
touch "$STANDIN_FLAGS/transcribe.slow"
"$ORCH" audio.wav out-a >/dev/null 2>"$TEST_TMP/a.err" &
a_pid=$!
sleep 0.5
run_orch "$ORCH" audio.wav out-b
wait "$a_pid"
a_rc=$?
rm -f "$STANDIN_FLAGS/transcribe.slow"
assert_eq "orchestrator__concurrent_both_exit_0" "0 0" "$a_rc $RC"
assert_eq "orchestrator__concurrent_each_stage_runs_once" "1 1 1" "$(all_calls)"
assert_contains "orchestrator__concurrent_second_waits" "$ERR" "orchestrator: waiting for transcribe "
assert_contains "orchestrator__concurrent_second_hits" "$ERR" "orchestrator: hit transcribe "
assert_files_eq "orchestrator__concurrent_same_transcript" out-a/transcript.md out-b/transcript.md

# A failed transcribe stops the run before the other stages.
echo "other audio" >audio.wav
touch "$STANDIN_FLAGS/transcribe.fail"
run_orch "$ORCH" audio.wav out
check_rc "orchestrator__transcribe_fails_exit_1" 1
assert_contains "orchestrator__transcribe_fails_line" "$ERR" "orchestrator: failed transcribe "
assert_contains "orchestrator__transcribe_fails_stopped" "$ERR" "orchestrator: stopped at transcribe"
assert_eq "orchestrator__transcribe_fails_runs_nothing_after" "2 1 1" "$(all_calls)"
if [ -e out/transcript.md ]; then
	fail "orchestrator__transcribe_fails_removes_old_transcript" "out/transcript.md is the earlier audio's"
else
	pass "orchestrator__transcribe_fails_removes_old_transcript"
fi
rm -f "$STANDIN_FLAGS/transcribe.fail"

# New audio bytes: everything computes again.
run_orch "$ORCH" audio.wav out
check_rc "orchestrator__new_audio_exit_0" 0
for s in transcribe diarize format; do
	assert_contains "orchestrator__new_audio_miss_$s" "$ERR" "orchestrator: miss $s "
done
assert_contains "orchestrator__new_audio_transcript" "$(cat out/transcript.md)" "other audio"

# ---- --no-cache: runs everything, stores nothing ---------------------------
fresh_store
rm -f "$STANDIN_CALLS"
run_orch "$ORCH" --no-cache audio.wav out
check_rc "orchestrator__no_cache_exit_0" 0
for s in transcribe diarize format; do
	assert_contains "orchestrator__no_cache_ran_$s" "$ERR" "orchestrator: ran $s without the cache"
done
assert_eq "orchestrator__no_cache_runs_each" "1 1 1" "$(all_calls)"
if [ -e "$ARCA_DIR" ]; then fail "orchestrator__no_cache_opens_no_store" "$ARCA_DIR exists"; else pass "orchestrator__no_cache_opens_no_store"; fi
run_orch "$ORCH" audio.wav out
assert_contains "orchestrator__after_no_cache_misses" "$ERR" "orchestrator: miss transcribe "

# ---- errors: one line each, naming what and where ------------------------
run_orch "$ORCH" missing.wav out
check_rc "orchestrator__missing_audio_exit_1" 1
assert_eq "orchestrator__missing_audio_message" "orchestrator: missing.wav: No such file or directory" "$ERR"
run_orch "$ORCH" audio.wav
check_rc "orchestrator__usage_exit_2" 2
assert_contains "orchestrator__usage_message" "$ERR" "usage: orchestrator"
run_orch "$ORCH" --max-speakers 0 audio.wav out
check_rc "orchestrator__bad_bound_exit_2" 2
run_orch "$ORCH" --min-speakers 3 --max-speakers 2 audio.wav out
check_rc "orchestrator__min_above_max_exit_2" 2
run_orch env ORCH_TRANSCRIBE="$TEST_TMP/no-such-tool" "$ORCH" audio.wav out2
check_rc "orchestrator__transcribe_not_found_exit_1" 1
assert_contains "orchestrator__transcribe_not_found_message" "$ERR" "orchestrator: transcribe: command not found: $TEST_TMP/no-such-tool"
mkdir -p mine
echo "my own file" >mine/audio.wav
run_orch "$ORCH" audio.wav mine
check_rc "orchestrator__foreign_audio_wav_exit_1" 1
assert_contains "orchestrator__foreign_audio_wav_message" "$ERR" "mine/audio.wav exists and is not a link to audio.wav"
assert_eq "orchestrator__foreign_audio_wav_kept" "my own file" "$(cat mine/audio.wav)"
# AUDIO may be OUTDIR/audio.wav itself.
run_orch "$ORCH" mine/audio.wav mine
check_rc "orchestrator__audio_in_outdir_exit_0" 0
assert_eq "orchestrator__audio_in_outdir_kept" "my own file" "$(cat mine/audio.wav)"

cat "$TEST_TMP/killed.err" "$TEST_TMP/a.err" >>"$TEST_TMP/all.err"
assert_not_contains "orchestrator__no_sanitizer_reports" "$(cat "$TEST_TMP/all.err")" "Sanitizer"

# ---- docs/api.md shows this very program ----------------------------------
awk '/^## Example: a cached transcription orchestrator$/ { s = 1; next }
     s && /^## / { exit }
     s && !c && /^```c$/ { c = 1; next }
     c && /^```$/ { exit }
     c { print }' "$SRC/docs/api.md" >doc.c
if [ -s doc.c ] && cmp -s doc.c "$SRC/examples/orchestrator/orchestrator.c"; then
	pass "orchestrator__doc_is_the_program"
else
	fail "orchestrator__doc_is_the_program" \
		"docs/api.md's code block differs from examples/orchestrator/orchestrator.c:" \
		"$(diff doc.c "$SRC/examples/orchestrator/orchestrator.c" | head -20)"
fi
# It reaches the engine through arca/arca.h only; everything else is libc.
others=$(grep '^#include' "$SRC/examples/orchestrator/orchestrator.c" |
	grep -v -E '^#include <(arca/arca|errno|stdio|stdlib|string|sys/stat|unistd)\.h>$')
assert_eq "orchestrator__includes_only_arca_h_and_libc" "" "$others"

finish
