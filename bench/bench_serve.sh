#!/usr/bin/env bash
# `arca serve` against Debian's nginx serving the same bytes as static
# files, and against arca's own local put (issue 10, "Benchmarks"; see
# bench/README.md, "arca serve"), side by side in one session:
#   1. small GETs: SMALL_FILES blobs of 4 KiB, GET /cas/<sha256> in turn
#      (a wrk Lua script walks the list), wrk -t WRK_THREADS -c WRK_CONNS
#      -d WRK_SECONDS against each server: requests/s; target >= 0.7x nginx.
#   2. 256 MiB GET: `curl -o /dev/null` wall time (curl's time_total), page
#      cache warm for both (untimed GETs first, which also let every arca
#      worker verify the blob once); target <= 1.2x nginx. For
#      information, the first GET of a freshly started arca serve (the
#      blob is hashed before it is sent).
#   3. 256 MiB PUT: `curl -T` to /cas/<sha256> of a fresh store vs
#      `arca put` of the same file into a fresh store (same file system);
#      target <= 1.3x the local put.
# nginx runs as the calling user with its own prefix, pid and log files
# (daemon off; worker_processes 2 = the machine's cores, sendfile on), arca
# serve with --threads 2; both write an access log line per request to a
# file of the work dir (nginx's default, arca's --access-log), both on
# free 127.0.0.1 ports, killed by PID.
#
# Usage: bench/bench_serve.sh [BUILD_DIR]
#   BUILD_DIR  holds arca (default: $ARCA_BUILD, else the directory of
#              $ARCA, else <repo>/build)
# Environment:
#   REPEAT=3            rounds (each runs every part)
#   SMALL_FILES=500     4 KiB blobs
#   WRK_THREADS=2 WRK_CONNS=16 WRK_SECONDS=5
#   BIG_MIB=256
#   BIG_TURNS=5 PUT_TURNS=3  GETs and PUTs per side and round, alternated
#                       (a round's figure is their median)
#   ARCA_BENCH_WORK     work directory, kept (default: a fresh one under
#                       ${TMPDIR:-/tmp}, removed at the end); needs about
#                       4 x BIG_MIB of space
#   ARCA_BENCH_STRICT=1 exit 1 when a target is missed
# Exit 0 with a "skipped" line when nginx, wrk or curl are missing. The
# output is also saved as bench/out/serve-<date>.txt unless
# BENCH_SERVE_NO_LOG=1 (run.sh, which saves its own).
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" bench_serve.sh "$@"
REPEAT=${REPEAT:-3}
SMALL_FILES=${SMALL_FILES:-500}
WRK_THREADS=${WRK_THREADS:-2}
WRK_CONNS=${WRK_CONNS:-16}
WRK_SECONDS=${WRK_SECONDS:-5}
BIG_MIB=${BIG_MIB:-256}
BIG_TURNS=${BIG_TURNS:-5}
PUT_TURNS=${PUT_TURNS:-3}

bench_positive REPEAT SMALL_FILES WRK_THREADS WRK_CONNS WRK_SECONDS BIG_MIB BIG_TURNS PUT_TURNS
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
missing=()
[[ -x $NGINX ]] || missing+=(nginx)
for cmd in wrk curl python3 bc awk; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
done
if ((${#missing[@]} > 0)); then
  echo "bench_serve: skipped (missing ${missing[*]}: scripts/bootstrap)"
  exit 0
fi

if [[ -n ${ARCA_BENCH_WORK:-} ]]; then
  work=$ARCA_BENCH_WORK
  mkdir -p "$work"
  keep=1
else
  work=$(mktemp -d "${TMPDIR:-/tmp}/arca-bench-serve.XXXXXX")
  keep=0
fi
work=$(cd "$work" && pwd)

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
unset ARCA_TIERS ARCA_DIR
export XDG_CONFIG_HOME=$work/xdg

PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do
    kill "$p" 2>/dev/null || true
  done
  for p in "${PIDS[@]}"; do
    wait "$p" 2>/dev/null || true
  done
  ((keep)) || rm -rf "$work"
}

wait_http() { # URL LOG
  for _ in $(seq 200); do
    curl -s -o /dev/null "$1" && return 0
    sleep 0.05
  done
  die "server at $1 did not start (see $2)"
}

# start_arca STORE -> ARCA_URL, ARCA_PID
start_arca() {
  local port
  port=$(free_port)
  "$arca" serve --store "$1" --listen "127.0.0.1:$port" --threads 2 \
    --access-log "$work/serve-access.log" 2>>"$work/serve.log" &
  ARCA_PID=$!
  PIDS+=("$ARCA_PID")
  ARCA_URL=http://127.0.0.1:$port
  wait_http "$ARCA_URL/status" "$work/serve.log"
}

stop_pid() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

start_nginx() {
  local port
  port=$(free_port)
  mkdir -p "$work/nginx/logs" "$work/nginx/tmp"
  # As root the workers would switch to nobody, who cannot read the
  # work dir: they stay the calling user (ignored when not root).
  cat > "$work/nginx/nginx.conf" <<EOF
daemon off;
$( ((EUID == 0)) && echo "user $(id -un) $(id -gn);")
worker_processes 2;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log $work/nginx/logs/access.log;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  client_body_temp_path $work/nginx/tmp/body;
  proxy_temp_path $work/nginx/tmp/proxy;
  fastcgi_temp_path $work/nginx/tmp/fastcgi;
  uwsgi_temp_path $work/nginx/tmp/uwsgi;
  scgi_temp_path $work/nginx/tmp/scgi;
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:$port;
    root $work/docroot;
  }
}
EOF
  "$NGINX" -p "$work/nginx" -c "$work/nginx/nginx.conf" \
    2>>"$work/nginx/logs/stderr.log" &
  NGINX_PID=$!
  PIDS+=("$NGINX_PID")
  NGINX_URL=http://127.0.0.1:$port
  wait_http "$NGINX_URL/" "$work/nginx/logs/error.log"
}

