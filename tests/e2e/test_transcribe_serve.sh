#!/usr/bin/env bash
# End to end, issue 10: two machines share the reference pipeline
# (examples/transcribe/transcribe, on a real LibriVox clip) through one
# `arca serve` (started here on a free 127.0.0.1 port, killed by PID) and
# the http:// tier. A "machine" is a store directory (ARCA_DIR) with its
# own work dir (TMPDIR), all with the same config.yaml tiers: the server.
#
#   A  empty store: every stage computes and is written through
#   B  another empty store: every stage restored from the server, with
#      ffmpeg and PocketSphinx refusing to run; byte-identical transcript;
#      then, promoted, the same with --no-remote
#   D  the server SIGKILLed after the transcode stage: transcode restored
#      from it, transcribe and format computed locally, exit 0, the same
#      transcript, the dead tier said in a warning
#
# Proving "never ran" as tests/e2e/test_transcribe_shared.sh does: the
# tools are stand-ins on PATH that log each call and, with TOOL_FORBID
# set, exit 1 instead of running the real tool. Every machine uses the
# same stand-ins (a stage's key holds the digest of the tool PATH
# resolves), and A's log shows they are really in the way.
SERVE_LIB=$(cd "$(dirname "$0")/.." && pwd)/serve_lib.sh
# shellcheck source=../lib.sh
. "${ARCA_TEST_LIB:-$(dirname "$0")/../lib.sh}" || exit 2
# shellcheck source=../serve_lib.sh
. "$SERVE_LIB"
if [ -z "${TEST_TMP:-}" ] || [ ! -d "$TEST_TMP" ]; then
	echo "lib.sh did not make TEST_TMP" >&2
	exit 2
fi

