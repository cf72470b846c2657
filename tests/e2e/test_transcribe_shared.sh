#!/usr/bin/env bash
# End to end, issue 9: two machines share the reference pipeline
# (examples/transcribe/transcribe, on a real LibriVox clip) through one
# redis-server and one S3 bucket (tests/s3/server.js), both started here on
# free 127.0.0.1 ports and killed at the end. A "machine" is a store
# directory (ARCA_DIR) with its own work dir (TMPDIR); all of them have the
# same config.yaml tiers: Redis first, holding blobs up to 64 KiB, then S3,
# holding everything. So the small stages (transcribe, format) are found in
# Redis and the WAV (about 94 KiB) and the transcode entry naming it in S3.
#
#   A  empty store: every stage computes and is written through
#   B  another empty store: every stage restored from the tiers, with
#      ffmpeg and PocketSphinx refusing to run; byte-identical transcript
#   C  --no-remote: computes locally, nothing asked of either server
#   L  no tiers, no stand-ins: the plain local pipeline, same transcript
#   D  redis-server SIGKILLed between two stages: exit 0, the rest from S3
#
# Proving "never ran": the tools are stand-ins on PATH that log each call
# and, with TOOL_FORBID set, exit 1 instead of running the real tool. Every
# machine but L uses the same stand-ins (identical bytes): the transcode
# stage's key holds the digest of the `ffmpeg` that PATH resolves, so a
# stand-in on B alone would give B other keys and make it compute. Each
# machine's log shows what it ran; A's and C's logs show the stand-ins are
# really in the way.
# shellcheck disable=SC2317  # stop_all runs from the EXIT trap
# shellcheck source=../lib.sh
. "${ARCA_TEST_LIB:-$(dirname "$0")/../lib.sh}" || exit 2
. "$(dirname "$0")/../servers.sh" || exit 2
# The stand-ins below are written into $TEST_TMP/bin: never without it.
if [ -z "${TEST_TMP:-}" ] || [ ! -d "$TEST_TMP" ]; then
	echo "lib.sh did not make TEST_TMP" >&2
	exit 2
fi