# wrk_rps URL -> requests/s, GETting every path of small.lst in turn.
wrk_rps() {
  wrk -t "$WRK_THREADS" -c "$WRK_CONNS" -d "${WRK_SECONDS}s" \
    -s "$work/walk.lua" "$1" > "$work/wrk.out" 2>&1 ||
    { cat "$work/wrk.out" >&2; die "wrk failed against $1"; }
  if grep -q 'Non-2xx' "$work/wrk.out"; then
    cat "$work/wrk.out" >&2
    die "wrk got errors from $1"
  fi
  awk '/^Requests\/sec:/ {print $2}' "$work/wrk.out"
}

med() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

curl_time() { # curl args... -> seconds
  curl -sS -f -o /dev/null -w '%{time_total}\n' "$@"
}

main() {
  trap cleanup EXIT
  echo "# arca serve benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "# $(nproc) cores, $(uname -sr), $("$NGINX" -v 2>&1 | sed 's/.*: //'), $(wrk -v 2>&1 | head -1 | awk '{print $1, $2}')"
  echo "# arca $(git -C "$repo" describe --always --dirty 2>/dev/null || echo '?')," \
    "REPEAT=$REPEAT, $SMALL_FILES x 4 KiB, wrk -t$WRK_THREADS -c$WRK_CONNS -d${WRK_SECONDS}s," \
    "$BIG_MIB MiB, work dir $work ($(findmnt -n -o FSTYPE -T "$work" 2>/dev/null ||
      stat -f -c %T "$work"))"
  results=$work/results.txt
  : > "$results"
  mkdir -p "$work/docroot/cas" "$work/small"
  # The same bytes in arca's store and in nginx's document root, under
  # the same path /cas/<sha256>.
  python3 - "$work/small" "$SMALL_FILES" <<'EOF'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    with open(os.path.join(d, "%06d" % i), "wb") as f:
        f.write(os.urandom(4096))
