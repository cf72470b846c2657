#!/usr/bin/env bash
# Remote tier faults never fail a run, against a real redis-server
# (started here on a free 127.0.0.1 port, killed at the end): the circuit
# breaker with a stalled (SIGSTOPped) server bounds the added delay of 20
# short runs to about its threshold of timeouts, shares its state through
# DIR/tiers/, is counted, and after the cool-down (ARCA_TEST_NOW, no
# sleeping) one probe closes it; a fault-injecting proxy between arca and
# Redis (error replies, replies cut halfway, flipped bytes): each case a
# completed run, a counted error, no wrong bytes in tier 0.
. "${ARCA_TEST_LIB:-$(dirname "$0")/../lib.sh}" || exit 2
. "$(dirname "$0")/../servers.sh" || exit 2

if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null ||
   [ ! -x /usr/bin/python3 ]; then
	echo "ok - remote_faults__skipped (no redis-server or python3)"
	finish
fi
unset ARCA_TIERS ARCA_TEST_NOW
A() { timeout 60 "$ARCA" "$@"; }

start_redis
URL="redis://127.0.0.1:$PORT"

cat >stage.sh <<'EOS'
#!/bin/sh
echo run >>"$COUNT"
tr a-z A-Z <in.txt >out.txt
EOS
chmod +x stage.sh
echo "bytes that must not change" >in.txt
export COUNT="$TEST_TMP/count"
runs() { if [ -f "$COUNT" ]; then wc -l <"$COUNT" | tr -d ' '; else echo 0; fi; }
RUN=(run --stage upper --in in.txt --out out.txt -- ./stage.sh)
ms_now() { date +%s%3N; }
tier_config() { # STORE URL TIMEOUT_MS
	mkdir -p "$1"
	printf 'tiers:\n  - url: %s\n    timeout_ms: %s\n' "$2" "$3" >"$1/config.yaml"
}
tier_field() { # NAME: tiers[0].NAME of the JSON in $OUT
	printf '%s\n' "$OUT" | /usr/bin/python3 -c \
		'import json, sys; print(json.load(sys.stdin)["tiers"][0][sys.argv[1]])' "$1"
}

# ---- the breaker: a stalled server ------------------------------------
# A configured tier is opened without connecting: a hit in tier 0 never
# asks it, so 20 hits with the server stalled cost nothing and say
# nothing. A miss asks it; its first call failing stands for a failed
# open (the handle goes on without it), and the breaker, shared through
# DIR/tiers/, bounds what 20 such runs wait to its threshold of timeouts.
TIMEOUT_MS=200
STORE=$TEST_TMP/breaker
tier_config "$STORE" "$URL" "$TIMEOUT_MS"
export ARCA_DIR=$STORE
run A "${RUN[@]}"
check_rc "breaker__first_run_exit_0" 0
cp out.txt expected.txt
# The processes' own time, with the server answering: the baselines.
t0=$(ms_now)
for i in $(seq 20); do A "${RUN[@]}" >/dev/null 2>&1; done
t1=$(ms_now)
hits_baseline=$((t1 - t0))
t0=$(ms_now)
for i in $(seq 20); do
	echo "answering $i" >in.txt
	A "${RUN[@]}" >/dev/null 2>&1
done
t1=$(ms_now)
miss_baseline=$((t1 - t0))
echo "bytes that must not change" >in.txt
base=$(runs)
kill -STOP "$REDIS_PID"
ok=0
: >"$TEST_TMP/stalled_hits.err"
t0=$(ms_now)
for i in $(seq 20); do
	A "${RUN[@]}" >/dev/null 2>>"$TEST_TMP/stalled_hits.err" && ok=$((ok + 1))
