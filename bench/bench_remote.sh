#!/usr/bin/env bash
# The shared tiers against the servers' own clients, run side by side in
# the same session (issue 9; see bench/README.md, "Shared tiers"):
#   1. Redis, 1 KiB: the in-process latency of a remote hit
#      (bench_remote: arca_blob_get() through a store whose tier 0 never
#      has the blob) vs redis-benchmark's GET latency (-c 1 -P 1) on the
#      same server; also `arca get` per process vs `redis-cli GET`.
#   2. S3, 256 MiB: `arca get DIGEST -o FILE` from an empty local store vs
#      `curl` GET of the same object on tests/s3/server.js, wall time and
#      peak RSS; stored uncompressed (compress=0: curl gets the same
#      bytes) and, for information, compressible bytes stored with zstd.
#   3. Breaker: 100 `arca run` hits (the stage is in tier 0) with the Redis
#      tier stalled (SIGSTOP) vs 100 with --no-remote: the added time in
#      units of the tier's timeout_ms.
# Every server is started here on a free 127.0.0.1 port and killed by PID.
#
# Usage: bench/bench_remote.sh [BUILD_DIR]
#   BUILD_DIR  holds arca and bench/bench_remote (default: $ARCA_BUILD,
#              else the directory of $ARCA, else <repo>/build)
# Environment:
#   REPEAT=3              rounds (each runs every part)
#   HITS=50000            in-process hits per round, and as many GETs of
#                         redis-benchmark, in CHUNKS=5 turns each (each
#                         turn of arca also makes 1,000 hits to warm up)
#   CLI_HITS=200          `arca get` / `redis-cli GET` processes per round
#   BIG_MIB=256           size of the S3 blob
#   BREAKER_RUNS=100      `arca run` hits per side and round
#   BREAKER_TIMEOUT_MS=1000  the stalled tier's timeout_ms
#   ARCA_BENCH_WORK       work directory, kept (default: a fresh one under
#                         ${TMPDIR:-/tmp}, removed at the end); needs about
#                         6 x BIG_MIB of space
#   ARCA_BENCH_STRICT=1   exit 1 when a target is missed
# Exit 0 with a "skipped" line when redis-server, redis-benchmark, node or
# the S3 test server's node_modules are missing. The output is also saved
# as bench/out/remote-<date>.txt unless BENCH_REMOTE_NO_LOG=1 (run.sh,
# which saves its own).
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" bench_remote.sh "$@"
REPEAT=${REPEAT:-3}
HITS=${HITS:-50000}
CHUNKS=${CHUNKS:-5}
CLI_HITS=${CLI_HITS:-200}
BIG_MIB=${BIG_MIB:-256}
BREAKER_RUNS=${BREAKER_RUNS:-100}
BREAKER_TIMEOUT_MS=${BREAKER_TIMEOUT_MS:-1000}

bench_remote=$build/bench/bench_remote
[[ -x $bench_remote ]] || die "no $bench_remote: build first (make build)"
bench_positive REPEAT HITS CHUNKS CLI_HITS BIG_MIB BREAKER_RUNS BREAKER_TIMEOUT_MS
missing=()
for cmd in redis-server redis-cli redis-benchmark node curl bc awk python3; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
done
[[ -d $repo/tests/s3/node_modules/@20minutes/s3rver ]] ||
  missing+=("tests/s3/node_modules (scripts/bootstrap)")