EOF
  : > "$work/small.lst"
  for f in "$work/small"/*; do
    hex=$("$arca" --store "$work/store" put "$f")
    cp "$f" "$work/docroot/cas/$hex"
    echo "/cas/$hex" >> "$work/small.lst"
  done
  {
    echo 'local paths = {}'
    echo "for line in io.lines(\"$work/small.lst\") do paths[#paths + 1] = line end"
    echo 'local i = 0'
    echo 'request = function()'
    echo '  i = i % #paths + 1'
    echo '  return wrk.format("GET", paths[i])'
    echo 'end'
  } > "$work/walk.lua"
  head -c $((BIG_MIB << 20)) /dev/urandom > "$work/big.bin"
  big=$("$arca" --store "$work/store" put "$work/big.bin")
  cp "$work/big.bin" "$work/docroot/cas/$big"

  # A handle trusts its verification of a file only when the file is
  # older than 2 s (src/lib/blob_open.c): the blobs are a bit older, as
  # a cache's usually are.
  sleep 3
  start_arca "$work/store"
  GET_URL=$ARCA_URL
  GET_PID=$ARCA_PID
  start_nginx
  # Both answer the same bytes (and warm the page cache).
  [[ $(curl -sf "$GET_URL/cas/$big" | sha256sum | cut -c1-64) == "$big" ]] ||
    die "arca serve: wrong bytes for the big blob"
  [[ $(curl -sf "$NGINX_URL/cas/$big" | sha256sum | cut -c1-64) == "$big" ]] ||
    die "nginx: wrong bytes for the big blob"
  # Every pool thread's handle has verified the big blob once (a
  # connection goes to whichever thread accepts it).
  for _ in 1 2 3 4 5 6 7 8; do
    curl -sf -o /dev/null "$GET_URL/cas/$big"
  done
  first=$(head -1 "$work/small.lst")
  cmp -s <(curl -sf "$GET_URL$first") <(curl -sf "$NGINX_URL$first") ||
    die "the servers disagree on $first"

  for ((round = 1; round <= REPEAT; round++)); do
    echo "## round $round"
    a_rps=$(wrk_rps "$GET_URL")
    n_rps=$(wrk_rps "$NGINX_URL")
    # Alternated, BIG_TURNS times each, the median of each side: the
    # machine is shared, and the load of others moves by the second.
    ag=() ng=()
    for ((t = 0; t < BIG_TURNS; t++)); do
      ag+=("$(curl_time "$GET_URL/cas/$big")")
      ng+=("$(curl_time "$NGINX_URL/cas/$big")")
    done
    a_get=$(med "${ag[@]}")
    n_get=$(med "${ng[@]}")
    # For information: the first GET of a server just started (the blob
    # is hashed before it is sent).
    start_arca "$work/store"
    c_get=$(curl_time "$ARCA_URL/cas/$big")
    stop_pid "$ARCA_PID"
    # PUT into a fresh store (content already stored skips the copy),
    # alternated with the local put likewise.
    ap=() lp=()
    for ((t = 0; t < PUT_TURNS; t++)); do
      rm -rf "$work/put-store" "$work/local-store"
      start_arca "$work/put-store"
      sync
      ap+=("$(curl_time -T "$work/big.bin" "$ARCA_URL/cas/$big")")
      stop_pid "$ARCA_PID"
      sync
      t0=$(date +%s.%N)
      "$arca" --store "$work/local-store" put "$work/big.bin" >/dev/null
      t1=$(date +%s.%N)
      lp+=("$(echo "$t1 - $t0" | bc)")
    done
    rm -rf "$work/put-store" "$work/local-store"
    a_put=$(med "${ap[@]}")
    l_put=$(med "${lp[@]}")
    printf '%s\n' "arca small_rps=$a_rps" "nginx small_rps=$n_rps" \
      "arca big_get_s=$a_get" "nginx big_get_s=$n_get" \
      "arca big_get_first_s=$c_get" \
      "arca big_put_s=$a_put" "local big_put_s=$l_put" > "$work/round.txt"
    cat "$work/round.txt"
    sed "s/^/$round /" "$work/round.txt" >> "$results"
  done

  awk -v rounds="$REPEAT" -v strict="${ARCA_BENCH_STRICT:-0}" '
  function median(list,    v, n, i, j, t) {
    n = split(list, v, " ")
    for (i = 2; i <= n; i++)
      for (j = i; j > 1 && v[j - 1] + 0 > v[j] + 0; j--) {
        t = v[j]; v[j] = v[j - 1]; v[j - 1] = t
      }
    return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
  }
  {
    split($3, kv, "=")
    k = $2 SUBSEP kv[1]
    if (!(k in vals)) order[++nk] = k
    vals[k] = vals[k] " " (kv[2] + 0)
    per_round[$1 SUBSEP k] = kv[2] + 0
  }
  # higher: the target is a floor (throughput), else a ceiling (time).
  function ratio(label, key, a, b, target, higher,    x, ok, r, ka, kb, s) {
    ka = a SUBSEP key; kb = b SUBSEP key
    if (!(ka in med) || !(kb in med) || med[kb] == 0) {
      printf "%-30s %6s\n", label, "n/a"; misses++; return
    }
    x = med[ka] / med[kb]
    ok = higher ? x >= target : x <= target
    if (!ok) misses++
    s = ""
    for (r = 1; r <= rounds; r++)
      if (per_round[r SUBSEP kb] != 0)
        s = s sprintf(" %.2f", per_round[r SUBSEP ka] / per_round[r SUBSEP kb])
    printf "%-30s %6.2f  target %s %.2f %s (rounds:%s)\n", label, x,
      higher ? ">=" : "<=", target, ok ? "PASS" : "MISS", s
  }
  function info(label, key, nkey,    ka, kb) {
    ka = "arca" SUBSEP key; kb = "nginx" SUBSEP nkey
    if ((ka in med) && (kb in med) && med[kb] != 0)
      printf "%-30s %6.2f\n", label, med[ka] / med[kb]
  }
  END {
    printf "\n## medians of %d rounds\n", rounds
    for (i = 1; i <= nk; i++) {
      split(order[i], p, SUBSEP)
      med[order[i]] = median(vals[order[i]])
      printf "%s %s=%s\n", p[1], p[2], med[order[i]]
    }
    print "\n## ratios"
    misses = 0
    ratio("4 KiB GET/s  arca/nginx", "small_rps", "arca", "nginx", 0.7, 1)
    ratio("256 MiB GET  arca/nginx", "big_get_s", "arca", "nginx", 1.2, 0)
    ratio("256 MiB PUT  serve/local put", "big_put_s", "arca", "local", 1.3, 0)
    print "# for information"
    info("256 MiB first GET arca/nginx", "big_get_first_s", "big_get_s")
    printf "\n%s\n", misses ? misses " target(s) missed" : "all targets met"
    exit (strict && misses) ? 3 : 0
  }' "$results"
}

outdir=$repo/bench/out
log=/dev/null
if [[ ${BENCH_SERVE_NO_LOG:-0} != 1 ]] && mkdir -p "$outdir" 2>/dev/null; then
  log=$outdir/serve-$(date -u +%Y%m%dT%H%M%SZ).txt
fi
set +e
(main) 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
[[ $log == /dev/null ]] || echo "(saved in ${log#"$repo"/})"
((rc == 3)) && exit 1
exit "$rc"
