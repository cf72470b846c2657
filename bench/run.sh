#!/usr/bin/env bash
# Run arca's store benchmark (bench_store) next to the anchor benchmarks of
# shared/bench-anchors, REPEAT rounds in one work directory, then print the
# median of every figure and arca's ratios to the anchors. See bench/README.md.
#
# Usage: bench/run.sh [BUILD_DIR]
#   BUILD_DIR       a configured and built tree holding bench/bench_store;
#                   else $ARCA_BUILD, else the directory of $ARCA (the CLI
#                   path `make bench` passes), else <repo>/build.
# Environment:
#   REPEAT=3        rounds
#   N=10000         W1 values (also passed to the anchors)
#   ARCA_ANCHORS    the anchors (default <repo>/../shared/bench-anchors)
#   ARCA_BENCH_WORK work directory to use and keep (default: a fresh one
#                   under ${TMPDIR:-/tmp}, removed at the end). It holds a
#                   256 MiB big.bin and the anchors' node_modules; results
#                   depend on its file system (tmpfs makes fsync free).
#   ARCA_BENCH_STRICT=1  exit 1 when a target is missed
#   ARCA_BENCH_REMOTE=0  leave out the shared tiers (bench/bench_remote.sh)
#   ARCA_BENCH_SERVE=0   leave out arca serve vs nginx (bench/bench_serve.sh)
#   ARCA_BENCH_HIT=0     leave out the cost of hits (bench/bench_hit.sh)
# The whole output is also saved as bench/out/run-<date>.txt.
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" bench/run.sh "$@"
anchors=${ARCA_ANCHORS:-$repo/../shared/bench-anchors}
REPEAT=${REPEAT:-3}
export N=${N:-10000}

