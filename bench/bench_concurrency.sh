#!/usr/bin/env bash
# Many processes on one store, through the CLI (see bench/README.md,
# "Concurrency"):
#   1. 16 concurrent `arca run` of one 1-second stage on a cold store: how
#      many times the stage ran (must be 1) and the wall time of the whole.
#   2. Puts per second of 1 process, and of 2 processes at once each
#      writing its own blobs (different keys), for small (inline) and
#      large (file) blobs.
#
# Usage: bench/bench_concurrency.sh [ARCA [WORK_DIR]]
#   ARCA      the arca binary (default: $ARCA, else <repo>/build/arca)
#   WORK_DIR  kept when given; default a fresh dir under $TMPDIR, removed
# Environment: PUTS=2000 small blobs per process; BIG_PUTS=200 large ones.
# Prints result lines "<name> key=value ..." as bench/run.sh expects.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
arca=${1:-${ARCA:-$repo/build/arca}}
PUTS=${PUTS:-2000}
BIG_PUTS=${BIG_PUTS:-200}
die() { echo "bench_concurrency.sh: $*" >&2; exit 1; }
[[ -x $arca ]] || die "no arca binary at $arca (build first)"
arca=$(cd "$(dirname "$arca")" && pwd)/$(basename "$arca")

if [[ $# -ge 2 ]]; then
  work=$2
  mkdir -p "$work"
else
  work=$(mktemp -d "${TMPDIR:-/tmp}/arca-bench-conc.XXXXXX")
  trap 'rm -rf "$work"' EXIT
fi
work=$(cd "$work" && pwd)
now() { date +%s.%N; }

# ---- 1. 16 processes, one key -------------------------------------------
rm -rf "$work/sf" && mkdir -p "$work/sf" && cd "$work/sf"
export ARCA_DIR=$work/sf/store
t0=$(now)
pids=()
for i in $(seq 16); do
  "$arca" run --stage single --out out.txt -- \
    sh -c 'echo x >>count; sleep 1; echo result >out.txt' \
    >/dev/null 2>"err.$i" &
  pids+=($!)
done
failed=0
for p in "${pids[@]}"; do wait "$p" || failed=$((failed + 1)); done
t1=$(now)
computations=$(wc -l <count | tr -d ' ')
waited=$(cat err.* | grep -c 'arca: waiting for single ' || true)
echo "single_flight procs=16 computations=$computations waited=$waited failed=$failed wall_s=$(echo "$t1 - $t0" | bc)"
[[ $computations == 1 && $failed == 0 ]] ||
  die "single-flight broken: $computations computations, $failed failures"

# ---- 2. puts/s: 1 process vs 2 processes, different keys ---------------
# Files are made first, outside the timings; `arca put FILE...` stores each
# in its own transaction.
make_files() { # DIR COUNT SIZE_KIB TAG
  mkdir -p "$1"
  python3 - "$1" "$2" "$3" "$4" <<'EOF'
import os, sys
d, n, kib, tag = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
for i in range(n):
    with open(os.path.join(d, "f%06d" % i), "wb") as f:
        f.write(("%s-%d-" % (tag, i)).encode() + os.urandom(kib * 1024 - 32))
EOF
}

puts_rate() { # NAME COUNT SIZE_KIB
  local name=$1 n=$2 kib=$3 t0 t1 one two
  rm -rf "$work/p" && mkdir -p "$work/p"
  make_files "$work/p/a" "$n" "$kib" a
  make_files "$work/p/b" "$n" "$kib" b
  make_files "$work/p/c" "$n" "$kib" c
  export ARCA_DIR=$work/p/store
  "$arca" put "$work/p/c/f000000" >/dev/null # the store exists: no first-open cost
  sync
  t0=$(now)
  (cd "$work/p/a" && "$arca" put f* >/dev/null)
  t1=$(now)
  one=$(echo "$n / ($t1 - $t0)" | bc)
  sync
  t0=$(now)
  (cd "$work/p/b" && "$arca" put f* >/dev/null) &
  local pa=$!
  (cd "$work/p/c" && "$arca" put f* >/dev/null) &
  local pb=$!
  wait "$pa" && wait "$pb" || die "a concurrent put failed"
  t1=$(now)
  two=$(echo "2 * $n / ($t1 - $t0)" | bc)
  echo "$name size_kib=$kib puts=$n puts_per_s_1proc=$one puts_per_s_2proc=$two ratio_2_to_1=$(echo "scale=2; $two / $one" | bc)"
}

puts_rate concurrent_puts_small "$PUTS" 1
puts_rate concurrent_puts_large "$BIG_PUTS" 256
