#!/usr/bin/env bash
# Cross-host single-flight (issue 9): two "machines" (two store
# directories) sharing one real redis-server (started here on a free
# 127.0.0.1 port, killed at the end); 8 processes, 4 on each, asking for
# one missing stage compute it once, through the Redis lease. With Redis
# killed, the local lease alone still makes one process compute.
. "${ARCA_TEST_LIB:-$(dirname "$0")/../lib.sh}" || exit 2
. "$(dirname "$0")/../servers.sh" || exit 2

if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
	echo "ok - remote_lease__skipped (no redis-server)"
	finish
fi
unset ARCA_TIERS

lines() { if [ -f "$1" ]; then wc -l <"$1" | tr -d ' '; else echo 0; fi; }

start_redis

STORE_A="$TEST_TMP/machineA"
STORE_B="$TEST_TMP/machineB"
mkdir -p "$STORE_A" "$STORE_B"
for s in "$STORE_A" "$STORE_B"; do
	printf 'tiers:\n  - url: redis://127.0.0.1:%s\n    mode: read-write\n    timeout_ms: 2000\n' \
		"$PORT" >"$s/config.yaml"
done
export COUNT="$TEST_TMP/count"

# Start 4 runs of "$@" on each of the given stores at once, in per-process
# work dirs w.<i> (same relative paths: one action key); wait for all.
crowd() {
	local stores=$1 i=0 s pids=()
	shift
	for s in $stores; do
		for _ in 1 2 3 4; do
			i=$((i + 1))
			mkdir -p "w.$i"
			( cd "w.$i" && ARCA_DIR=$s timeout 60 "$ARCA" run "$@" \
				>"../o.$i" 2>"../e.$i"; echo $? >"../rc.$i" ) &
			pids+=($!)
		done
	done
	wait "${pids[@]}"
}
# The stderr of the runs that did not exit 0.
failed_runs() {
	local f
	for f in rc.*; do
		[ "$(cat "$f")" = 0 ] || echo "${f#rc.}: exit $(cat "$f"): $(cat "e.${f#rc.}")"
	done
}
# Every w.*/out.txt and o.* byte-identical to the first.
same_outputs() {
	local f
	for f in w.*/out.txt o.*; do
		case $f in
		w.*) cmp -s "$f" w.1/out.txt || return 1 ;;
		*) cmp -s "$f" o.1 || return 1 ;;
		esac
	done
	return 0
}

# ---- 8 processes on two machines, one missing stage --------------------
mkdir two && cd two || exit 2
STAGE=(--stage slow --out out.txt -- sh -c 'echo x >>"$COUNT"; sleep 1; echo result >out.txt; echo done')
t0=$(date +%s%3N)
crowd "$STORE_A $STORE_B" "${STAGE[@]}"
t1=$(date +%s%3N)
assert_eq "remote_lease__8_processes_2_machines_compute_once" 1 "$(lines "$COUNT")"
assert_eq "remote_lease__8_exit_0" 8 "$(cat rc.* | grep -c '^0$')"
[ "$(cat rc.* | grep -c '^0$')" = 8 ] || failed_runs
assert_eq "remote_lease__8_outputs_present" "result" "$(cat w.*/out.txt | sort -u)"
assert_eq "remote_lease__8_stdout" "done" "$(cat o.* | sort -u)"
if same_outputs; then pass "remote_lease__8_outputs_byte_identical"
else fail "remote_lease__8_outputs_byte_identical" "$(ls -l w.*/out.txt o.*)"; fi
assert_eq "remote_lease__one_stored" 1 "$(cat e.* | grep -c 'arca: stored slow ')"
assert_eq "remote_lease__lease_released" 0 \
	"$(redis-cli -p "$PORT" --scan --pattern 'arca:v1:lease:*' | wc -l | tr -d ' ')"
took=$((t1 - t0))
if [ "$took" -lt 10000 ]; then pass "remote_lease__bounded_${took}ms"
else fail "remote_lease__bounded" "took ${took} ms"; fi
cd .. || exit 2

# ---- Redis killed: the local lease alone applies -----------------------
kill "$REDIS_PID" 2>/dev/null
wait "$REDIS_PID" 2>/dev/null
REDIS_PID=
: >"$COUNT"
mkdir dead && cd dead || exit 2
STAGE2=(--stage slow2 --out out.txt -- sh -c 'echo x >>"$COUNT"; sleep 1; echo result2 >out.txt; echo done2')
t0=$(date +%s%3N)
crowd "$STORE_A" "${STAGE2[@]}"
t1=$(date +%s%3N)
assert_eq "remote_lease__redis_dead_compute_once" 1 "$(lines "$COUNT")"
assert_eq "remote_lease__redis_dead_4_exit_0" 4 "$(cat rc.* | grep -c '^0$')"
[ "$(cat rc.* | grep -c '^0$')" = 4 ] || failed_runs
assert_eq "remote_lease__redis_dead_outputs" "result2" "$(cat w.*/out.txt | sort -u)"
if same_outputs; then pass "remote_lease__redis_dead_outputs_byte_identical"
else fail "remote_lease__redis_dead_outputs_byte_identical"; fi
took=$((t1 - t0))
if [ "$took" -lt 10000 ]; then pass "remote_lease__redis_dead_bounded_${took}ms"
else fail "remote_lease__redis_dead_bounded" "took ${took} ms"; fi
cd .. || exit 2

finish