SRC=${ARCA_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
transcribe=$SRC/examples/transcribe/transcribe
clip=/usr/share/pocketsphinx/test/data/librivox/sense_and_sensibility_01_austen_64kb-0880.wav
for tool in ffmpeg pocketsphinx_continuous curl; do
	command -v "$tool" >/dev/null ||
		{ echo "ok - transcribe_serve__skipped (no $tool: run scripts/bootstrap)"; finish; }
done
[ -r "$clip" ] || { echo "missing $clip (pocketsphinx-testdata)" >&2; exit 2; }
unset ARCA_TIERS
exec </dev/null
FFMPEG=$(command -v ffmpeg)

start_server srv --store "$TEST_TMP/srv" || { fail "started"; finish; }
URL=$SRV_URL
LOG=$SRV_ERR
if curl -s -I --max-time 10 "$URL/status" | tr -d '\r' | grep -qi '^X-Arca-Api: 1$'; then
	CAS=/v1/blobs
else
	CAS=/cas
fi
echo "# server: $URL, blobs on $CAS"

# ---- the tool stand-ins -----------------------------------------------
BIN=$TEST_TMP/bin
mkdir -p "$BIN"
for tool in ffmpeg ffprobe pocketsphinx pocketsphinx_continuous; do
	real=$(command -v "$tool") || continue
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

"$FFMPEG" -nostdin -hide_banner -loglevel error -i "$clip" -map_metadata -1 \
	-fflags +bitexact -flags:a +bitexact -ar 44100 -ac 2 -c:a flac \
	"$TEST_TMP/clip.flac" || { echo "cannot make the FLAC clip" >&2; exit 2; }

# ---- the machines -----------------------------------------------------
machine() {
	mkdir -p "$TEST_TMP/$1/store" "$TEST_TMP/$1/tmp"
	printf 'tiers:\n  - url: "%s"\n    timeout_ms: 5000\n' "$URL" \
		>"$TEST_TMP/$1/store/config.yaml"
	: >"$TEST_TMP/$1/tools.log"
}
on() {
	local m=$1
	shift
	run env ARCA_DIR="$TEST_TMP/$m/store" TMPDIR="$TEST_TMP/$m/tmp" \
		TOOL_LOG="$TEST_TMP/$m/tools.log" timeout 120 "$@"
}
pipeline() {
	local m=$1
	shift
	local t0=$EPOCHREALTIME
	on "$m" env "$@" "$transcribe" "$TEST_TMP/clip.flac" "$TEST_TMP/$m/transcript.md"
	cp "$ERR_FILE" "$TEST_TMP/$m/run.log"
	echo "# machine $m: pipeline $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }') s"
}
tools() { wc -l <"$TEST_TMP/$1/tools.log" | tr -d ' '; }
tier() {
	ARCA_DIR=$TEST_TMP/$1/store timeout 30 "$ARCA" stats --json |
		/usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["tiers"][int(sys.argv[1])][sys.argv[2]])' "$2" "$3"
}
ge() {
	if [ "$2" -ge "$3" ] 2>/dev/null; then pass "$1"; else fail "$1" "expected >= $3, got '$2'"; fi
}
wav_digest() { sha256sum "$TEST_TMP/$1"/tmp/arca-transcribe-*/*/audio.wav | cut -d' ' -f1; }

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
assert_contains "a__wav_put_to_server" "$(cat "$LOG")" "PUT $CAS/$WAV 20"
ge "a__tier_stored" "$(tier A 0 stored)" 3

# ---- B: every stage restored from the server ---------------------------
machine B
lines_before=$(wc -l <"$LOG")
pipeline B TOOL_FORBID=1
check_rc "b__exit_0" 0
for stage in transcode transcribe format; do
	assert_contains "b__${stage}_restored" "$ERR" "arca: hit $stage "
done
assert_not_contains "b__nothing_computed" "$ERR" "arca: miss"
assert_not_contains "b__no_warning" "$ERR" "warning"
assert_eq "b__no_tool_ran" 0 "$(tools B)"
assert_files_eq "b__transcript_identical_to_a" "$TEST_TMP/A/transcript.md" "$TEST_TMP/B/transcript.md"
assert_eq "b__wav_identical_to_a" "$WAV" "$(wav_digest B)"
assert_eq "b__three_tier_hits" 3 "$(tier B 0 hits)"
ge "b__bytes_down_has_the_wav" "$(tier B 0 bytes_down)" 65536
assert_contains "b__wav_from_server" "$(tail -n +"$((lines_before + 1))" "$LOG")" \
	"GET $CAS/$WAV 200"
rm -rf "$TEST_TMP"/B/tmp/arca-transcribe-*
pipeline B TOOL_FORBID=1 ARCA="$TEST_TMP/arca-no-remote"
check_rc "b__local_rerun_exit_0" 0
assert_eq "b__local_rerun_three_hits" 3 "$(grep -c '^arca: hit ' "$TEST_TMP/B/run.log")"
assert_files_eq "b__local_rerun_identical" "$TEST_TMP/A/transcript.md" "$TEST_TMP/B/transcript.md"

# ---- D: the server SIGKILLed after the transcode stage ------------------
cat >"$TEST_TMP/arca-kill-server" <<EOS
#!/bin/sh
"$ARCA" "\$@"
rc=\$?
case " \$* " in
*" --stage transcode "*)
	kill -9 $SRV_PID
	for _ in \$(seq 100); do
		curl -s -o /dev/null --max-time 1 "$URL/status" || break
		sleep 0.05
	done ;;
esac
exit \$rc
EOS
chmod +x "$TEST_TMP/arca-kill-server"
machine D
pipeline D ARCA="$TEST_TMP/arca-kill-server"
check_rc "d__exit_0" 0
assert_eq "d__server_dead" "" "$(curl -s --max-time 2 "$URL/status")"
assert_contains "d__transcode_restored" "$ERR" "arca: hit transcode "
assert_contains "d__transcribe_computed_locally" "$ERR" "arca: stored transcribe "
assert_contains "d__format_computed_locally" "$ERR" "arca: stored format "
assert_eq "d__ffmpeg_not_run" 0 "$(grep -c '^ffmpeg ' "$TEST_TMP/D/tools.log")"
ge "d__pocketsphinx_ran_locally" "$(grep -c '^pocketsphinx_continuous ' "$TEST_TMP/D/tools.log")" 1
assert_files_eq "d__transcript_identical_to_a" "$TEST_TMP/A/transcript.md" "$TEST_TMP/D/transcript.md"
assert_contains "d__warns_about_the_tier" "$ERR" "arca: warning: http tier $URL"
# Each process that meets the dead tier says so once, at most: the
# transcribe and format stages are two processes.
w=$(grep -c 'warning' "$TEST_TMP/D/run.log")
if [ "$w" -ge 1 ] && [ "$w" -le 2 ]; then pass "d__one_warning_per_process ($w)"; else fail "d__one_warning_per_process" "$w warnings"; fi

finish
