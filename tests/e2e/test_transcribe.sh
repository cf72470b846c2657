#!/usr/bin/env bash
# End to end: the reference pipeline (examples/transcribe) on one real
# LibriVox clip, through the built arca. A cold run computes every stage, a
# warm run restores them, and both give the same bytes.
#
# ctest sets ARCA (the binary) and ARCA_SRC (the repo root).
# shellcheck disable=SC2317  # helpers called through check look unreachable
set -uo pipefail

ARCA_SRC=${ARCA_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
: "${ARCA:?set ARCA to the arca binary}"
export ARCA
transcribe=$ARCA_SRC/examples/transcribe/transcribe
clip=/usr/share/pocketsphinx/test/data/librivox/sense_and_sensibility_01_austen_64kb-0880.wav

passed=0
failed=0

ok() {
  passed=$((passed + 1))
  echo "ok - $1"
}

not_ok() {
  failed=$((failed + 1))
  echo "not ok - $1"
  shift
  local line
  for line in "$@"; do echo "#   $line"; done
}

# check DESCRIPTION COMMAND...: passes when COMMAND succeeds.
check() {
  local desc=$1
  shift
  if "$@"; then ok "$desc"; else not_ok "$desc" "command: $*"; fi
}

# check_log DESCRIPTION FILE REGEX: passes when a line of FILE matches.
check_log() {
  if grep -Eq "$3" "$2"; then
    ok "$1"
  else
    not_ok "$1" "no line matching /$3/ in $2:" "$(sed 's/^/  /' "$2")"
  fi
}

# has_no_markers FILE: none of pocketsphinx's markers made it into FILE.
has_no_markers() {
  ! grep -Eq '<s>|</s>|<sil>|\[SPEECH\]|\[NOISE\]|\([0-9]+\)' "$1"
}

# is_one_line_saying FILE TEXT
is_one_line_saying() {
  [[ $(wc -l <"$1") -eq 1 ]] && grep -q "$2" "$1"
}

finish() {
  echo "$passed passed, $failed failed"
  ((failed == 0))
  exit
}

for tool in ffmpeg pocketsphinx_continuous; do
  command -v "$tool" >/dev/null ||
    { not_ok "$tool is installed" "run scripts/bootstrap"; finish; }
done
[[ -r $clip ]] || { not_ok "test clip present" "$clip (pocketsphinx-testdata)"; finish; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The pipeline's work dirs go under TMPDIR; keep them inside $tmp.
export TMPDIR=$tmp/tmp
mkdir -p "$TMPDIR"
store=$tmp/store

# The clip is 16 kHz mono; as 44.1 kHz stereo FLAC it gives the transcode
# stage real work, as a user's recording would.
ffmpeg -nostdin -hide_banner -loglevel error -i "$clip" -map_metadata -1 \
  -fflags +bitexact -flags:a +bitexact -ar 44100 -ac 2 -c:a flac "$tmp/clip.flac" ||
  { not_ok "make the FLAC test clip"; finish; }

# The transcode stage is only worth caching if ffmpeg is deterministic:
# the same input must give the same audio.wav bytes on every run.
for i in 1 2; do
  ffmpeg -nostdin -hide_banner -loglevel error -i "$tmp/clip.flac" \
    -map_metadata -1 -fflags +bitexact -flags:a +bitexact \
    -ac 1 -ar 16000 -c:a pcm_s16le -f wav "$tmp/plain$i.wav"
done
check "two plain ffmpeg transcodes are byte-identical" \
  cmp "$tmp/plain1.wav" "$tmp/plain2.wav"

# ---- cold run -------------------------------------------------------------
"$transcribe" --store "$store" "$tmp/clip.flac" "$tmp/cold.md" 2>"$tmp/cold.log"
check "cold run exits 0" test $? -eq 0
check_log "cold run misses transcode" "$tmp/cold.log" '^arca: miss transcode '
check_log "cold run misses transcribe" "$tmp/cold.log" '^arca: miss transcribe '
check_log "cold run misses format" "$tmp/cold.log" '^arca: miss format '
check "transcript has a title naming the source" \
  grep -q '^# Transcript: clip\.flac$' "$tmp/cold.md"
# What PocketSphinx hears in this clip: "he was not an illness those young man".
check_log "transcript has the words 'was not'" "$tmp/cold.md" '\bwas not\b'
check_log "transcript has the words 'young man'" "$tmp/cold.md" '\byoung man\b'
check_log "transcript lines carry [mm:ss.s] stamps" "$tmp/cold.md" '^- \[00:00\.[0-9]\] '
check "transcript drops fillers and pronunciation marks" has_no_markers "$tmp/cold.md"

# ---- warm run -------------------------------------------------------------
# Remove the work dir, so every file must come back from the store.
rm -rf "${TMPDIR:?}"/arca-transcribe-*
"$transcribe" --store "$store" "$tmp/clip.flac" "$tmp/warm.md" 2>"$tmp/warm.log"
check "warm run exits 0" test $? -eq 0
check_log "warm run hits transcode" "$tmp/warm.log" '^arca: hit transcode '
check_log "warm run hits transcribe" "$tmp/warm.log" '^arca: hit transcribe '
check_log "warm run hits format" "$tmp/warm.log" '^arca: hit format '
check "cold and warm transcripts are byte-identical" cmp "$tmp/cold.md" "$tmp/warm.md"
check "the restored audio.wav equals a plain ffmpeg transcode" \
  cmp "$tmp/plain1.wav" "$(echo "$TMPDIR"/arca-transcribe-*/*/audio.wav)"

# ---- the key follows the bytes, not the path ------------------------------
# A copy under another directory and name: same bytes, so transcode and
# transcribe hit (format reruns: the source name is part of its argv).
mkdir -p "$tmp/elsewhere"
cp "$tmp/clip.flac" "$tmp/elsewhere/copy.flac"
(cd "$tmp/elsewhere" && "$transcribe" --store "$store" copy.flac copy.md) 2>"$tmp/copy.log"
check "run on a renamed copy exits 0" test $? -eq 0
check_log "renamed copy hits transcode" "$tmp/copy.log" '^arca: hit transcode '
check_log "renamed copy hits transcribe" "$tmp/copy.log" '^arca: hit transcribe '

# Different bytes (the same clip, quieter) must not hit.
ffmpeg -nostdin -hide_banner -loglevel error -i "$tmp/clip.flac" -map_metadata -1 \
  -fflags +bitexact -flags:a +bitexact -af volume=0.5 -c:a flac "$tmp/quiet.flac"
"$transcribe" --store "$store" "$tmp/quiet.flac" "$tmp/quiet.md" 2>"$tmp/quiet.log"
check "run on changed audio exits 0" test $? -eq 0
check_log "changed audio misses transcode" "$tmp/quiet.log" '^arca: miss transcode '

# ---- errors ---------------------------------------------------------------
"$transcribe" --store "$store" "$tmp/missing.flac" "$tmp/x.md" 2>"$tmp/missing.log"
check "missing audio fails" test $? -ne 0
check "missing audio says so in one line" \
  is_one_line_saying "$tmp/missing.log" "no such file"
echo "not audio" >"$tmp/text.txt"
"$transcribe" --store "$store" "$tmp/text.txt" "$tmp/x.md" 2>"$tmp/text.log"
check "a file ffmpeg cannot read fails" test $? -ne 0
check "and leaves no transcript" test ! -e "$tmp/x.md"

finish
