#!/usr/bin/env bash
# Single-flight across processes: 16 concurrent runs of one slow stage
# compute it once; a SIGKILLed holder's lease is taken over at once;
# --lock-timeout / ARCA_LOCK_TIMEOUT bound the wait; --no-cache takes no
# lease; 16 processes opening a brand-new store at once all succeed.
. "${ARCA_TEST_LIB:-$(dirname "$0")/../lib.sh}" || exit 2

now_ms() { date +%s%3N; }
lines() { if [ -f "$1" ]; then wc -l <"$1" | tr -d ' '; else echo 0; fi; }
# Wait (at most 20 s) until file $1 has at least $2 lines / contains $2.
wait_lines() {
	local i
	for i in $(seq 400); do
		[ "$(lines "$1")" -ge "$2" ] && return 0
		sleep 0.05
	done
	return 1
}
wait_grep() {
	local i
	for i in $(seq 400); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}
# Kill (SIGKILL) only processes this test started: the arca holder and
# the command it ran, which outlives it.
kill_tree() {
	local kids
	kids=$(pgrep -P "$1" 2>/dev/null)
	kill -KILL "$1" 2>/dev/null
	for k in $kids; do
		kill -KILL "$k" 2>/dev/null
	done
	wait "$1" 2>/dev/null
}

# ---- 16 processes, one key --------------------------------------------
mkdir one && cd one || exit 2
SLOW=(--stage slow --out out.txt -- sh -c 'echo x >>count; sleep 1; echo result >out.txt; echo done')
pids=()
for i in $(seq 16); do
	( timeout 120 "$ARCA" run "${SLOW[@]}" >"o.$i" 2>"e.$i"; echo $? >"rc.$i" ) &
	pids+=($!)
done
wait "${pids[@]}"
assert_eq "lease__16_processes_compute_once" 1 "$(lines count)"
assert_eq "lease__16_processes_exit_0" "16" "$(cat rc.* | grep -c '^0$')"
assert_eq "lease__16_outputs_identical" "done" "$(cat o.* | sort -u)"
assert_eq "lease__output_present" "result" "$(cat out.txt)"
assert_eq "lease__15_waited_then_hit" 15 \
	"$(cat e.* | grep -c 'arca: hit slow ')"
assert_eq "lease__waiting_line_once_each" 15 \
	"$(cat e.* | grep -c 'arca: waiting for slow [0-9a-f]\{8\} (another process is computing it)$')"
assert_eq "lease__one_stored" 1 "$(cat e.* | grep -c 'arca: stored slow ')"
assert_eq "lease__no_lease_file_left" "" "$(ls "$ARCA_DIR/leases" 2>/dev/null)"
cd .. || exit 2

# ---- a holder killed with SIGKILL is taken over at once ---------------
fresh_store
mkdir killed && cd killed || exit 2
KSTAGE=(--stage held --out out.txt -- sh -c 'echo x >>count; sleep 2; echo r >out.txt')
"$ARCA" run "${KSTAGE[@]}" >holder.out 2>holder.err &
holder=$!
wait_lines count 1 || fail "lease__killed_holder_started" "holder never ran"
# The waiter would wait 10 minutes for a live holder.
( timeout 120 "$ARCA" run --lock-timeout 600 "${KSTAGE[@]}" >w.out 2>w.err
  echo $? >w.rc ) &
waiter=$!
wait_grep w.err "waiting for held" ||
	fail "lease__killed_holder_waiter_waits" "$(cat w.err)"
t0=$(now_ms)
kill_tree "$holder"
wait_lines count 2
took=$(( $(now_ms) - t0 ))
if [ "$took" -lt 2000 ]; then
	pass "lease__killed_holder_taken_over_fast"
else
	fail "lease__killed_holder_taken_over_fast" "took ${took} ms"
fi
wait "$waiter"
assert_eq "lease__killed_holder_waiter_exit_0" 0 "$(cat w.rc)"
assert_contains "lease__killed_holder_waiter_stored" "$(cat w.err)" \
	"arca: stored held "
assert_not_contains "lease__killed_holder_no_give_up" "$(cat w.err)" \
	"gave up"
run "$ARCA" run "${KSTAGE[@]}"
assert_contains "lease__after_takeover_hit" "$ERR" "arca: hit held "
cd .. || exit 2

# ---- bounded waits ------------------------------------------------------
fresh_store
mkdir bounded bounded2 && cd bounded || exit 2
# The command sleeps $(cat delay) s: the holder is slow, the waiters not.
BSTAGE=(--stage bounded --out out.txt -- sh -c 'd=$(cat delay); echo x >>count; sleep $d; echo r >out.txt')
echo 8 >delay
echo 0 >../bounded2/delay
"$ARCA" run "${BSTAGE[@]}" >holder.out 2>holder.err &
holder=$!
wait_lines count 1 || fail "lease__bounded_holder_started" "holder never ran"
echo 0 >delay
# A waiter in another directory (the same key, other output files) gives
# up after the timeout and computes anyway.
cd ../bounded2 || exit 2
t0=$(now_ms)
run timeout 60 "$ARCA" run --lock-timeout 1 "${BSTAGE[@]}"
took=$(( $(now_ms) - t0 ))
check_rc "lease__lock_timeout_exit_0" 0
assert_eq "lease__lock_timeout_computes" 1 "$(lines count)"
assert_contains "lease__lock_timeout_says_so" "$ERR" \
	"arca: gave up waiting for bounded "