done
t1=$(ms_now)
added=$((t1 - t0 - hits_baseline))
echo "# 20 hits: $hits_baseline ms answering, $((t1 - t0)) ms stalled (+$added ms)"
assert_eq "breaker__20_hits_exit_0" 20 "$ok"
assert_eq "breaker__hits_from_tier_0" "$base" "$(runs)"
assert_files_eq "breaker__hit_output_intact" expected.txt out.txt
assert_not_contains "breaker__hits_say_nothing" "$(cat "$TEST_TMP/stalled_hits.err")" "warning"
# Not one call between them: no timeout, no error, no time counted
# (the wall time above is for information: a loaded machine moves it).
run A stats --json
assert_eq "breaker__hits_no_timeout" 0 "$(tier_field timeouts)"
assert_eq "breaker__hits_no_error" 0 "$(tier_field errors)"
assert_eq "breaker__hits_no_breaker_state" "" "$(cat "$STORE"/tiers/*.state 2>/dev/null | grep -E '^failures [1-9]')"
ok=0
: >"$TEST_TMP/stalled.err"
t0=$(ms_now)
for i in $(seq 20); do
	echo "stalled $i" >in.txt
	A "${RUN[@]}" >/dev/null 2>>"$TEST_TMP/stalled.err" && ok=$((ok + 1))
	[ "$(cat out.txt)" = "STALLED $i" ] || echo "run $i: wrong output" >>"$TEST_TMP/wrong"
done
t1=$(ms_now)
elapsed=$((t1 - t0))
assert_eq "breaker__20_misses_exit_0" 20 "$ok"
assert_eq "breaker__misses_computed_locally" $((base + 20)) "$(runs)"
assert_eq "breaker__misses_output_right" "" "$(cat "$TEST_TMP/wrong" 2>/dev/null)"
# Without the breaker each run waits one timeout: 20 x 200 ms = 4 s of
# added delay. With it, 3 timeouts (its threshold) in total: the added
# delay must stay under 8 timeouts (room for a loaded machine or a
# sanitizer build), far from 20.
added=$((elapsed - miss_baseline))
echo "# 20 misses: $miss_baseline ms answering, $elapsed ms stalled (+$added ms)"
if [ "$added" -lt $((8 * TIMEOUT_MS)) ]; then
	pass "breaker__bounded_delay (+$added ms < $((8 * TIMEOUT_MS)) ms)"
else
	fail "breaker__bounded_delay" "20 runs added $added ms"