bench_store=$build/bench/bench_store
[[ -x $bench_store ]] || die "no $bench_store: build first (make build, or cmake --build $build)"
[[ -x $anchors/run.sh ]] || die "no anchors in $anchors (set ARCA_ANCHORS)"
anchors=$(cd "$anchors" && pwd)
bench_positive REPEAT
missing=()
for cmd in cc node npm bc awk; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
done
/usr/bin/python3 -c 'import diskcache' 2>/dev/null || missing+=(python3-diskcache)
[[ -f /usr/include/sqlite3.h ]] || missing+=(libsqlite3-dev)
((${#missing[@]} == 0)) || die "missing ${missing[*]}: run scripts/bootstrap"

if [[ -n ${ARCA_BENCH_WORK:-} ]]; then
  work=$ARCA_BENCH_WORK
  mkdir -p "$work"
else
  work=$(mktemp -d "${TMPDIR:-/tmp}/arca-bench.XXXXXX")
  trap 'rm -rf "$work"' EXIT
fi
work=$(cd "$work" && pwd)

main() {
  set -e
  results=$work/results.txt
  : > "$results"

  echo "# arca store benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "# $(nproc) cores, $(uname -sr), $(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")," \
    "$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
  echo "# arca $(git -C "$repo" describe --always --dirty 2>/dev/null || echo '?')," \
    "N=$N, REPEAT=$REPEAT, work dir $work ($(findmnt -n -o FSTYPE -T "$work" 2>/dev/null ||
      stat -f -c %T "$work"))"

  for ((round = 1; round <= REPEAT; round++)); do
    echo "## round $round"
    # The anchors' run.sh creates big.bin (and installs cacache) on its first
    # run; arca then stores the same file.
    "$anchors/run.sh" "$work" > "$work/round.txt" 2> "$work/round.err" ||
      { cat "$work/round.err" >&2; die "anchors failed in round $round"; }
    "$bench_store" "$work/arca" "$N" "$work/big.bin" >> "$work/round.txt"
    rm -rf "$work/arca"
    # The anchors' cp+sync also flushes whatever cacache left dirty just
    # before it; this copy starts from a clean page cache (information).
    sync
    t0=$(date +%s.%N); cp "$work/big.bin" "$work/big.cp"; sync; t1=$(date +%s.%N)
    echo "cp+sync_clean big_put_s=$(echo "$t1 - $t0" | bc)" >> "$work/round.txt"
    rm -f "$work/big.cp"
    # Only the result lines: "<system> key=value ..."
    grep -E '^[^ ]+( [a-z_]+=[0-9.]+)+$' "$work/round.txt" > "$work/lines.txt"
    cat "$work/lines.txt"
    sed "s/^/$round /" "$work/lines.txt" >> "$results"
  done

  # Many processes on one store (single-flight, concurrent writers); once,
  # not per round, and outside the medians: it has no anchor.
  echo "## concurrency (bench/bench_concurrency.sh)"
  "$repo/bench/bench_concurrency.sh" "$build/arca" "$work/concurrency" ||
    die "bench_concurrency.sh failed"
  rm -rf "$work/concurrency"

  # The shared tiers against the servers' own clients (bench_remote.sh):
  # its own servers, rounds and ratios; it prints "skipped" when
  # redis-server or node is missing. Its missed targets count here too.
  remote_misses=0
  if [[ ${ARCA_BENCH_REMOTE:-1} != 0 ]]; then
    echo "## shared tiers (bench/bench_remote.sh)"
    BENCH_REMOTE_NO_LOG=1 ARCA_BENCH_STRICT=0 ARCA_BENCH_WORK=$work/remote \
      "$repo/bench/bench_remote.sh" "$build" | tee "$work/remote.txt" ||
      die "bench_remote.sh failed"
    remote_misses=$(sed -n 's/^\([0-9][0-9]*\) target(s) missed$/\1/p' "$work/remote.txt")
    remote_misses=${remote_misses:-0}
    rm -rf "$work/remote" "$work/remote.txt"
  fi

  # arca serve against nginx and the local put (bench_serve.sh): the same
  # arrangement as the shared tiers; "skipped" without nginx or wrk.
  serve_misses=0
  if [[ ${ARCA_BENCH_SERVE:-1} != 0 ]]; then
    echo "## arca serve (bench/bench_serve.sh)"
    BENCH_SERVE_NO_LOG=1 ARCA_BENCH_STRICT=0 ARCA_BENCH_WORK=$work/serve \
      "$repo/bench/bench_serve.sh" "$build" | tee "$work/serve.txt" ||
      die "bench_serve.sh failed"
    serve_misses=$(sed -n 's/^\([0-9][0-9]*\) target(s) missed$/\1/p' "$work/serve.txt")
    remote_misses=$((remote_misses + ${serve_misses:-0}))
    rm -rf "$work/serve" "$work/serve.txt"
  fi

  # What a hit costs against ccache, cp and sha256 (bench_hit.sh, issue
  # 11): the same arrangement again; W2's targets of that issue are
  # below, with the other W2 figures.
  if [[ ${ARCA_BENCH_HIT:-1} != 0 ]]; then
    echo "## hits (bench/bench_hit.sh)"
    BENCH_HIT_NO_LOG=1 ARCA_BENCH_STRICT=0 ARCA_BENCH_WORK=$work/hit \
      "$repo/bench/bench_hit.sh" "$build" | tee "$work/hit.txt" ||
      die "bench_hit.sh failed"
    hit_misses=$(sed -n 's/^\([0-9][0-9]*\) target(s) missed$/\1/p' "$work/hit.txt")
    remote_misses=$((remote_misses + ${hit_misses:-0}))
    rm -rf "$work/hit" "$work/hit.txt"
  fi

  # results.txt: "<round> <system> key=value ...". Medians per system and key,
  # in the order the figures first appeared; then the ratios.
  awk -v rounds="$REPEAT" -v strict="${ARCA_BENCH_STRICT:-0}" \
    -v remote_misses="$remote_misses" '
  function median(list,    v, n, i, j, t) {
    n = split(list, v, " ")
    for (i = 2; i <= n; i++)              # insertion sort, n is small
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
  # The ratio of the medians; then, to show the spread, the ratio within
  # each round (both sides ran minutes apart at most, under similar load).
  function ratio(label, key, a, b, target,    x, verdict, r, ka, kb, rounds_s) {
    if (fig(a, key) == "" || fig(b, key) == "" || fig(b, key) == 0) {
      printf "%-28s %6s\n", label, "n/a"
      if (target != "") { misses++ }
      return
    }
    x = fig(a, key) / fig(b, key)
    verdict = ""
    if (target != "") {
      verdict = sprintf("target <= %.2f %s", target,
          x <= target + 0 ? "PASS" : "MISS")
      if (x > target + 0) misses++
    }
    rounds_s = ""
    for (r = 1; r <= rounds; r++) {
      ka = r SUBSEP a SUBSEP key; kb = r SUBSEP b SUBSEP key
      if ((ka in per_round) && (kb in per_round) && per_round[kb] != 0)
        rounds_s = rounds_s sprintf(" %.2f", per_round[ka] / per_round[kb])
    }
    printf "%-28s %6.2f  %-22s (rounds:%s)\n", label, x, verdict, rounds_s
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
    print "\n## ratios, arca / anchor (lower is better)"
    misses = 0
    ratio("W1 get  arca/diskcache", "small_get_us", "arca", "diskcache", "0.7")
    ratio("W1 put  arca/diskcache", "small_put_us", "arca", "diskcache", "1.0")
    ratio("W2 put  arca/cp+sync", "big_put_s", "arca", "cp+sync", "1.2")
    # issue 11: a verified get against diskcache unverified one, and a
    # put against a durable copy from a clean page cache.
    ratio("W2 get  arca/diskcache (#11)", "big_get_s", "arca", "diskcache", "0.8")
    ratio("W2 put  arca/cp+sync_clean (#11)", "big_put_s", "arca", "cp+sync_clean", "1.5")
    print "# for information"
    ratio("W2 put  arca/diskcache", "big_put_s", "arca", "diskcache", "")
    ratio("W1 get  arca/cacache", "small_get_us", "arca", "cacache", "")
    ratio("W1 put  arca/cacache", "small_put_us", "arca", "cacache", "")
    ratio("W2 put  arca/cacache", "big_put_s", "arca", "cacache", "")
    ratio("W2 get  arca/cacache", "big_get_s", "arca", "cacache", "")
    ratio("W1 get  arca/sqlite_raw", "small_get_us", "arca", "sqlite_raw", "")
    ratio("W1 put  arca/sqlite_raw", "small_put_us", "arca", "sqlite_raw", "")
    if (remote_misses > 0)
      printf "%d target(s) of the shared tiers, arca serve and hits missed (above)\n", remote_misses
    misses += remote_misses
    printf "\n%s\n", misses ? misses " target(s) missed" : "all targets met"
    exit (strict && misses) ? 3 : 0
  }' "$results"
}

outdir=$repo/bench/out
log=/dev/null
if mkdir -p "$outdir" 2>/dev/null; then
  log=$outdir/run-$(date -u +%Y%m%dT%H%M%SZ).txt
fi
set +e
main 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
[[ $log == /dev/null ]] || echo "(saved in ${log#"$repo"/})"
((rc == 3)) && exit 1
exit "$rc"