SRC=${ARCA_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
transcribe=$SRC/examples/transcribe/transcribe
clip=/usr/share/pocketsphinx/test/data/librivox/sense_and_sensibility_01_austen_64kb-0880.wav
for tool in ffmpeg pocketsphinx_continuous redis-server redis-cli node; do
	command -v "$tool" >/dev/null ||
		{ echo "ok - transcribe_shared__skipped (no $tool: run scripts/bootstrap)"; finish; }
done
[ -d "$SRC/tests/s3/node_modules/@20minutes/s3rver" ] ||
	{ echo "ok - transcribe_shared__skipped (no tests/s3/node_modules: run scripts/bootstrap)"; finish; }
[ -r "$clip" ] || { echo "missing $clip (pocketsphinx-testdata)" >&2; exit 2; }
unset ARCA_TIERS AWS_SESSION_TOKEN AWS_PROFILE AWS_REGION AWS_DEFAULT_REGION
export AWS_SHARED_CREDENTIALS_FILE=/nonexistent/credentials
export S3_TEST_ACCESS_KEY=AKIATESTSHARED S3_TEST_SECRET=shared-e2e-secret-1
export AWS_ACCESS_KEY_ID=$S3_TEST_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$S3_TEST_SECRET
FFMPEG=$(command -v ffmpeg)

# ---- the servers ------------------------------------------------------
start_redis
REDIS_PORT=$PORT
start_s3 team
RURL="redis://127.0.0.1:$REDIS_PORT"
SURL="s3://team/arca?endpoint=http://127.0.0.1:$S3_PORT&region=us-east-1"
rcli() { timeout 10 redis-cli -p "$REDIS_PORT" "$@"; }
s3_requests() { wc -l <"$TEST_TMP/s3.log" | tr -d ' '; }
redis_connections() { rcli info stats | sed -n 's/^total_connections_received:\([0-9]*\).*/\1/p'; }

# ---- the tool stand-ins -----------------------------------------------
BIN=$TEST_TMP/bin
mkdir -p "$BIN"
for tool in ffmpeg ffprobe pocketsphinx pocketsphinx_continuous; do
	real=$(command -v "$tool") || continue
	# A fresh file, never one that exists (the real tool, say).
	[ ! -e "$BIN/$tool" ] || { echo "$BIN/$tool exists" >&2; exit 2; }
	cat >"$BIN/$tool" <<EOS
#!/bin/sh
# Stand-in for $tool: logs the call; with TOOL_FORBID set, refuses to run.
echo "$tool \$*" >>"\$TOOL_LOG"
if [ -n "\${TOOL_FORBID:-}" ]; then
	echo "$tool: must not run on this machine" >&2
	exit 1
fi
exec $real "\$@"
EOS
	chmod +x "$BIN/$tool"
done
export PATH="$BIN:$PATH"

# As in tests/e2e/test_transcribe.sh: 44.1 kHz stereo FLAC, so transcode
# has work to do (made with the real ffmpeg, not the stand-in).
"$FFMPEG" -nostdin -hide_banner -loglevel error -i "$clip" -map_metadata -1 \
	-fflags +bitexact -flags:a +bitexact -ar 44100 -ac 2 -c:a flac \
	"$TEST_TMP/clip.flac" || { echo "cannot make the FLAC clip" >&2; exit 2; }

# ---- the machines -----------------------------------------------------
# machine NAME: an empty store with the shared tiers and its own work dir.
machine() {
	mkdir -p "$TEST_TMP/$1/store" "$TEST_TMP/$1/tmp"
	cat >"$TEST_TMP/$1/store/config.yaml" <<EOY
tiers:
  - url: "$RURL"
    max_blob_size: 64K
    timeout_ms: 2000
  - url: "$SURL"
    timeout_ms: 5000
EOY
	: >"$TEST_TMP/$1/tools.log"
}
# on NAME CMD...: CMD as machine NAME, bounded; sets RC, OUT, ERR.
on() {
	local m=$1
	shift
	run env ARCA_DIR="$TEST_TMP/$m/store" TMPDIR="$TEST_TMP/$m/tmp" \
		TOOL_LOG="$TEST_TMP/$m/tools.log" timeout 120 "$@"
}
# pipeline NAME [ENV=VALUE...]: the transcribe script as machine NAME,
# writing $TEST_TMP/NAME/transcript.md; its stderr is kept in NAME/run.log.
pipeline() {
	local m=$1
	shift
	local t0=$EPOCHREALTIME
	on "$m" env "$@" "$transcribe" "$TEST_TMP/clip.flac" "$TEST_TMP/$m/transcript.md"
	cp "$ERR_FILE" "$TEST_TMP/$m/run.log"
	echo "# machine $m: pipeline $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }') s"
}
tools() { wc -l <"$TEST_TMP/$1/tools.log" | tr -d ' '; }
# tier NAME I FIELD: the field of tier I in `arca stats --json` of machine NAME.
tier() {
	ARCA_DIR=$TEST_TMP/$1/store timeout 30 "$ARCA" stats --json |
		/usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["tiers"][int(sys.argv[1])][sys.argv[2]])' "$2" "$3"
}
# stage NAME STAGE FIELD: that stage's field in `arca stats --json` of NAME.
stage() {
	ARCA_DIR=$TEST_TMP/$1/store timeout 30 "$ARCA" stats --json --no-remote |
		/usr/bin/python3 -c 'import json, sys
print(sum(s[sys.argv[2]] for s in json.load(sys.stdin)["stages"] if s["stage"] == sys.argv[1]))' "$2" "$3"
}
# ge / le NAME GOT BOUND: pass when GOT >= BOUND / GOT <= BOUND (integers).
ge() {
	if [ "$2" -ge "$3" ] 2>/dev/null; then pass "$1"; else fail "$1" "expected >= $3, got '$2'"; fi
}
le() {
	if [ "$2" -le "$3" ] 2>/dev/null; then pass "$1"; else fail "$1" "expected <= $3, got '$2'"; fi
}
# wav_digest NAME: the digest of NAME's audio.wav.
wav_digest() { sha256sum "$TEST_TMP/$1"/tmp/arca-transcribe-*/*/audio.wav | cut -d' ' -f1; }
words_digest() { sha256sum "$TEST_TMP/$1"/tmp/arca-transcribe-*/*/words.txt | cut -d' ' -f1; }

