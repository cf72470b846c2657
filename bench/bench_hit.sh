#!/usr/bin/env bash
# What a cache hit costs (issue 11, "Benchmarks"; bench/README.md, "Hits"),
# every figure measured side by side in one session, REPEAT rounds, the
# median of the rounds:
#   1. `arca run` hit of one small compile (gcc -O2 -c x.c -o y.o, --in x.c
#      --out y.o) against a ccache direct-mode hit of the same compile
#      (`ccache gcc -O2 -c x.c -o x.o`, checked with ccache's counters):
#      target <= 1.0x.
#   2. a hit of a stage with a BIG_MIB input and a BIG_MIB output (`cp
#      big.bin out.bin`), out.bin left as the previous hit wrote it:
#      target <= 10 ms. With `--link` (arca run --help) and as root with
#      mkfs.xfs, the same with out.bin deleted before each hit and
#      `--link reflink` (and `verify: stamp` when the store accepts it) on
#      an XFS loop image: target <= 10 ms. For information: the cp itself.
#   3. the same stage, out.bin deleted before each hit, `--link copy` when
#      it exists, `verify: always` when the store knows the setting (the
#      default either way): against `cp big.bin o & openssl dgst -sha256
#      big.bin & wait`; target <= 1.2x. The hash is OpenSSL's, the SHA-256
#      arca uses: coreutils' sha256sum does not use the CPU's SHA
#      extensions and is 4-5x slower here, which would make the target
#      meaningless (it is timed once a round, for information).
#   4. `arca status` of a warm pipeline (STATUS_FILES inputs of BIG_MIB,
#      1 GiB by default; one stage per input and one joining them, after
#      one `arca repro`): target <= 20 ms. For information: SHA-256 of the
#      inputs (openssl dgst), and `arca status --rehash` when it exists.
# W2 get and put (issue 11's 0.8x and 1.5x) are bench/run.sh's figures.
# Each figure of a round is the median wall time of HITS (small compile)
# or BIG_HITS / STATUS_HITS processes, timed by bench_exec (fork/exec,
# wait; posix_spawn, CLOCK_MONOTONIC). Every arca hit is checked to be one
# (`arca stats` counts them) and every ccache hit to be a direct one.
# A feature the binary lacks (--link, --rehash, verify: stamp) makes its
# line "n/a (feature missing)", a missed target.
#
# Usage: bench/bench_hit.sh [BUILD_DIR]
#   BUILD_DIR  holds arca and bench/bench_exec (default: $ARCA_BUILD, else
#              the directory of $ARCA, else <repo>/build)
# Environment:
#   REPEAT=5            rounds
#   HITS=20             small-compile hits per side and round
#   BIG_HITS=3          hits per big variant and round (also the anchors)
#   STATUS_HITS=5       `arca status` runs per round
#   BIG_MIB=256         size of the big input and output, and of each
#                       status input
#   STATUS_FILES=4      status inputs (4 x 256 MiB = 1 GiB)
#   ARCA_BENCH_WORK     work directory, kept (default: a fresh one under
#                       ${TMPDIR:-/tmp}, removed at the end); needs about
#                       (3 + STATUS_FILES) x BIG_MIB, plus an XFS image
#                       of 4 x BIG_MIB + 176 MiB when the reflink part runs
#   ARCA_BENCH_XFS=0    leave out the reflink part
#   ARCA_BENCH_STRICT=1 exit 1 when a target is missed
# The output is also saved as bench/out/hit-<date>.txt unless
# BENCH_HIT_NO_LOG=1 (run.sh, which saves its own).
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" bench_hit.sh "$@"
REPEAT=${REPEAT:-5}
HITS=${HITS:-20}
BIG_HITS=${BIG_HITS:-3}
STATUS_HITS=${STATUS_HITS:-5}
BIG_MIB=${BIG_MIB:-256}
STATUS_FILES=${STATUS_FILES:-4}