assert_contains "lease__lock_timeout_seconds" "$ERR" \
	"after 1 s; computing anyway"
if [ "$took" -ge 900 ] && [ "$took" -lt 4000 ]; then
	pass "lease__lock_timeout_about_1s"
else
	fail "lease__lock_timeout_about_1s" "took ${took} ms"
fi
# The same from the environment (--refresh: the entry now exists, and a
# refresh waits for the lease too).
run env ARCA_LOCK_TIMEOUT=0.5 timeout 60 "$ARCA" run --refresh "${BSTAGE[@]}"
check_rc "lease__env_lock_timeout_exit_0" 0
assert_contains "lease__env_lock_timeout_says_so" "$ERR" \
	"after 0.5 s; computing anyway"
assert_eq "lease__env_lock_timeout_computes" 2 "$(lines count)"
cd ../bounded || exit 2
# In the holder's own directory computing anyway would write the very
# files the holder is writing (and could store them under its key): the
# waiter waits for the outputs' locks too, then gives up without running.
run env ARCA_LOCK_TIMEOUT=0.5 timeout 60 "$ARCA" run --refresh "${BSTAGE[@]}"
check_rc "lease__output_lock_timeout_exit_125" 125
assert_contains "lease__output_lock_timeout_waits" "$ERR" \
	"arca: waiting for output 'out.txt' of bounded (another process is writing it)"
assert_contains "lease__output_lock_timeout_says_so" "$ERR" \
	"arca: output 'out.txt': still being written by another process"
assert_eq "lease__output_lock_timeout_does_not_run" 1 "$(lines count)"
# --no-cache takes no lease: no wait, no message.
t0=$(now_ms)
run timeout 60 "$ARCA" run --no-cache "${BSTAGE[@]}"
took=$(( $(now_ms) - t0 ))
check_rc "lease__no_cache_exit_0" 0
assert_not_contains "lease__no_cache_does_not_wait" "$ERR" "waiting"
if [ "$took" -lt 900 ]; then
	pass "lease__no_cache_is_immediate"
else
	fail "lease__no_cache_is_immediate" "took ${took} ms"
fi
wait "$holder"
# Bad values are usage errors.
run "$ARCA" run --lock-timeout soon "${BSTAGE[@]}"
check_rc "lease__lock_timeout_bad_value" 125
assert_contains "lease__lock_timeout_bad_value_msg" "$ERR" "--lock-timeout 'soon'"
# A bad environment setting is exit 2 for any command (docs/cli.md,
# Configuration), as a bad config.yaml always was.
run env ARCA_LOCK_TIMEOUT=-3 "$ARCA" run "${BSTAGE[@]}"
check_rc "lease__env_lock_timeout_bad_value" 2
assert_contains "lease__env_lock_timeout_bad_value_msg" "$ERR" "ARCA_LOCK_TIMEOUT='-3'"
cd .. || exit 2

# ---- arca repro: concurrent pipelines share the work --------------------
fresh_store
mkdir pipe && cd pipe || exit 2
cat >arca.yaml <<'EOF'
stages:
  slow:
    cmd: echo x >>count; sleep 1; echo made >made.out
    outs: [made.out]
EOF
pids=()
for i in $(seq 4); do
	( timeout 120 "$ARCA" repro >"o.$i" 2>"e.$i"; echo $? >"rc.$i" ) &
	pids+=($!)
done
wait "${pids[@]}"
assert_eq "lease__repro_computes_once" 1 "$(lines count)"
assert_eq "lease__repro_all_exit_0" 4 "$(cat rc.* | grep -c '^0$')"
run "$ARCA" repro --lock-timeout 0 slow
check_rc "lease__repro_lock_timeout_zero_refused" 2
cd .. || exit 2

# ---- first open of an empty store by 16 processes -----------------------
mkdir firstopen && cd firstopen || exit 2
ok=1
for round in 1 2 3 4 5; do
	fresh_store
	pids=()
	for i in $(seq 16); do
		printf 'blob %s %s\n' "$round" "$i" >"b.$i"
		( "$ARCA" put "b.$i" >"p.$i" 2>"pe.$i"; echo $? >"prc.$i" ) &
		pids+=($!)
	done
	wait "${pids[@]}"
	if [ "$(cat prc.* | grep -c '^0$')" != 16 ] ||
	   grep -qi "locked\|busy" pe.*; then
		ok=0
		fail "lease__first_open_16_processes" "round $round" \
			"$(cat pe.*)"
		break
	fi
	# Every blob reads back.
	for i in $(seq 16); do
		if ! "$ARCA" get "$(cat "p.$i")" | cmp -s - "b.$i"; then
			ok=0
			fail "lease__first_open_blobs_read_back" "round $round, $i"
			break 2
		fi
	done
done
[ "$ok" = 1 ] && pass "lease__first_open_16_processes_5_rounds"
cd .. || exit 2

finish