# An arca that uses the local tier alone, for machines without the tiers.
cat >"$TEST_TMP/arca-no-remote" <<EOS
#!/bin/sh
exec "$ARCA" --no-remote "\$@"
EOS
chmod +x "$TEST_TMP/arca-no-remote"

# ---- A: cold, everything computed and written through -------------------
machine A
pipeline A
check_rc "a__exit_0" 0
for stage in transcode transcribe format; do
	assert_contains "a__${stage}_computed" "$ERR" "arca: stored $stage "
done
assert_not_contains "a__no_warning" "$ERR" "warning"
ge "a__ffmpeg_ran" "$(grep -c '^ffmpeg ' "$TEST_TMP/A/tools.log")" 1
ge "a__pocketsphinx_ran" "$(grep -c '^pocketsphinx_continuous ' "$TEST_TMP/A/tools.log")" 1
assert_contains "a__transcript_words" "$(cat "$TEST_TMP/A/transcript.md")" "young man"
WAV=$(wav_digest A)
WORDS=$(words_digest A)
ge "a__wav_over_redis_limit" "$(stat -c %s "$TEST_TMP"/A/tmp/arca-transcribe-*/*/audio.wav)" 65537
# Where the blobs went: the WAV to S3 only, the words to both.
assert_eq "a__wav_not_in_redis" 0 "$(rcli exists "arca:v1:cas:$WAV")"
assert_eq "a__words_in_redis" 1 "$(rcli exists "arca:v1:cas:$WORDS")"
assert_contains "a__wav_in_s3" "$(cat "$TEST_TMP/s3.log")" "PUT /team/arca/cas/$WAV 200"
assert_contains "a__words_in_s3" "$(cat "$TEST_TMP/s3.log")" "PUT /team/arca/cas/$WORDS 200"
ge "a__redis_declined_the_wav" "$(tier A 0 not_stored)" 1
ge "a__redis_stored" "$(tier A 0 stored)" 1
ge "a__s3_stored" "$(tier A 1 stored)" 1

# ---- B: every stage restored from the shared tiers ----------------------
machine B
s3_before=$(s3_requests)
pipeline B TOOL_FORBID=1
check_rc "b__exit_0" 0
for stage in transcode transcribe format; do
	assert_contains "b__${stage}_restored" "$ERR" "arca: hit $stage "
done
assert_not_contains "b__nothing_computed" "$ERR" "arca: miss"
for stage in transcode transcribe format; do
	assert_eq "b__stats_${stage}_one_hit_no_miss" "1 0" \
		"$(stage B "$stage" hits) $(stage B "$stage" misses)"
done
assert_eq "b__no_tool_ran" 0 "$(tools B)"
assert_files_eq "b__transcript_identical_to_a" "$TEST_TMP/A/transcript.md" "$TEST_TMP/B/transcript.md"
assert_eq "b__wav_identical_to_a" "$WAV" "$(wav_digest B)"
# Hits from both tiers: transcribe and format from Redis, transcode (its
# entry names the WAV Redis declined) from S3.
assert_eq "b__redis_hits" 2 "$(tier B 0 hits)"
assert_eq "b__s3_hits" 1 "$(tier B 1 hits)"
ge "b__s3_bytes_down_has_the_wav" "$(tier B 1 bytes_down)" 65536
le "b__redis_bytes_down_small" "$(tier B 0 bytes_down)" 65535
assert_contains "b__wav_from_s3" "$(tail -n +"$((s3_before + 1))" "$TEST_TMP/s3.log")" \
	"GET /team/arca/cas/$WAV 200"