bexec=$build/bench/bench_exec
[[ -x $bexec ]] || die "no $bexec: build first (cmake --build $build)"
bench_positive REPEAT HITS BIG_HITS STATUS_HITS BIG_MIB STATUS_FILES
missing=()
for cmd in gcc ccache openssl sha256sum python3 awk; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
done
((${#missing[@]} == 0)) || die "missing ${missing[*]}: run scripts/bootstrap"

if [[ -n ${ARCA_BENCH_WORK:-} ]]; then
  work=$ARCA_BENCH_WORK
  mkdir -p "$work"
  keep=1
else
  work=$(mktemp -d "${TMPDIR:-/tmp}/arca-bench-hit.XXXXXX")
  keep=0
fi
work=$(cd "$work" && pwd)

# Nothing of the caller's configuration: arca's defaults, a ccache of the
# work dir with an empty configuration (direct mode is ccache's default).
unset ARCA_DIR ARCA_TIERS ARCA_NO_STAT_CACHE ARCA_TRACE ARCA_TTL \
  ARCA_LOCK_TIMEOUT ARCA_MAX_SIZE ARCA_INLINE_THRESHOLD
while read -r v; do unset "$v"; done < <(compgen -e | grep '^CCACHE_' || true)
export XDG_CONFIG_HOME=$work/xdg
export CCACHE_DIR=$work/ccache CCACHE_CONFIGPATH=$work/ccache.conf
xfs_mnt=$work/xfs
mounted=0

# shellcheck disable=SC2317  # runs from the EXIT trap
cleanup() {
  if ((mounted)); then
    umount "$xfs_mnt" 2>/dev/null || umount -l "$xfs_mnt" 2>/dev/null || true
  fi
  if ((keep)); then
    rm -f "$work/xfs.img"
  else
    rm -rf "$work"
  fi
}

# ms NAME ARGS...: bench_exec ARGS; sets NAME to the median in ms.
ms() {
  local var=$1 line
  shift
  line=$("$bexec" "$@") || die "bench_exec $* failed"
  printf -v "$var" '%s' "$(awk -F'[= ]' '{printf "%.3f", $2 / 1e6}' <<<"$line")"
}

hits() { # STORE -> the store's hit count
  "$arca" --store "$1" stats --json |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["overall"]["hits"])'
}

# arca_hits NAME STORE RUNS WARMUP BENCH_EXEC_ARGS... -- CMD...: as ms,
# then checks that each of the RUNS + WARMUP runs was a hit of STORE.
arca_hits() {
  local var=$1 store=$2 n=$3 w=$4 before after
  shift 4
  before=$(hits "$store")
  ms "$var" -n "$n" -w "$w" "$@"
  after=$(hits "$store")
  ((after - before == n + w)) ||
    die "$((after - before)) of $((n + w)) runs hit in $store: not a hit benchmark"
}

ccache_stat() { # NAME -> ccache's counter NAME
  ccache --print-stats | awk -v k="$1" '$1 == k {print $2}'
}

# store_accepts KEY VALUE: does a store accept this config.yaml setting?
store_accepts() {
  local d=$work/probe-store
  rm -rf "$d"
  mkdir -p "$d"
  printf '%s: %s\n' "$1" "$2" >"$d/config.yaml"
  "$arca" --store "$d" info >/dev/null 2>&1
}

main() {
  set -e
  trap cleanup EXIT
  trap 'exit 130' INT TERM HUP
  echo "# arca hit benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "# $(nproc) cores, $(uname -sr), $(gcc --version | head -1), $(ccache --version | head -1)"
  echo "# arca $(git -C "$repo" describe --always --dirty 2>/dev/null || echo '?')," \
    "REPEAT=$REPEAT, HITS=$HITS, BIG_HITS=$BIG_HITS, STATUS_HITS=$STATUS_HITS," \
    "BIG_MIB=$BIG_MIB, STATUS_FILES=$STATUS_FILES, work dir $work" \
    "($(findmnt -n -o FSTYPE -T "$work" 2>/dev/null || stat -f -c %T "$work"))"
  echo "# load at start:$(uptime | sed 's/.*load average//')"

  # ---- what this arca has ---------------------------------------------
  local run_help status_help
  run_help=$("$arca" run --help 2>&1 || true)
  status_help=$("$arca" status --help 2>&1 || true)
  has_link=0 has_link_cfg=0 has_verify=0 has_rehash=0 has_verbose=0
  grep -q -- '--link' <<<"$run_help" && has_link=1
  store_accepts link copy && has_link_cfg=1
  store_accepts verify stamp && has_verify=1
  grep -q -- '--rehash' <<<"$status_help" && has_rehash=1
  grep -qE -- '(^|[ ,])-v([ ,]|$)|--verbose' <<<"$run_help" && has_verbose=1
  rm -rf "$work/probe-store"
  echo "# features: --link $( ((has_link)) && echo yes || echo no)," \
    "link: $( ((has_link_cfg)) && echo yes || echo no)," \
    "verify: stamp $( ((has_verify)) && echo yes || echo no)," \
    "status --rehash $( ((has_rehash)) && echo yes || echo no)," \
    "run -v $( ((has_verbose)) && echo yes || echo no)"

  # ---- the small compile ------------------------------------------------
  local cc=$work/cc
  mkdir -p "$cc" "$CCACHE_DIR"
  : >"$CCACHE_CONFIGPATH"
  cat >"$cc/x.c" <<'EOF'
#include <stdio.h>
#include <string.h>

static unsigned long mix(const char *s)
{
	unsigned long h = 5381;

	while (*s)
		h = h * 33 + (unsigned char)*s++;
	return h;
}

int main(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++)
		printf("%s %lu %zu\n", argv[i], mix(argv[i]), strlen(argv[i]));
	return 0;
}
EOF
  # Older than the compiles: ccache's direct mode does not trust a file
  # modified during the compilation, arca's stat cache neither.
  touch -d '-1 min' "$cc/x.c"
  small_store=$work/small-store
  small_arca=("$arca" --store "$small_store" run --in x.c --out y.o -- gcc -O2 -c x.c -o y.o)
  small_ccache=(ccache gcc -O2 -c x.c -o x.o)
  (cd "$cc" && "${small_arca[@]}" 2>/dev/null && "${small_ccache[@]}") ||
    die "the small compile failed"

  # ---- the big stage ----------------------------------------------------
  local big=$work/big
  mkdir -p "$big"
  head -c $((BIG_MIB << 20)) /dev/urandom >"$big/big.bin"
  touch -d '-1 min' "$big/big.bin"
  big_store=$work/big-store
  mkdir -p "$big_store"
  copy_link=() verify_note="verify: always (the default; no such setting)"
  if ((has_link)); then
    copy_link=(--link copy)
  elif ((has_link_cfg)); then
    echo "link: copy" >>"$big_store/config.yaml"
  fi
  if ((has_verify)); then
    echo "verify: always" >>"$big_store/config.yaml"
    verify_note="verify: always"
  fi
  big_arca=("$arca" --store "$big_store" run --stage bigcp --in big.bin --out out.bin)
  (cd "$big" && "${big_arca[@]}" -- cp big.bin out.bin 2>/dev/null) ||
    die "the big stage failed"
  copy_note="link: $( ((has_link || has_link_cfg)) && echo copy || echo "the default (no link setting)"), $verify_note"

  # The reflink part: the input, the store and the output on XFS.
  xfs_reason=""
  if ((!has_link && !has_link_cfg)); then
    xfs_reason="feature missing: arca run has no --link"
  elif [[ ${ARCA_BENCH_XFS:-1} == 0 ]]; then
    xfs_reason="skipped: ARCA_BENCH_XFS=0"
  elif ((EUID != 0)); then
    xfs_reason="skipped: needs root to mount an XFS image"
  elif ! command -v mkfs.xfs >/dev/null 2>&1; then
    xfs_reason="skipped: no mkfs.xfs (xfsprogs)"
  else
    mkdir -p "$xfs_mnt"
    truncate -s $((4 * BIG_MIB + 176))M "$work/xfs.img"
    if mkfs.xfs -q -f "$work/xfs.img" 2>"$work/xfs.err" &&
      mount -o loop "$work/xfs.img" "$xfs_mnt" 2>>"$work/xfs.err"; then
      mounted=1
      cp "$big/big.bin" "$xfs_mnt/big.bin"
      touch -d '-1 min' "$xfs_mnt/big.bin"
      xfs_store=$xfs_mnt/store
      mkdir -p "$xfs_store"
      reflink_link=()
      if ((has_link)); then
        reflink_link=(--link reflink)
      else
        echo "link: reflink" >>"$xfs_store/config.yaml"
      fi
      reflink_note="link: reflink"
      if ((has_verify)); then
        echo "verify: stamp" >>"$xfs_store/config.yaml"
        reflink_note+=", verify: stamp"
      else
        reflink_note+=", verify: always (no verify: stamp)"
      fi
      xfs_arca=("$arca" --store "$xfs_store" run --stage bigcp --in big.bin --out out.bin)
      (cd "$xfs_mnt" && "${xfs_arca[@]}" -- cp big.bin out.bin 2>/dev/null) ||
        die "the big stage failed on XFS"
      if ((has_verbose)); then
        rm -f "$xfs_mnt/out.bin"
        echo "# arca run -v of a reflinked hit says:"
        (cd "$xfs_mnt" && "${xfs_arca[@]}" "${reflink_link[@]}" -v -- cp big.bin out.bin 2>&1 |
          head -8 | sed 's/^/#   /')
      fi
    else
      xfs_reason="skipped: cannot make or mount an XFS image ($(head -1 "$work/xfs.err"))"
    fi
  fi

  # ---- the warm pipeline ------------------------------------------------
  local pipe=$work/pipe i joined="" deps=""
  mkdir -p "$pipe"
  {
    echo "stages:"
    for ((i = 1; i <= STATUS_FILES; i++)); do
      head -c $((BIG_MIB << 20)) /dev/urandom >"$pipe/in$i.bin"
      touch -d '-1 min' "$pipe/in$i.bin"
      echo "  part$i:"
      echo "    cmd: wc -c <in$i.bin >part$i.txt"
      echo "    deps: [in$i.bin]"
      echo "    outs: [part$i.txt]"
      joined+=" part$i.txt"
      deps+="${deps:+, }part$i.txt"
    done
    echo "  total:"
    echo "    cmd: cat$joined >total.txt"
    echo "    deps: [$deps]"
    echo "    outs: [total.txt]"
  } >"$pipe/arca.yaml"
  pipe_store=$work/pipe-store
  (cd "$pipe" && "$arca" --store "$pipe_store" repro >/dev/null 2>&1) ||
    die "arca repro of $pipe/arca.yaml failed"
  (cd "$pipe" && "$arca" --store "$pipe_store" status >"$work/status.out" 2>&1) ||
    { cat "$work/status.out" >&2; die "the pipeline is not up to date after repro"; }
  inputs=()
  for ((i = 1; i <= STATUS_FILES; i++)); do inputs+=("in$i.bin"); done

  results=$work/results.txt
  : >"$results"
  local round a c r0 r1
  for ((round = 1; round <= REPEAT; round++)); do
    echo "## round $round"
    : >"$work/round.txt"
    sync

    # 1. Small compile, the side that goes first alternating.
    r0=$(ccache_stat direct_cache_hit)
    r1=$(ccache_stat cache_miss)
    if ((round % 2)); then
      arca_hits a "$small_store" "$HITS" 2 -C "$cc" -- "${small_arca[@]}"
      ms c -n "$HITS" -w 2 -C "$cc" -- "${small_ccache[@]}"
    else
      ms c -n "$HITS" -w 2 -C "$cc" -- "${small_ccache[@]}"
      arca_hits a "$small_store" "$HITS" 2 -C "$cc" -- "${small_arca[@]}"
    fi
    if (($(ccache_stat direct_cache_hit) - r0 != HITS + 2 ||
      $(ccache_stat cache_miss) != r1)); then
      die "ccache's runs were not all direct-mode hits (ccache -s)"
    fi
    echo "arca small_hit_ms=$a" >>"$work/round.txt"
    echo "ccache small_hit_ms=$c" >>"$work/round.txt"

    # 2. Big stage, out.bin as the last hit left it; the cp itself.
    arca_hits a "$big_store" "$BIG_HITS" 1 -s -C "$big" -- "${big_arca[@]}" -- cp big.bin out.bin
    echo "arca big_unchanged_ms=$a" >>"$work/round.txt"
    ms c -n "$BIG_HITS" -w 1 -s -C "$big" -u cp.bin -- cp big.bin cp.bin
    rm -f "$big/cp.bin"
    echo "cp big_cp_ms=$c" >>"$work/round.txt"

    # 3. Big stage, out.bin deleted before each hit, against cp and
    # sha256sum of the file in parallel (its output deleted likewise).
    arca_hits a "$big_store" "$BIG_HITS" 1 -s -C "$big" -u out.bin -- \
      "${big_arca[@]}" "${copy_link[@]}" -- cp big.bin out.bin
    echo "arca big_deleted_ms=$a" >>"$work/round.txt"
    ms c -n "$BIG_HITS" -w 1 -s -C "$big" -u o.bin -- \
      sh -c 'cp big.bin o.bin & openssl dgst -sha256 big.bin >/dev/null & wait'
    echo "cp+sha256 big_deleted_ms=$c" >>"$work/round.txt"
    ms c -n 1 -w 0 -s -C "$big" -u o.bin -- \
      sh -c 'cp big.bin o.bin & sha256sum big.bin >/dev/null & wait'
    rm -f "$big/o.bin"
    echo "cp+sha256sum big_deleted_ms=$c" >>"$work/round.txt"

    # 2b. Reflinked on XFS.
    if ((mounted)); then
      arca_hits a "$xfs_store" "$BIG_HITS" 1 -s -C "$xfs_mnt" -u out.bin -- \
        "${xfs_arca[@]}" "${reflink_link[@]}" -- cp big.bin out.bin
      echo "arca big_reflink_ms=$a" >>"$work/round.txt"
    fi

    # 4. Status of the warm pipeline; SHA-256 of its inputs.
    ms a -n "$STATUS_HITS" -w 2 -C "$pipe" -- "$arca" --store "$pipe_store" status
    echo "arca status_ms=$a" >>"$work/round.txt"
    ms c -n 1 -w 0 -C "$pipe" -- openssl dgst -sha256 "${inputs[@]}"
    echo "sha256 status_inputs_ms=$c" >>"$work/round.txt"
    if ((has_rehash)); then
      ms c -n 1 -w 0 -C "$pipe" -- "$arca" --store "$pipe_store" status --rehash
      echo "arca status_rehash_ms=$c" >>"$work/round.txt"
    fi

    cat "$work/round.txt"
    sed "s/^/$round /" "$work/round.txt" >>"$results"
  done
  echo "# load at end:$(uptime | sed 's/.*load average//')"

  awk -v rounds="$REPEAT" -v strict="${ARCA_BENCH_STRICT:-0}" \
    -v big_mib="$BIG_MIB" -v status_mib="$((STATUS_FILES * BIG_MIB))" \
    -v xfs_reason="$xfs_reason" -v has_rehash="$has_rehash" \
    -v copy_note="$copy_note" -v reflink_note="${reflink_note:-}" '
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
  function ratio(label, key, a, b, target,    ka, kb, x, ok, r, s) {
    ka = a SUBSEP key; kb = b SUBSEP key
    if (!(ka in med) || !(kb in med) || med[kb] == 0) {
      printf "%-46s %9s\n", label, "n/a"; misses++; return
    }
    x = med[ka] / med[kb]
    ok = x <= target
    if (!ok) misses++
    s = ""
    for (r = 1; r <= rounds; r++)
      if (per_round[r SUBSEP kb] != 0)
        s = s sprintf(" %.2f", per_round[r SUBSEP ka] / per_round[r SUBSEP kb])
    printf "%-46s %8.2fx  target <= %.2fx %s (rounds:%s)\n", label, x, target,
      ok ? "PASS" : "MISS", s
  }
  function absolute(label, key, target,    k, x, ok, r, s) {
    k = "arca" SUBSEP key
    if (!(k in med)) { printf "%-46s %9s\n", label, "n/a"; misses++; return }
    x = med[k]
    ok = x <= target
    if (!ok) misses++
    s = ""
    for (r = 1; r <= rounds; r++)
      s = s sprintf(" %.1f", per_round[r SUBSEP k])
    printf "%-46s %6.1f ms  target <= %d ms %s (rounds:%s)\n", label, x, target,
      ok ? "PASS" : "MISS", s
  }
  function info(label, sys, key,    k) {
    k = sys SUBSEP key
    if (k in med) printf "%-46s %6.1f ms\n", label, med[k]
  }
  END {
    printf "\n## medians of %d rounds (ms)\n", rounds
    for (i = 1; i <= nk; i++) {
      split(order[i], p, SUBSEP)
      med[order[i]] = median(vals[order[i]])
      printf "%s %s=%s\n", p[1], p[2], med[order[i]]
    }
    print "\n## targets (issue 11)"
    misses = 0
    ratio("small compile hit, arca/ccache direct", "small_hit_ms", "arca", "ccache", 1.0)
    absolute(sprintf("%d MiB stage hit, output unchanged", big_mib), "big_unchanged_ms", 10)
    if (xfs_reason != "") {
      printf "%-46s %9s  target <= 10 ms (%s)\n",
        sprintf("%d MiB stage hit, reflinked (XFS)", big_mib), "n/a", xfs_reason
      if (xfs_reason ~ /^feature missing/) misses++
    } else {
      absolute(sprintf("%d MiB stage hit, reflinked (XFS)", big_mib), "big_reflink_ms", 10)
      printf "%-46s (%s)\n", "", reflink_note
    }
    ratio(sprintf("%d MiB hit, output deleted / cp||sha256", big_mib), "big_deleted_ms",
      "arca", "cp+sha256", 1.2)
    printf "%-46s (%s)\n", "", copy_note
    absolute(sprintf("status of a warm pipeline, %d MiB inputs", status_mib), "status_ms", 20)
    print "W2 get / put (0.8x diskcache, 1.5x cp+sync_clean): bench/run.sh"
    print "# for information"
    info("small compile hit, arca", "arca", "small_hit_ms")
    info("small compile hit, ccache direct mode", "ccache", "small_hit_ms")
    info(sprintf("%d MiB hit, output deleted, arca", big_mib), "arca", "big_deleted_ms")
    info("cp big.bin o & openssl dgst -sha256 & wait", "cp+sha256", "big_deleted_ms")
    info("the same with coreutils sha256sum (1 run)", "cp+sha256sum", "big_deleted_ms")
    info(sprintf("cp of %d MiB (the stage computing)", big_mib), "cp", "big_cp_ms")
    info(sprintf("openssl dgst -sha256 of the %d MiB of inputs", status_mib), "sha256", "status_inputs_ms")
    if (has_rehash)
      info("arca status --rehash", "arca", "status_rehash_ms")
    else
      printf "%-46s %9s (feature missing)\n", "arca status --rehash", "n/a"
    printf "\n%s\n", misses ? misses " target(s) missed" : "all targets met"
    exit (strict && misses) ? 3 : 0
  }' "$results"
}

outdir=$repo/bench/out
log=/dev/null
if [[ ${BENCH_HIT_NO_LOG:-0} != 1 ]] && mkdir -p "$outdir" 2>/dev/null; then
  log=$outdir/hit-$(date -u +%Y%m%dT%H%M%SZ).txt
fi
set +e
(main) 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
[[ $log == /dev/null ]] || echo "(saved in ${log#"$repo"/})"
((rc == 3)) && exit 1
exit "$rc"
