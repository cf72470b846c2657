#!/usr/bin/env bash
# End to end: examples/transcribe/arca.yaml with `arca repro` on a real
# recording served over HTTP by tests/http_server.py — cold, warm (no
# request, every cached stage restored), degraded without a diarizer (exit 0,
# no speakers), recovered (only diarize and format run), new speaker bounds
# (a new diarize key), impossible bounds (degraded); and the transcribe
# script on a URL.
. "${ARCA_TEST_LIB:-$(dirname "$0")/../lib.sh}" || exit 2

src=${ARCA_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
clip=/usr/share/pocketsphinx/test/data/librivox/sense_and_sensibility_01_austen_64kb-0880.wav
[ -f "$clip" ] || { echo "missing $clip (scripts/bootstrap installs pocketsphinx-testdata)" >&2; exit 2; }
unset http_proxy HTTP_PROXY https_proxy HTTPS_PROXY all_proxy ALL_PROXY
export PATH="$src/examples/transcribe:$PATH"

srv=$TEST_TMP/srv
mkdir -p "$srv/root"
ffmpeg -nostdin -loglevel error -i "$clip" -ar 44100 -ac 2 "$srv/root/recording.flac"
python3 "$src/tests/http_server.py" --root "$srv/root" --port-file "$srv/port" \
	--log "$srv/log" --lifetime 300 &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; cleanup_test_tmp' EXIT
for _ in $(seq 100); do [ -s "$srv/port" ] && break; sleep 0.1; done
port=$(cat "$srv/port" 2>/dev/null)
[ -n "$port" ] || { echo "cannot start the HTTP server" >&2; exit 2; }
url=http://127.0.0.1:$port/recording.flac
requests() { wc -l <"$srv/log" | tr -d ' '; }

mkdir pipeline
cp "$src/examples/transcribe/arca.yaml" pipeline/arca.yaml
# The URL is http://${host}/recording.flac: the host is a param.
export ARCA_TEST_HOST=127.0.0.1:$port
stages_ran() {  # the stages that computed, in order, from arca's lines
	printf '%s\n' "$ERR" | awk '/^arca: stage [a-z]+: (ran|always runs)/ { sub(":", "", $3); printf "%s ", $3 }'
}

run "$ARCA" repro -p host=$ARCA_TEST_HOST pipeline/arca.yaml
check_rc "pipeline__cold_exit_0" 0
assert_eq "pipeline__cold_every_stage_ran" "transcode transcribe diarize format " "$(stages_ran)"
assert_eq "pipeline__cold_one_request" 1 "$(requests)"
assert_contains "pipeline__cold_transcript_words" "$(cat pipeline/transcript.md)" "young man"
# The default diarizer, diarize-mfcc, finds the one reader of this clip.
assert_contains "pipeline__cold_speakers" "$(cat pipeline/transcript.md)" "**speaker1**:"
assert_not_contains "pipeline__cold_one_speaker" "$(cat pipeline/transcript.md)" "**speaker2**"
cp pipeline/transcript.md cold.md

rm -f pipeline/*.wav pipeline/*.txt pipeline/*.rttm pipeline/*.md pipeline/*.flac
run "$ARCA" repro -p host=$ARCA_TEST_HOST pipeline/arca.yaml
check_rc "pipeline__warm_exit_0" 0
assert_eq "pipeline__warm_only_format_ran" "format " "$(stages_ran)"
assert_eq "pipeline__warm_no_request" 1 "$(requests)"
for stage in transcode transcribe diarize; do
	assert_contains "pipeline__warm_hit_$stage" "$ERR" "arca: hit $stage "
done
assert_files_eq "pipeline__warm_same_transcript" cold.md pipeline/transcript.md

run "$ARCA" repro -p host=$ARCA_TEST_HOST -p diarizer=none pipeline/arca.yaml
check_rc "pipeline__degraded_exit_0" 0
assert_contains "pipeline__degraded_named" "$ERR" "degraded (diarize)"
assert_contains "pipeline__degraded_transcribe_hit" "$ERR" "arca: hit transcribe "
assert_not_contains "pipeline__degraded_no_speakers" "$(cat pipeline/transcript.md)" "**speaker"
assert_contains "pipeline__degraded_still_words" "$(cat pipeline/transcript.md)" "young man"

run "$ARCA" repro -p host=$ARCA_TEST_HOST pipeline/arca.yaml
check_rc "pipeline__recovered_exit_0" 0
assert_eq "pipeline__recovered_nothing_but_format_recomputes" "format " "$(stages_ran)"
assert_contains "pipeline__recovered_diarize_hit" "$ERR" "arca: hit diarize "
assert_files_eq "pipeline__recovered_transcript" cold.md pipeline/transcript.md

# A diarizer never used before: only diarize (and the always-run format) compute.
printf '#!/bin/sh\nexec diarize-single "$@"\n' >"$TEST_TMP/my-diarizer"
chmod +x "$TEST_TMP/my-diarizer"
run "$ARCA" repro -p host=$ARCA_TEST_HOST -p diarizer="$TEST_TMP/my-diarizer" pipeline/arca.yaml
check_rc "pipeline__new_diarizer_exit_0" 0
assert_eq "pipeline__new_diarizer_only_diarize_and_format" "diarize format " "$(stages_ran)"

# The speaker bounds are params of diarize: a new bound is a new key, and
# only diarize (and format) compute.
run "$ARCA" repro -p host=$ARCA_TEST_HOST -p max_speakers=1 pipeline/arca.yaml
check_rc "pipeline__max_speakers_exit_0" 0
assert_eq "pipeline__max_speakers_only_diarize_and_format" "diarize format " "$(stages_ran)"
# Bounds that cannot hold: diarize fails, the run degrades, still exit 0.
run "$ARCA" repro -p host=$ARCA_TEST_HOST -p min_speakers=3 -p max_speakers=2 pipeline/arca.yaml
check_rc "pipeline__bad_bounds_exit_0" 0
assert_contains "pipeline__bad_bounds_degraded" "$ERR" "degraded (diarize)"
assert_contains "pipeline__bad_bounds_named" "$ERR" "--min-speakers 3 is above --max-speakers 2"
assert_not_contains "pipeline__bad_bounds_no_speakers" "$(cat pipeline/transcript.md)" "**speaker"

run "$ARCA" repro -p host=$ARCA_TEST_HOST pipeline/arca.yaml
check_rc "pipeline__default_again_exit_0" 0
run "$ARCA" status -p host=$ARCA_TEST_HOST pipeline/arca.yaml
check_rc "pipeline__status_up_to_date_exit_0" 0

# The transcribe script takes a URL too, fetched through the same store.
run env TMPDIR="$TEST_TMP" "$src/examples/transcribe/transcribe" "$url" url.md
check_rc "pipeline__transcribe_url_exit_0" 0
assert_contains "pipeline__transcribe_url_words" "$(cat url.md)" "young man"
assert_contains "pipeline__transcribe_url_fresh" "$ERR" "fresh"
assert_eq "pipeline__transcribe_url_no_new_request" 1 "$(requests)"

finish
