#!/usr/bin/env bash
# The cross-host lease is renewed while its holder lives (issue 9): two
# "machines" (two store directories) share one real redis-server (started
# here on a free 127.0.0.1 port). The lease's TTL is cut to 1200 ms
# (ARCA_TEST_XLEASE_TTL_MS, a test-only hook of lease.c) and the holder
# computes for 4 s, over three TTLs:
#   - a waiter on the other machine does not compute: it gets a hit once
#     the holder is done (without renewal it would take the expired lease
#     1.2 s in and compute too);
#   - a SIGKILLed holder stops renewing (its thread dies with it): the
#     waiter takes the lease once it expires and computes;
#   - Redis killed mid-compute: the holder finishes, exit 0, and says once
#     that its renewals failed.
# Pass/fail never depends on how late a process starts: the waiter is
# started while the holder is known to be computing (its count line is
# written, its lease is in Redis) and has over 2.5 s of it left.
. "${ARCA_TEST_LIB:-$(dirname "$0")/../lib.sh}" || exit 2
. "$(dirname "$0")/../servers.sh" || exit 2

if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
	echo "ok - remote_lease_renew__skipped (no redis-server)"
	finish
fi
unset ARCA_TIERS
export ARCA_TEST_XLEASE_TTL_MS=1200

lines() { if [ -f "$1" ]; then wc -l <"$1" | tr -d ' '; else echo 0; fi; }

start_redis
HOLDER_PID=
CMD_PIDS="$TEST_TMP/cmd_pids"
on_exit() {
	local p
	[ -n "$HOLDER_PID" ] && kill -9 "$HOLDER_PID" 2>/dev/null
	if [ -f "$CMD_PIDS" ]; then
		for p in $(cat "$CMD_PIDS"); do kill -9 "$p" 2>/dev/null; done
	fi
}
rcli() { redis-cli -p "$PORT" "$@"; }

STORE_A="$TEST_TMP/machineA"
STORE_B="$TEST_TMP/machineB"
mkdir -p "$STORE_A" "$STORE_B"
for s in "$STORE_A" "$STORE_B"; do
	printf 'tiers:\n  - url: redis://127.0.0.1:%s\n    mode: read-write\n    timeout_ms: 2000\n' \
		"$PORT" >"$s/config.yaml"
done
export COUNT="$TEST_TMP/count" CMD_PIDS

# Poll (up to 20 s) until "$@" succeeds; 1 if it never does.
wait_for() {
	local _i
	for _i in $(seq 400); do
		"$@" && return 0
		sleep 0.05
	done
	return 1
}
lease_keys() { rcli --scan --pattern 'arca:v1:lease:*'; }
has_lease() { [ -n "$(lease_keys)" ]; }
counted() { [ "$(lines "$COUNT")" -ge "$1" ]; }

# ---- a holder computing over three TTLs keeps its lease ----------------
mkdir renew && cd renew || exit 2
mkdir a b
STAGE=(--stage slow --out out.txt -- sh -c 'echo x >>"$COUNT"; sleep 4; echo result >out.txt; echo done')
( cd a && ARCA_DIR=$STORE_A timeout 60 "$ARCA" run "${STAGE[@]}" \
	</dev/null >../o.a 2>../e.a; echo $? >../rc.a ) &
HOLDER=$!
if ! wait_for counted 1 || ! wait_for has_lease; then
	fail "remote_lease_renew__holder_started" "$(cat e.a 2>/dev/null)"
	finish
fi
key=$(lease_keys | head -1)
token=$(rcli get "$key")
t0=$(date +%s%3N)
( cd b && ARCA_DIR=$STORE_B timeout 60 "$ARCA" run --lock-timeout 30 \
	"${STAGE[@]}" </dev/null >../o.b 2>../e.b; echo $? >../rc.b ) &