fi
STATE=$(cat "$STORE"/tiers/*.state 2>/dev/null)
assert_contains "breaker__state_file_open" "$STATE" "breaker open"
assert_contains "breaker__state_file_url" "$STATE" "url $URL"
assert_eq "breaker__opened_once_on_stderr" 1 \
	"$(grep -c 'circuit breaker open after 3 consecutive' "$TEST_TMP/stalled.err")"
assert_eq "breaker__three_timeouts_warned" 3 \
	"$(grep -c 'going on without this tier' "$TEST_TMP/stalled.err")"
echo "bytes that must not change" >in.txt
run A stats --json
assert_eq "breaker__stats_count_opening" 1 "$(tier_field breaker_openings)"
assert_eq "breaker__stats_count_timeouts" 3 "$(tier_field timeouts)"
# 17 runs skipped it at open, the 3 that timed out skipped their later
# calls: at least 17.
skipped=$(tier_field skipped)
if [ "$skipped" -ge 17 ]; then
	pass "breaker__stats_count_skipped ($skipped)"
else
	fail "breaker__stats_count_skipped" "$skipped < 17"
fi
run A remote ls
assert_contains "breaker__remote_ls_open" "$OUT" "open"
# Still inside the cool-down (59 s later): skipped at once.
opened_at=$(sed -n 's/^opened_at //p' "$STORE"/tiers/*.state)
echo "cool-down 1" >in.txt
ARCA_TEST_NOW=$((opened_at + 59)) run A "${RUN[@]}"
check_rc "breaker__within_cooldown_exit_0" 0
assert_not_contains "breaker__within_cooldown_no_probe" "$ERR" "going on without"
# After the cool-down, with the server back: one probe (the first call
# of a run that asks the tier) closes it.
kill -CONT "$REDIS_PID"
echo "cool-down 2" >in.txt
ARCA_TEST_NOW=$((opened_at + 61)) run A "${RUN[@]}"
check_rc "breaker__probe_exit_0" 0
assert_contains "breaker__closed_on_stderr" "$ERR" "circuit breaker closed"
assert_contains "breaker__state_closed" "$(cat "$STORE"/tiers/*.state)" "breaker closed"
# After the cool-down with the server still stalled: the probe fails
# and the breaker opens again (one timeout, not three).
kill -STOP "$REDIS_PID"
for i in 1 2 3; do echo "again $i" >in.txt; A "${RUN[@]}" >/dev/null 2>&1; done
opened_at=$(sed -n 's/^opened_at //p' "$STORE"/tiers/*.state)
echo "cool-down 3" >in.txt
ARCA_TEST_NOW=$((opened_at + 61)) run A "${RUN[@]}"
check_rc "breaker__failed_probe_exit_0" 0
assert_contains "breaker__reopened_on_stderr" "$ERR" "open again"
echo "cool-down 4" >in.txt
ARCA_TEST_NOW=$((opened_at + 62)) run A "${RUN[@]}"
assert_not_contains "breaker__reopened_skips" "$ERR" "going on without"
kill -CONT "$REDIS_PID"
echo "bytes that must not change" >in.txt
unset ARCA_DIR

# ---- figures of concurrent processes all kept --------------------------
STORE=$TEST_TMP/parallel
tier_config "$STORE" "$URL" 2000
for i in $(seq 8); do echo "parallel blob $i" >"p$i.txt"; done
PUTS=()
for i in $(seq 8); do
	ARCA_DIR=$STORE A put "p$i.txt" >/dev/null 2>&1 &
	PUTS+=("$!")
done
wait_ok=0
for j in "${PUTS[@]}"; do wait "$j" && wait_ok=$((wait_ok + 1)); done
assert_eq "parallel__puts_exit_0" 8 "$wait_ok"
st=$(cat "$STORE"/tiers/*.state)
assert_contains "parallel__state_file_whole" "$st" "arca-tier-state 1"
assert_contains "parallel__every_put_counted" "$st" "stored 8"
ls "$STORE"/tiers/ | grep -q tmp && fail "parallel__no_temp_left" "$(ls "$STORE"/tiers/)" \
	|| pass "parallel__no_temp_left"

# ---- a fault-injecting proxy ----------------------------------------
MODE="$TEST_TMP/proxy.mode"
echo pass >"$MODE"
start_proxy "$PORT" "$MODE"
PURL="redis://127.0.0.1:$PROXY_PORT"
# The entry is in Redis (machine A wrote it through directly).
redis-cli -p "$PORT" flushall >/dev/null
SEED=$TEST_TMP/seed
tier_config "$SEED" "$URL" 2000
ARCA_DIR=$SEED A "${RUN[@]}" >/dev/null 2>&1
cp out.txt expected.txt
base=$(runs)
n=0
for mode in error cut flip; do
	n=$((n + 1))
	S=$TEST_TMP/proxy_$mode
	tier_config "$S" "$PURL" 500
	echo "$mode" >"$MODE"
	rm -f out.txt "$MODE.log"
	ARCA_DIR=$S run A "${RUN[@]}"
	check_rc "proxy_${mode}__run_exit_0" 0
	assert_files_eq "proxy_${mode}__output_right" expected.txt out.txt
	assert_eq "proxy_${mode}__computed_locally" $((base + n)) "$(runs)"
	if [ "$mode" = error ]; then
		# Three errors in the one run opened the breaker; the run's
		# later calls (the write-through) were skipped, not made.
		# (The run's own figures, as its handle left them in the
		# state file; before any other handle adds to them.)
		st=$(cat "$S"/tiers/*.state)
		assert_contains "proxy_error__breaker_opened_mid_run" "$st" \
			"breaker_openings 1"
		assert_not_contains "proxy_error__later_calls_skipped" "$st" \
			"skipped 0"
		# Only the three failed calls reached the server.
		assert_eq "proxy_error__no_call_after_opening" 3 \
			"$(grep -c '^error$' "$MODE.log")"
	fi
	echo pass >"$MODE"
	ARCA_DIR=$S run A stats --json
	e=$(tier_field errors); t=$(tier_field timeouts); c=$(tier_field corrupt)
	if [ $(( ${e:-0} + ${t:-0} + ${c:-0} )) -gt 0 ]; then
		pass "proxy_${mode}__counted (errors $e, timeouts $t, corrupt $c)"
	else
		fail "proxy_${mode}__counted" "$OUT"
	fi
	ARCA_DIR=$S run A verify
	check_rc "proxy_${mode}__tier0_verifies" 0
done
# Flipped bytes are a corrupt read, never the bytes: counted as such.
ARCA_DIR=$TEST_TMP/proxy_flip run A stats --json
assert_eq "proxy_flip__corrupt_counted" 1 "$([ "$(tier_field corrupt)" -ge 1 ] && echo 1)"

# ---- a success resets the count --------------------------------------
# Five processes each fail one lookup (`arca get` of a blob no tier has,
# an injected error), each followed by a process whose write-through
# succeeds (`arca put`, the proxy passing). Each success resets the
# count, so the breaker never sees 3 consecutive failures.
S=$TEST_TMP/proxy_reset
tier_config "$S" "$PURL" 500
rm -f "$MODE.log"
NONE=0000000000000000000000000000000000000000000000000000000000000000
for i in 1 2 3 4 5; do
	echo error >"$MODE"
	ARCA_DIR=$S A get "$NONE" >/dev/null 2>&1
	echo pass >"$MODE"
	echo "reset $i" >"$TEST_TMP/reset.txt"
	ARCA_DIR=$S A put "$TEST_TMP/reset.txt" >/dev/null 2>&1
done
assert_eq "breaker_reset__every_lookup_made" 5 "$(grep -c '^error$' "$MODE.log")"
assert_not_contains "breaker_reset__still_closed" "$(cat "$S"/tiers/*.state)" \
	"breaker open"

# ---- Redis killed in the middle of a pipeline -------------------------
FIRST_PORT=$PORT FIRST_PID=$REDIS_PID
start_redis
PORT3=$PORT KILLED_PID=$REDIS_PID
PORT=$FIRST_PORT REDIS_PID=$FIRST_PID
export KILLED_PID
mkdir -p pipe && cd pipe
echo "pipeline input" >in.txt
cat >arca.yaml <<'EOY'
stages:
  first:
    cmd: tr a-z A-Z <in.txt >first.out
    deps: [in.txt]
    outs: [first.out]
  killer:
    cmd: kill -9 "$KILLED_PID"; sleep 0.2; cat first.out first.out >second.out
    deps: [first.out]
    outs: [second.out]
  last:
    cmd: cat second.out >last.out; echo done >>last.out
    deps: [second.out]
    outs: [last.out]
EOY
S=$TEST_TMP/killed
tier_config "$S" "redis://127.0.0.1:$PORT3" 500
ARCA_DIR=$S run A repro
check_rc "killed_mid_pipeline__exit_0" 0
assert_eq "killed_mid_pipeline__last_output" "done" "$(tail -1 last.out)"
ARCA_DIR=$S run A verify
check_rc "killed_mid_pipeline__tier0_verifies" 0
st=$(cat "$S"/tiers/*.state)
if printf '%s\n' "$st" | grep -Eq '^(errors|timeouts) [1-9]'; then
	pass "killed_mid_pipeline__counted"
else
	fail "killed_mid_pipeline__counted" "$st"
fi
# The next run: everything from tier 0, the dead server left out.
rm -f first.out second.out last.out
ARCA_DIR=$S run A repro
check_rc "killed_mid_pipeline__rerun_exit_0" 0
assert_eq "killed_mid_pipeline__rerun_restored" "done" "$(tail -1 last.out)"
cd ..

finish
