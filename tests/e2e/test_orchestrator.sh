#!/usr/bin/env bash
# End to end: docs/api.md's orchestrator (examples/orchestrator) with its
# default commands, the reference pipeline's real tools (ps-transcribe with
# CMU PocketSphinx, diarize with diarize-single, format-md), on one short
# LibriVox clip (7 s of 16 kHz mono PCM: about 2 s of recognition). A cold
# run computes the three stages, a warm run hits them and gives the same
# bytes. tests/cli/test_orchestrator.sh covers the rest with stand-ins.
. "${ARCA_TEST_LIB:-$(dirname "$0")/../lib.sh}" || exit 2

SRC=${ARCA_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
ORCH=${ARCA_ORCHESTRATOR:-$(dirname "$ARCA")/examples/orchestrator}
clip=/usr/share/pocketsphinx/test/data/librivox/sense_and_sensibility_01_austen_64kb-0870.wav
if [ ! -x "$ORCH" ] || [ ! -f "$clip" ]; then
	fail "orchestrator_real__setup" "need $ORCH and $clip"
	finish
fi
export PATH="$SRC/examples/transcribe:$PATH"
unset ORCH_TRANSCRIBE ORCH_DIARIZE ORCH_DIARIZER ORCH_FORMAT ORCH_RECOGNIZER

run "$ORCH" "$clip" out
check_rc "orchestrator_real__cold_exit_0" 0
for s in transcribe diarize format; do
	assert_contains "orchestrator_real__cold_stored_$s" "$ERR" "orchestrator: stored $s "
done
assert_not_contains "orchestrator_real__cold_not_degraded" "$ERR" "degraded"
md=$(cat out/transcript.md 2>/dev/null)
assert_contains "orchestrator_real__title" "$md" "# Transcript: sense_and_sensibility_01_austen_64kb-0870.wav"
assert_contains "orchestrator_real__speaker" "$md" "**narrator**:"
assert_contains "orchestrator_real__words" "$md" "power"
cp out/transcript.md cold.md

rm -f out/words.txt out/speakers.rttm out/transcript.md
run "$ORCH" "$clip" out
check_rc "orchestrator_real__warm_exit_0" 0
for s in transcribe diarize format; do
	assert_contains "orchestrator_real__warm_hit_$s" "$ERR" "orchestrator: hit $s "
done
assert_files_eq "orchestrator_real__warm_same_bytes" cold.md out/transcript.md

finish