WAITER=$!
# Two TTLs in, the holder is still computing and its token still holds
# the lease: it was renewed (without renewal it expired 1.2 s in).
sleep 2.4
assert_eq "remote_lease_renew__same_token_after_2_ttls" "$token" "$(rcli get "$key")"
wait "$HOLDER" "$WAITER"
t1=$(date +%s%3N)
assert_eq "remote_lease_renew__computed_once" 1 "$(lines "$COUNT")"
assert_eq "remote_lease_renew__holder_exit_0" 0 "$(cat rc.a)"
assert_eq "remote_lease_renew__waiter_exit_0" 0 "$(cat rc.b)"
assert_contains "remote_lease_renew__waiter_waited" "$(cat e.b)" "waiting for slow"
assert_not_contains "remote_lease_renew__waiter_did_not_store" "$(cat e.b)" "arca: stored slow"
assert_contains "remote_lease_renew__holder_stored" "$(cat e.a)" "arca: stored slow"
assert_not_contains "remote_lease_renew__no_lost_warning" "$(cat e.a e.b)" "cross-host lease"
assert_eq "remote_lease_renew__waiter_hit_output" "result" "$(cat b/out.txt 2>/dev/null)"
assert_eq "remote_lease_renew__waiter_stdout" "done" "$(cat o.b)"
assert_eq "remote_lease_renew__released" 0 "$(lease_keys | wc -l | tr -d ' ')"
took=$((t1 - t0))
if [ "$took" -lt 15000 ]; then pass "remote_lease_renew__bounded_${took}ms"
else fail "remote_lease_renew__bounded" "took ${took} ms"; fi
cd .. || exit 2

# ---- one lock timeout bounds the local and the Redis wait together -----
# A (machine A) holds the Redis lease for 8 s. On machine B, B1
# (--lock-timeout 2) takes the local lease, waits for A's, gives up at
# 2 s, computes and fails at once (the second run exits 1), releasing
# the local lease. B2 (--lock-timeout 3), started while B1 waits, waits
# for the local lease ~1.8 s, then for A's Redis lease: only what is
# left of its 3 s (before: 3 s more, ~4.9 s in all), then computes.
: >"$COUNT"
mkdir bound && cd bound || exit 2
mkdir a b1 b2
STAGE4=(--stage bound --out out.txt -- sh -c 'echo x >>"$COUNT"; case $(wc -l <"$COUNT") in 1) sleep 8 ;; 2) exit 1 ;; esac; echo result4 >out.txt')
( cd a && ARCA_DIR=$STORE_A timeout 60 "$ARCA" run "${STAGE4[@]}" \
	</dev/null >../o.a 2>../e.a; echo $? >../rc.a ) &
HOLDER=$!
if ! wait_for counted 1 || ! wait_for has_lease; then
	fail "remote_lease_renew__bound_holder_started" "$(cat e.a 2>/dev/null)"
	finish
fi
( cd b1 && ARCA_DIR=$STORE_B timeout 60 "$ARCA" run --lock-timeout 2 \
	"${STAGE4[@]}" </dev/null >../o.b1 2>../e.b1; echo $? >../rc.b1 ) &
B1=$!
b1_waits() { grep -q '^arca: waiting for bound' e.b1 2>/dev/null; }
wait_for b1_waits || fail "remote_lease_renew__bound_b1_waits" "$(cat e.b1)"
t0=$(date +%s%3N)
( cd b2 && ARCA_DIR=$STORE_B timeout 60 "$ARCA" run --lock-timeout 3 \
	"${STAGE4[@]}" </dev/null >../o.b2 2>../e.b2; echo $? >../rc.b2 )
t1=$(date +%s%3N)
wait "$B1"
took=$((t1 - t0))
assert_eq "remote_lease_renew__bound_b1_failed" 1 "$(cat rc.b1)"
assert_eq "remote_lease_renew__bound_b2_exit_0" 0 "$(cat rc.b2)"
assert_contains "remote_lease_renew__bound_b2_gave_up" "$(cat e.b2)" "gave up waiting for bound"
assert_eq "remote_lease_renew__bound_b2_waited_once" 1 "$(grep -c '^arca: waiting for bound' e.b2)"
if [ "$took" -ge 2900 ] && [ "$took" -lt 4400 ]; then
	pass "remote_lease_renew__bound_one_timeout_${took}ms"