assert_not_contains "b__words_not_from_s3" "$(tail -n +"$((s3_before + 1))" "$TEST_TMP/s3.log")" \
	"GET /team/arca/cas/$WORDS"
# Promoted: B's own store now has all three, with no tier at all.
rm -rf "$TEST_TMP"/B/tmp/arca-transcribe-*
pipeline B TOOL_FORBID=1 ARCA="$TEST_TMP/arca-no-remote"
check_rc "b__local_rerun_exit_0" 0
assert_eq "b__local_rerun_three_hits" 3 "$(grep -c '^arca: hit ' "$TEST_TMP/B/run.log")"
assert_files_eq "b__local_rerun_identical" "$TEST_TMP/A/transcript.md" "$TEST_TMP/B/transcript.md"

# ---- C: --no-remote computes locally, asks neither server ---------------
machine C
s3_before=$(s3_requests)
redis_before=$(redis_connections)
pipeline C ARCA="$TEST_TMP/arca-no-remote"
check_rc "c__exit_0" 0
for stage in transcode transcribe format; do
	assert_contains "c__${stage}_computed" "$ERR" "arca: stored $stage "
done
ge "c__tools_ran" "$(tools C)" 2
assert_files_eq "c__transcript_identical_to_a" "$TEST_TMP/A/transcript.md" "$TEST_TMP/C/transcript.md"
assert_eq "c__no_s3_request" "$s3_before" "$(s3_requests)"
# One connection more: the redis-cli asking.
assert_eq "c__no_redis_connection" "$((redis_before + 1))" "$(redis_connections)"

# ---- L: the plain local pipeline (real tools, no tiers) -----------------
mkdir -p "$TEST_TMP/L/tmp"
run env -u TOOL_LOG ARCA_DIR="$TEST_TMP/L/store" TMPDIR="$TEST_TMP/L/tmp" \
	PATH="${PATH#"$BIN:"}" timeout 120 "$transcribe" "$TEST_TMP/clip.flac" "$TEST_TMP/L/transcript.md"
check_rc "l__exit_0" 0
assert_contains "l__transcribe_computed" "$ERR" "arca: stored transcribe "
assert_files_eq "l__transcript_identical_to_a" "$TEST_TMP/A/transcript.md" "$TEST_TMP/L/transcript.md"

# ---- D: redis-server SIGKILLed between two stages ------------------------
# An arca that, once the transcode stage is done, SIGKILLs redis-server
# and waits until it no longer answers (at most 5 s).
cat >"$TEST_TMP/arca-kill-redis" <<EOS
#!/bin/sh
"$ARCA" "\$@"
rc=\$?
case " \$* " in
*" --stage transcode "*)
	kill -9 $REDIS_PID
	for _ in \$(seq 100); do
		redis-cli -p $REDIS_PORT ping >/dev/null 2>&1 || break
		sleep 0.05
	done ;;
esac
exit \$rc
EOS
chmod +x "$TEST_TMP/arca-kill-redis"
machine D
pipeline D TOOL_FORBID=1 ARCA="$TEST_TMP/arca-kill-redis"
wait "$REDIS_PID" 2>/dev/null
check_rc "d__exit_0" 0
check_fails "d__redis_is_dead" rcli ping
for stage in transcode transcribe format; do
	assert_contains "d__${stage}_restored" "$(cat "$TEST_TMP/D/run.log")" "arca: hit $stage "
done
assert_eq "d__no_tool_ran" 0 "$(tools D)"
assert_files_eq "d__transcript_identical_to_a" "$TEST_TMP/A/transcript.md" "$TEST_TMP/D/transcript.md"
assert_contains "d__warns_about_redis" "$(cat "$TEST_TMP/D/run.log")" \
	"arca: warning: redis tier $RURL"
assert_eq "d__s3_hits" 3 "$(tier D 1 hits)"
ge "d__redis_errors_counted" "$(tier D 0 errors)" 2

finish