if ((${#missing[@]} > 0)); then
  echo "bench_remote: skipped (missing ${missing[*]})"
  exit 0
fi
[[ -x /usr/bin/time ]] || die "no /usr/bin/time (package time: scripts/bootstrap)"

if [[ -n ${ARCA_BENCH_WORK:-} ]]; then
  work=$ARCA_BENCH_WORK
  mkdir -p "$work"
else
  work=$(mktemp -d "${TMPDIR:-/tmp}/arca-bench-remote.XXXXXX")
fi
work=$(cd "$work" && pwd)

PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do
    kill -CONT "$p" 2>/dev/null || true
    kill "$p" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  [[ -n ${ARCA_BENCH_WORK:-} ]] || rm -rf "$work"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
now() { date +%s.%N; }
# The tiers the bench configures are its own: nothing from the caller's
# environment or ~/.config.
unset ARCA_TIERS ARCA_DIR AWS_SESSION_TOKEN AWS_PROFILE AWS_REGION AWS_DEFAULT_REGION
export XDG_CONFIG_HOME=$work/xdg
export AWS_SHARED_CREDENTIALS_FILE=/nonexistent/credentials
export S3_TEST_ACCESS_KEY=AKIABENCHREMOTE S3_TEST_SECRET=bench-remote-secret
export AWS_ACCESS_KEY_ID=$S3_TEST_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$S3_TEST_SECRET
A() { timeout 120 "$arca" "$@"; }

start_redis() {
  REDIS_PORT=$(free_port)
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' \
    --appendonly no --daemonize no >"$work/redis.log" 2>&1 &
  REDIS_PID=$!
  PIDS+=("$REDIS_PID")
  for _ in $(seq 100); do
    redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  die "redis-server did not start (see $work/redis.log)"
}

start_s3() {
  mkdir -p "$work/s3data"
  rm -f "$work/s3.port"
  node "$repo/tests/s3/server.js" "$work/s3data" "$work/s3.port" bench \
    >"$work/s3.log" 2>&1 &
  S3_PID=$!
  PIDS+=("$S3_PID")
  for _ in $(seq 300); do [[ -s $work/s3.port ]] && break; sleep 0.05; done
  [[ -s $work/s3.port ]] || die "the S3 test server did not start (see $work/s3.log)"
  S3_PORT=$(cat "$work/s3.port")
  S3_ENDPOINT=http://127.0.0.1:$S3_PORT
}

store_config() { # DIR URL [EXTRA YAML LINES]
  mkdir -p "$1"
  printf 'tiers:\n  - url: "%s"\n' "$2" >"$1/config.yaml"
  [[ $# -lt 3 ]] || printf '%s\n' "$3" >>"$1/config.yaml"
}

# "<system> key=value ..." into the round's results.
result() { echo "$*"; echo "$round $*" >>"$results"; }

# /usr/bin/time's %M (peak RSS, KiB) and the wall time of CMD, as
# "s=… rss_kib=…"; CMD's own output goes to $work/cmd.err.
timed() {
  local t0 t1
  sync
  t0=$(now)
  /usr/bin/time -f %M -o "$work/rss" "$@" 2>"$work/cmd.err" ||
    { cat "$work/cmd.err" >&2; die "failed: $*"; }
  t1=$(now)
  echo "s=$(echo "$t1 - $t0" | bc) rss_kib=$(tail -1 "$work/rss")"
}

# ---- 1. Redis, 1 KiB ------------------------------------------------------
# The median of the numbers on stdin.
median() { sort -g | awk '{ v[NR] = $1 } END { print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

redis_round() {
  local dir=$work/redis.$round out digest csv chunk=$((HITS / CHUNKS)) c
  local arca_means= arca_p50s= bench_means= bench_p50s= pair_ratios= a b t0 t1 i key
  mkdir -p "$dir"
  # SET first so that GET reads a 1 KiB value (-t get alone would GET a
  # missing key).
  redis-benchmark -p "$REDIS_PORT" -t set -d 1024 -n 1000 -c 1 -P 1 -q \
    >/dev/null || die "redis-benchmark -t set failed"
  # CHUNKS turns each: arca's hits, then redis-benchmark's GETs, so that
  # a burst of load from elsewhere falls on one chunk, not on one side;
  # each side's figure is the median over its chunks.
  for ((c = 1; c <= CHUNKS; c++)); do
    out=$("$bench_remote" "$dir/$c" "redis://127.0.0.1:$REDIS_PORT" "$chunk" 1024) ||
      die "bench_remote failed"
    digest=$(sed -n 's/^digest //p' <<<"$out")
    a=$(sed -n 's/^arca_hit .*mean_us=\([0-9.]*\).*/\1/p' <<<"$out")
    arca_means+="$a "
    arca_p50s+="$(sed -n 's/^arca_hit p50_us=\([0-9.]*\).*/\1/p' <<<"$out") "
    # The GET line: "GET",rps,avg,min,p50,p95,p99,max (ms). With one
    # client and no pipelining the requests are serial, so 1/rps is the
    # mean time of one GET (redis-benchmark times the run in ms: at least
    # 10,000 GETs keep that within 1%). Its latency percentiles come from
    # an HDR histogram whose lowest discernible value is 10 us, i.e.
    # buckets of 8 us at this scale (8, 15, 23 us): too coarse to compare
    # with, so hist_p50_us is for information only.
    csv=$(redis-benchmark -p "$REDIS_PORT" -t get -d 1024 -n "$chunk" \
      -c 1 -P 1 --csv --precision 3) || die "redis-benchmark failed"
    b=$(awk -F'"' '$2 == "GET" && $4 > 0 { printf "%.2f", 1e6 / $4 }' <<<"$csv")
    bench_means+="$b "
    bench_p50s+="$(awk -F'"' '$2 == "GET" { print $10 * 1000 }' <<<"$csv") "
    # The two turns ran back to back: their ratio.
    pair_ratios+="$(awk -v a="$a" -v b="$b" 'BEGIN { if (b > 0) printf "%.3f", a / b }') "
  done
  [[ $(wc -w <<<"$bench_means") == "$CHUNKS" && $(wc -w <<<"$arca_means") == "$CHUNKS" ]] ||
    die "cannot read the hit figures: $csv"
  result "arca_hit mean_us=$(tr ' ' '\n' <<<"$arca_means" | grep . | median)" \
    "p50_us=$(tr ' ' '\n' <<<"$arca_p50s" | grep . | median) n=$HITS size=1024"
  result "redis_bench mean_us=$(tr ' ' '\n' <<<"$bench_means" | grep . | median)" \
    "hist_p50_us=$(tr ' ' '\n' <<<"$bench_p50s" | grep . | median) n=$HITS size=1024"
  result "redis_pairs ratio=$(tr ' ' '\n' <<<"$pair_ratios" | grep . | median)"
  # One process per hit (information): `arca get` from a store without
  # the blob (promote false: every process hits the tier) vs redis-cli.
  store_config "$dir/cli" "redis://127.0.0.1:$REDIS_PORT" "    promote: false"
  A --store "$dir/cli" get "$digest" >/dev/null || die "arca get failed"
  t0=$(now)
  for ((i = 0; i < CLI_HITS; i++)); do
    "$arca" --store "$dir/cli" get "$digest" >/dev/null
  done
  t1=$(now)
  [[ $(find "$dir/cli/blobs" -type f 2>/dev/null | wc -l) == 0 ]] ||
    die "arca get promoted the blob (promote: false ignored?)"
  result "arca_get_cli ms=$(echo "($t1 - $t0) * 1000 / $CLI_HITS" | bc -l | cut -c1-6)"
  key="arca:v1:cas:$digest"
  [[ $(redis-cli -p "$REDIS_PORT" strlen "$key") == 1024 ]] ||
    die "Redis does not hold $key as 1024 bytes"
  t0=$(now)
  for ((i = 0; i < CLI_HITS; i++)); do
    redis-cli -p "$REDIS_PORT" --no-raw get "$key" >/dev/null
  done
  t1=$(now)
  result "redis_cli_get ms=$(echo "($t1 - $t0) * 1000 / $CLI_HITS" | bc -l | cut -c1-6)"
  rm -rf "$dir"
}

# ---- 2. S3, 256 MiB -------------------------------------------------------
# The blob is put once (outside the rounds) through a writer store; each
# round gets it into an empty store.
s3_put() { # NAME URL FILE: prints the digest
  local w=$work/s3writer.$1 d
  store_config "$w" "$2" "    timeout_ms: 120000"
  d=$(A --store "$w" put "$3") || die "arca put to $2 failed"
  rm -rf "$w"
  curl -sS -f -I --aws-sigv4 "aws:amz:us-east-1:s3" \
    --user "$S3_TEST_ACCESS_KEY:$S3_TEST_SECRET" \
    -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' \
    "$S3_ENDPOINT/bench/$1/cas/$d" >"$work/head.$1" ||
    die "the bucket lacks bench/$1/cas/$d after arca put"
  echo "$d"
}

s3_arca_get() { # SYSTEM URL DIGEST PROMOTE FILE
  local r=$work/s3reader fig
  rm -rf "$r" "$work/out.bin"
  store_config "$r" "$2" "    timeout_ms: 120000
    promote: $4"
  fig=$(timed "$arca" --store "$r" get "$3" -o "$work/out.bin")
  cmp -s "$5" "$work/out.bin" || die "$1: arca get wrote other bytes"
  if [[ $4 == true ]]; then
    [[ -f $r/blobs/${3:0:2}/$3 ]] || die "$1: the hit was not promoted"
  else
    [[ ! -e $r/blobs/${3:0:2}/$3 ]] || die "$1: promoted with promote: false"
  fi
  result "$1 $fig"
  rm -rf "$r" "$work/out.bin"
}

s3_curl_get() { # SYSTEM NAME DIGEST [FILE]
  local fig
  rm -f "$work/out.curl"
  fig=$(timed curl -sS -f --aws-sigv4 "aws:amz:us-east-1:s3" \
    --user "$S3_TEST_ACCESS_KEY:$S3_TEST_SECRET" \
    -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' \
    -o "$work/out.curl" "$S3_ENDPOINT/bench/$2/cas/$3")
  [[ $# -lt 4 ]] || cmp -s "$4" "$work/out.curl" ||
    die "$1: curl got other bytes than the blob"
  result "$1 $fig bytes=$(stat -c %s "$work/out.curl")"
  rm -f "$work/out.curl"
}

s3_round() {
  # Alternate the order between rounds, so that neither side always runs
  # first on a page cache the other has just filled.
  if ((round % 2)); then
    s3_curl_get curl_raw raw "$RAW_DIGEST" "$work/big.bin"
    s3_arca_get arca_raw "$RAW_URL" "$RAW_DIGEST" false "$work/big.bin"
    s3_arca_get arca_raw_promote "$RAW_URL" "$RAW_DIGEST" true "$work/big.bin"
  else
    s3_arca_get arca_raw_promote "$RAW_URL" "$RAW_DIGEST" true "$work/big.bin"
    s3_arca_get arca_raw "$RAW_URL" "$RAW_DIGEST" false "$work/big.bin"
    s3_curl_get curl_raw raw "$RAW_DIGEST" "$work/big.bin"
  fi
  # The zstd object is a frame: curl gets the compressed bytes, arca the
  # decompressed ones.
  s3_curl_get curl_zstd zstd "$ZSTD_DIGEST"
  s3_arca_get arca_zstd "$ZSTD_URL" "$ZSTD_DIGEST" false "$work/big.hex"
}

# ---- 3. Breaker -----------------------------------------------------------
breaker_setup() {
  B=$work/breaker
  store_config "$B/store" "redis://127.0.0.1:$REDIS_PORT" \
    "    timeout_ms: $BREAKER_TIMEOUT_MS"
  mkdir -p "$B/wd"
  printf '#!/bin/sh\necho run >>count\ntr a-z A-Z <in.txt >out.txt\n' >"$B/wd/stage.sh"
  chmod +x "$B/wd/stage.sh"
  echo "stage input" >"$B/wd/in.txt"
  (cd "$B/wd" && A --store "$B/store" run --stage upper --in in.txt \
    --out out.txt -- ./stage.sh >/dev/null 2>&1) || die "the first arca run failed"
}

# One hit: `arca run` of the stage already in tier 0; OPTS go before run.
# Prints its wall time in seconds.
breaker_run() {
  local t0 t1
  t0=$(now)
  (cd "$B/wd" && A --store "$B/store" "$@" run --stage upper --in in.txt \
    --out out.txt -- ./stage.sh >/dev/null 2>>"$B/err") ||
    die "arca run $* failed (see $B/err)"
  t1=$(now)
  echo "$t1 - $t0" | bc
}

# BREAKER_RUNS hits with the tier and as many with --no-remote, one of
# each in turn, so that both sides see the same load; "TIER_S BASE_S".
breaker_pairs() {
  local i tier=0 base=0
  for ((i = 0; i < BREAKER_RUNS; i++)); do
    tier=$(echo "$tier + $(breaker_run)" | bc)
    base=$(echo "$base + $(breaker_run --no-remote)" | bc)
  done
  echo "$tier $base"
}

breaker_round() {
  local healthy stalled base added timeouts openings
  rm -rf "$B/store/tiers" "$B/err"
  # The tier answering (information): what a configured tier costs a hit.
  read -r healthy _ <<<"$(breaker_pairs)"
  kill -STOP "$REDIS_PID"
  : >"$B/err"
  read -r stalled base <<<"$(breaker_pairs)"
  kill -CONT "$REDIS_PID"
  [[ $(wc -l <"$B/wd/count") == 1 ]] || die "the stage ran again: not a hit"
  timeouts=$(grep -c 'going on without this tier' "$B/err" || true)
  openings=$(grep -c 'circuit breaker open' "$B/err" || true)
  added=$(echo "$stalled - $base" | bc)
  result "breaker runs=$BREAKER_RUNS timeout_ms=$BREAKER_TIMEOUT_MS" \
    "noremote_s=$base healthy_s=$healthy stalled_s=$stalled added_s=$added" \
    "added_timeouts=$(echo "scale=2; $added * 1000 / $BREAKER_TIMEOUT_MS" | bc)" \
    "tier_timeouts=$timeouts openings=$openings"
}

main() {
  set -e
  # main runs in a subshell (the pipe to tee): the trap must be its own.
  trap cleanup EXIT
  results=$work/results.txt
  : >"$results"
  echo "# arca shared-tier benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "# $(nproc) cores, $(uname -sr), $(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")," \
    "$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
  echo "# arca $(git -C "$repo" describe --always --dirty 2>/dev/null || echo '?')," \
    "$(redis-server --version | awk '{print $3}'), node $(node --version)," \
    "REPEAT=$REPEAT HITS=$HITS BIG_MIB=$BIG_MIB BREAKER_RUNS=$BREAKER_RUNS," \
    "work dir $work ($(findmnt -n -o FSTYPE -T "$work" 2>/dev/null || stat -f -c %T "$work"))"
  echo "# load average: $(cut -d' ' -f1-3 /proc/loadavg)"

  start_redis
  start_s3
  # Random bytes (zstd cannot shrink them: stored as they are either way)
  # and their hex form (compresses to about half).
  python3 - "$work" "$BIG_MIB" <<'EOF'
import os, sys
d, mib = sys.argv[1], int(sys.argv[2])
with open(os.path.join(d, "big.bin"), "wb") as raw, \
     open(os.path.join(d, "big.hex"), "w") as hexf:
    for _ in range(mib):
        chunk = os.urandom(1 << 20)
        raw.write(chunk)
        hexf.write(chunk[: 1 << 19].hex())
EOF
  RAW_URL="s3://bench/raw?endpoint=$S3_ENDPOINT&compress=0"
  ZSTD_URL="s3://bench/zstd?endpoint=$S3_ENDPOINT"
  RAW_DIGEST=$(s3_put raw "$RAW_URL" "$work/big.bin")
  ZSTD_DIGEST=$(s3_put zstd "$ZSTD_URL" "$work/big.hex")
  grep -qi '^x-amz-meta-arca-encoding: zstd' "$work/head.zstd" ||
    die "the hex blob was not stored compressed"
  ! grep -qi '^x-amz-meta-arca-encoding' "$work/head.raw" ||
    die "the compress=0 blob was stored compressed"
  breaker_setup

  for ((round = 1; round <= REPEAT; round++)); do
    echo "## round $round"
    redis_round
    s3_round
    breaker_round
  done

  awk -v rounds="$REPEAT" -v strict="${ARCA_BENCH_STRICT:-0}" -v big="$BIG_MIB" '
  function median(list,    v, n, i, j, t) {
    n = split(list, v, " ")
    for (i = 2; i <= n; i++)
      for (j = i; j > 1 && v[j - 1] + 0 > v[j] + 0; j--) {
        t = v[j]; v[j] = v[j - 1]; v[j - 1] = t
      }
    return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
  }
  {
    sys = $2
    if (!(sys in seen)) { seen[sys] = 1; systems[++nsys] = sys }
    for (f = 3; f <= NF; f++) {
      split($f, kv, "=")
      k = sys SUBSEP kv[1]
      if (!(k in vals)) { keys[sys] = keys[sys] " " kv[1] }
      vals[k] = vals[k] " " (kv[2] + 0)
      per_round[$1 SUBSEP k] = kv[2] + 0
    }
  }
  function fig(sys, key) { return med[sys SUBSEP key] }
  function verdict(x, target) {
    if (target == "") return ""
    if (x > target + 0) misses++
    return sprintf("target <= %.2f %s", target, x <= target + 0 ? "PASS" : "MISS")
  }
  # The ratio of the medians, then the ratio within each round.
  function ratio(label, key, a, b, target,    x, r, ka, kb, rounds_s) {
    if (fig(a, key) == "" || fig(b, key) == "" || fig(b, key) == 0) {
      printf "%-34s %6s\n", label, "n/a"
      if (target != "") misses++
      return
    }
    x = fig(a, key) / fig(b, key)
    rounds_s = ""
    for (r = 1; r <= rounds; r++) {
      ka = r SUBSEP a SUBSEP key; kb = r SUBSEP b SUBSEP key
      if ((ka in per_round) && (kb in per_round) && per_round[kb] != 0)
        rounds_s = rounds_s sprintf(" %.2f", per_round[ka] / per_round[kb])
    }
    printf "%-34s %6.2f  %-22s (rounds:%s)\n", label, x, verdict(x, target), rounds_s
  }
  # A figure against a bound (not a ratio of two systems).
  function bound(label, sys, key, target,    x, r, k, rounds_s) {
    x = fig(sys, key)
    if (x == "") { printf "%-34s %6s\n", label, "n/a"; misses++; return }
    rounds_s = ""
    for (r = 1; r <= rounds; r++) {
      k = r SUBSEP sys SUBSEP key
      if (k in per_round) rounds_s = rounds_s sprintf(" %.2f", per_round[k])
    }
    printf "%-34s %6.2f  %-22s (rounds:%s)\n", label, x, verdict(x, target), rounds_s
  }
  END {
    printf "\n## medians of %d rounds\n", rounds
    for (s = 1; s <= nsys; s++) {
      sys = systems[s]
      line = sys
      n = split(substr(keys[sys], 2), ks, " ")
      for (i = 1; i <= n; i++) {
        m = median(vals[sys SUBSEP ks[i]])
        med[sys SUBSEP ks[i]] = m
        line = line " " ks[i] "=" m
      }
      print line
    }
    print "\n## ratios, arca / the server'\''s own client (lower is better)"
    misses = 0
    ratio("Redis 1 KiB hit, arca/r-benchmark", "mean_us", "arca_hit", "redis_bench", "1.5")
    ratio(sprintf("S3 %d MiB get, arca/curl", big), "s", "arca_raw", "curl_raw", "1.2")
    ratio("  the same, promoted into tier 0", "s", "arca_raw_promote", "curl_raw", "1.2")
    bound("breaker: added time in timeouts", "breaker", "added_timeouts", "1")
    print "# for information"
    bound("  the same, median of paired turns", "redis_pairs", "ratio", "")
    ratio("Redis, per process, arca/redis-cli", "ms", "arca_get_cli", "redis_cli_get", "")
    ratio("S3 peak RSS, arca/curl", "rss_kib", "arca_raw", "curl_raw", "")
    ratio("S3 peak RSS promoted, arca/curl", "rss_kib", "arca_raw_promote", "curl_raw", "")
    ratio("S3 zstd object get, arca/curl", "s", "arca_zstd", "curl_zstd", "")
    ratio("S3 zstd peak RSS, arca/curl", "rss_kib", "arca_zstd", "curl_zstd", "")
    printf "\n%s\n", misses ? misses " target(s) missed" : "all targets met"
    exit (strict && misses) ? 3 : 0
  }' "$results"
}

log=/dev/null
if [[ ${BENCH_REMOTE_NO_LOG:-0} != 1 ]] && mkdir -p "$repo/bench/out" 2>/dev/null; then
  log=$repo/bench/out/remote-$(date -u +%Y%m%dT%H%M%SZ).txt
fi
set +e
main 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
[[ $log == /dev/null ]] || echo "(saved in ${log#"$repo"/})"
((rc == 3)) && exit 1
exit "$rc"