else
	fail "remote_lease_renew__bound_one_timeout" "B2 took ${took} ms (3 s lock timeout): $(cat e.b2)"
fi
wait "$HOLDER"
assert_eq "remote_lease_renew__bound_holder_exit_0" 0 "$(cat rc.a)"
cd .. || exit 2

# ---- a SIGKILLed holder's lease expires after one TTL ------------------
: >"$COUNT"
mkdir killed && cd killed || exit 2
mkdir a b
# The first run (the holder) sleeps until killed; any later one is quick.
# The command's shell execs sleep, so the PID it writes is the sleep's.
STAGE2=(--stage stuck --out out.txt -- sh -c 'echo x >>"$COUNT"; if mkdir "$COUNT.first" 2>/dev/null; then echo $$ >>"$CMD_PIDS"; exec sleep 60; fi; echo result2 >out.txt; echo done2')
( cd a && ARCA_DIR=$STORE_A exec "$ARCA" run "${STAGE2[@]}" </dev/null >../o.a 2>../e.a ) &
HOLDER_PID=$!
if ! wait_for counted 1 || ! wait_for has_lease; then
	fail "remote_lease_renew__killed_holder_started" "$(cat e.a 2>/dev/null)"
	finish
fi
kill -9 "$HOLDER_PID"
{ wait "$HOLDER_PID"; } 2>/dev/null
HOLDER_PID=
t0=$(date +%s%3N)
( cd b && ARCA_DIR=$STORE_B timeout 60 "$ARCA" run --lock-timeout 30 \
	"${STAGE2[@]}" </dev/null >../o.b 2>../e.b; echo $? >../rc.b )
t1=$(date +%s%3N)
assert_eq "remote_lease_renew__killed_waiter_exit_0" 0 "$(cat rc.b)"
assert_eq "remote_lease_renew__killed_waiter_computed" 2 "$(lines "$COUNT")"
assert_contains "remote_lease_renew__killed_waiter_stored" "$(cat e.b)" "arca: stored stuck"
assert_eq "remote_lease_renew__killed_waiter_output" "result2" "$(cat b/out.txt 2>/dev/null)"
assert_eq "remote_lease_renew__killed_released" 0 "$(lease_keys | wc -l | tr -d ' ')"
took=$((t1 - t0))
# At most one TTL (1.2 s) after the kill, plus a backoff pause and the
# compute: well under the 30 s lock timeout it would otherwise wait.
if [ "$took" -lt 10000 ]; then pass "remote_lease_renew__killed_takeover_${took}ms"
else fail "remote_lease_renew__killed_takeover" "took ${took} ms"; fi
cd .. || exit 2

# ---- Redis killed mid-compute: the holder finishes ----------------------
: >"$COUNT"
mkdir dead && cd dead || exit 2
STAGE3=(--stage slow3 --out out.txt -- sh -c 'echo x >>"$COUNT"; sleep 3; echo result3 >out.txt; echo done3')
( ARCA_DIR=$STORE_A timeout 60 "$ARCA" run "${STAGE3[@]}" </dev/null >o 2>e; echo $? >rc ) &
HOLDER=$!
if ! wait_for counted 1 || ! wait_for has_lease; then
	fail "remote_lease_renew__dead_holder_started" "$(cat e 2>/dev/null)"
	finish
fi
kill "$REDIS_PID"
wait "$REDIS_PID" 2>/dev/null
REDIS_PID=
wait "$HOLDER"
assert_eq "remote_lease_renew__dead_exit_0" 0 "$(cat rc)"
assert_eq "remote_lease_renew__dead_output" "result3" "$(cat out.txt 2>/dev/null)"
assert_eq "remote_lease_renew__dead_stdout" "done3" "$(cat o)"
assert_eq "remote_lease_renew__dead_one_renewal_warning" 1 \
	"$(grep -c 'cross-host lease of action .*renewals failed' e)"
cd .. || exit 2

finish
