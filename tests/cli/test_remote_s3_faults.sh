#!/usr/bin/env bash
# S3 tier faults never fail a run, against the S3 test server
# (tests/s3/server.js on a free 127.0.0.1 port, started here, killed at
# the end) and a fault-injecting proxy between arca and it
# (tests/helpers/fault_proxy.py's HTTP modes). A configured tier opens
# lazily: its HeadBucket is sent before its first call, and that call
# stands for the open.
#  - the entry in the bucket (stored there by a store with a direct tier),
#    an empty tier 0 reaching the bucket through the proxy answering 500,
#    503, stalling past timeout_ms, cutting an answer's body halfway or
#    flipping a small body's bytes, the HeadBucket faulted too or let
#    through (:data): each a completed run (exit 0), the output computed
#    locally and right, the requests the proxy saw, the fault counted in
#    the tier's figures, one warning or the breaker's line as the case
#    may be, tier 0 verifying, and the write-through to the failing tier
#    not failing the run;
#  - the circuit breaker with the proxy stalling: 20 hits from tier 0
#    make no call and none waits a timeout (of 5 s, for them); 20 misses add less than 8
#    timeouts of delay to the baseline of 20 with the proxy passing,
#    three calls stalled (one a process), opened once, counted; after the
#    cool-down (ARCA_TEST_NOW, no sleeping) a hit leaves the probe alone
#    and a miss takes it;
#  - the server killed (SIGKILL by PID) in the middle of a pipeline
#    (arca repro): exit 0, every stage's output right, counted.
. "${ARCA_TEST_LIB:-$(dirname "$0")/../lib.sh}" || exit 2

SRC="${ARCA_SRC:-$(dirname "$0")/../..}"
HELPERS="$SRC/tests/helpers"
if ! command -v node >/dev/null || [ ! -x /usr/bin/python3 ] ||
   [ ! -d "$SRC/tests/s3/node_modules/@20minutes/s3rver" ]; then
	echo "ok - remote_s3_faults__skipped (no node, python3 or tests/s3/node_modules: run scripts/bootstrap)"
	finish
fi
unset ARCA_TIERS ARCA_TEST_NOW AWS_SESSION_TOKEN AWS_PROFILE AWS_REGION \
	AWS_DEFAULT_REGION
export AWS_SHARED_CREDENTIALS_FILE=/nonexistent/credentials
export S3_TEST_ACCESS_KEY=AKIATESTFAULTS S3_TEST_SECRET=faults-secret-1
export AWS_ACCESS_KEY_ID=$S3_TEST_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$S3_TEST_SECRET

PIDS=()
stop_all() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	cleanup_test_tmp
}
trap stop_all EXIT
start_s3() { # NAME: a server on DIR/NAME, its port in S3_PORT, pid S3_PID
	mkdir -p "$TEST_TMP/$1"
	node "$SRC/tests/s3/server.js" "$TEST_TMP/$1" "$TEST_TMP/$1.port" team \
		>"$TEST_TMP/$1.log" 2>&1 &
	S3_PID=$!
	PIDS+=("$S3_PID")
	for _ in $(seq 300); do [ -s "$TEST_TMP/$1.port" ] && break; sleep 0.05; done
	S3_PORT=$(cat "$TEST_TMP/$1.port")
}
url() { echo "s3://team/arca?endpoint=http://127.0.0.1:$1&region=us-east-1"; }
A() { timeout 60 "$ARCA" "$@"; }
# A run that meets a stall: seconds at most, however loaded the machine,
# so a call the tier's timeout_ms failed to bound fails the case quickly.
AS() { timeout 10 "$ARCA" "$@"; }

start_s3 s3data
MODE="$TEST_TMP/proxy.mode"
echo pass >"$MODE"
/usr/bin/python3 "$HELPERS/fault_proxy.py" "$TEST_TMP/proxy.port" "$S3_PORT" \
	"$MODE" &
PIDS+=("$!")
for _ in $(seq 100); do [ -s "$TEST_TMP/proxy.port" ] && break; sleep 0.05; done
URL=$(url "$S3_PORT")
PURL=$(url "$(cat "$TEST_TMP/proxy.port")")

cat >stage.sh <<'EOS'
#!/bin/sh
echo run >>"$COUNT"
tr a-z A-Z <in.txt >out.txt
EOS
chmod +x stage.sh
# 8 KiB of random bytes, which zstd does not shrink: the blob is stored
# as it is (a flipped byte reaches the digest checks, not a zstd frame's),
# and its body is larger than the action entry's (a few hundred bytes),
# so a flip threshold between the two damages the blob alone.
head -c 8192 /dev/urandom >in.txt
export COUNT="$TEST_TMP/count"
runs() { if [ -f "$COUNT" ]; then wc -l <"$COUNT" | tr -d ' '; else echo 0; fi; }
RUN=(run --stage upper --in in.txt --out out.txt -- ./stage.sh)
ms_now() { date +%s%3N; }
tier_config() { # STORE URL TIMEOUT_MS
	mkdir -p "$1"
	printf 'tiers:\n  - url: "%s"\n    timeout_ms: %s\n' "$2" "$3" \
		>"$1/config.yaml"
}
tier_field() { # NAME: tiers[0].NAME of the JSON in $OUT
	printf '%s\n' "$OUT" | /usr/bin/python3 -c \
		'import json, sys; print(json.load(sys.stdin)["tiers"][0][sys.argv[1]])' "$1"
}
calls() { # MODE [METHOD]: the requests the proxy answered in MODE
	lines "$MODE.log" "^$1( ${2:-[A-Z]+})?\$"
}
lines() { # FILE [ERE]: its lines (matching ERE), 0 when it does not exist
	if [ -f "$1" ]; then grep -cE -- "${2:-}" "$1"; else echo 0; fi
}
BREAKER='circuit breaker open after 3 consecutive'

# ---- the entry in the bucket, an empty tier 0 behind a faulty proxy ----
SEED=$TEST_TMP/seed
tier_config "$SEED" "$URL" 5000
ARCA_DIR=$SEED run A "${RUN[@]}"
check_rc "seed__exit_0" 0
cp out.txt expected.txt
# A store that reaches the bucket through the proxy passing: a hit.
tier_config "$TEST_TMP/through" "$PURL" 5000
rm -f out.txt
ARCA_DIR=$TEST_TMP/through run A "${RUN[@]}"
check_rc "pass__exit_0" 0
assert_eq "pass__restored_without_running" 1 "$(runs)"
assert_files_eq "pass__output_identical" expected.txt out.txt

TIMEOUT_MS=300
n=1
# MODE / errors timeouts corrupt breaker_openings / the requests faulted:
# HEAD GET PUT (- for the stream modes, which log chunks) / lines of
# stderr "going on without this tier", of the breaker opening / what a
# warning names. The run's first call is the lookup of the action entry:
# a lazy backend sends HeadBucket first.
#  - 500 or 503 (the HeadBucket too, or only the rest with :data): the
#    server answered (ARCA_EIO), so the tier stays, each failure the
#    breaker's: the first lookup (its HeadBucket answered 5xx, not sent
#    again, its GET not made; with :data its GET), the second (after the
#    action's lease) and the write-through's first PUT fail, which opens
#    the breaker: three counted, no other request, no warning but the
#    breaker's line;
#  - stalled (the HeadBucket, or with :data the GET after it): the first
#    call times out once, one warning naming that request, and the handle
#    goes on without the tier: no other request, the rest skipped;
#  - a body cut halfway (Content-Length promised more) is an error, each
#    of the two lookups (the entry's body cut; with a 4096-byte threshold
#    the entry arrives whole and the blob, 8 KiB, is cut); a HEAD has no
#    body, the write-through's answers neither: stored;
#  - flipped bytes: corrupt, each lookup (the entry's with a 16-byte
#    threshold; with 4096 the entry arrives intact and the blob, 8 KiB,
#    does not).
while IFS=/ read -r mode figures want_calls warned broke names <&3; do
	[ -n "$mode" ] || continue
	name=$(echo "$mode" | tr -c 'a-z0-9\n' _)
	S=$TEST_TMP/proxy_$name
	tier_config "$S" "$PURL" "$TIMEOUT_MS"
	echo "$mode" >"$MODE"
	rm -f out.txt "$MODE.log"
	t0=$(ms_now)
	ARCA_DIR=$S run AS "${RUN[@]}"
	t1=$(ms_now)
	check_rc "${name}__run_exit_0" 0
	n=$((n + 1))
	assert_eq "${name}__computed_locally" "$n" "$(runs)"
	assert_files_eq "${name}__output_right" expected.txt out.txt
	if [ "$want_calls" = - ]; then
		if [ "$(calls "$mode")" -ge 1 ]; then
			pass "${name}__fault_reached ($(calls "$mode") chunks)"
		else
			fail "${name}__fault_reached" "no call in $mode"
		fi
	else
		got="$(calls "$mode" HEAD) $(calls "$mode" GET) $(calls "$mode" PUT)"
		assert_eq "${name}__requests_faulted (HEAD GET PUT)" "$want_calls" "$got"
		assert_eq "${name}__no_other_request" "$(lines "$MODE.log")" \
			$(($(echo "$got" | tr ' ' +)))
	fi
	# At most three calls wait (then the breaker opens), each bounded by
	# timeout_ms: under 8 timeouts, room for a loaded machine.
	if [ $((t1 - t0)) -lt $((8 * TIMEOUT_MS)) ]; then
		pass "${name}__bounded ($((t1 - t0)) ms < $((8 * TIMEOUT_MS)) ms)"
	else
		fail "${name}__bounded" "the run took $((t1 - t0)) ms"
	fi
	assert_eq "${name}__warned (going on without the tier)" "$warned" \
		"$(grep -c "$names.*; going on without this tier\$" "$ERR_FILE")"
	assert_eq "${name}__breaker_line" "$broke" "$(grep -c "$BREAKER" "$ERR_FILE")"
	assert_contains "${name}__stored_in_tier0" "$ERR" "stored upper"
	# A failed write-through is the tier's, not the action's: cached.
	assert_not_contains "${name}__cached" "$ERR" "could not cache"
	echo pass >"$MODE"
	ARCA_DIR=$S run A stats --json
	got="$(tier_field errors) $(tier_field timeouts) $(tier_field corrupt) $(tier_field breaker_openings)"
	assert_eq "${name}__counted (errors timeouts corrupt openings)" "$figures" "$got"
	# Left out (the first call failed, or the breaker opened): the rest
	# of the run's calls skipped; else none.
	skipped=$(tier_field skipped)
	if [ $((warned + broke)) -gt 0 ]; then
		if [ "$skipped" -ge 1 ]; then
			pass "${name}__rest_skipped ($skipped)"
		else
			fail "${name}__rest_skipped" "skipped $skipped"
		fi
	else
		assert_eq "${name}__none_skipped" 0 "$skipped"
	fi
	ARCA_DIR=$S run A verify
	check_rc "${name}__tier0_verifies" 0
	# Nothing of a cut or flipped blob left behind (pin records aside).
	assert_eq "${name}__no_temp_left" 0 "$(find "$S/tmp" -type f \
		! -name 'pins-*' ! -name 'restore-*' 2>/dev/null | wc -l | tr -d ' ')"
	# What tier 0 holds is the right output: restored from it alone.
	rm -f out.txt
	ARCA_DIR=$S run A --no-remote "${RUN[@]}"
	check_rc "${name}__tier0_hit_exit_0" 0
	assert_eq "${name}__tier0_hit_no_run" "$n" "$(runs)"
	assert_files_eq "${name}__tier0_bytes_right" expected.txt out.txt
done 3<<EOC
http-500/3 0 0 1/1 1 1/0/1/
http-503/3 0 0 1/1 1 1/0/1/
http-500:data/3 0 0 1/0 2 1/0/1/
http-503:data/3 0 0 1/0 2 1/0/1/
http-stall/0 1 0 0/1 0 0/1/0/HEAD bucket: 
http-stall:data/0 1 0 0/0 1 0/1/0/GET arca/ac/
http-cut/2 0 0 0/-/0/0/
http-cut:4096/2 0 0 0/-/0/0/
flip-stream:16/0 0 2 0/-/0/0/
flip-stream:4096/0 0 2 0/-/0/0/
EOC


# ---- the breaker: the proxy stalling ----------------------------------
# A configured tier is opened without asking the bucket: a hit in tier 0
# never calls it, so 20 hits with the proxy stalled cost nothing and say
# nothing. A miss calls it; its first call (HeadBucket first) failing
# stands for a failed open (the handle goes on without the tier), and
# the breaker, shared through DIR/tiers/, bounds what 20 such runs wait
# to its threshold of timeouts.
STORE=$TEST_TMP/breaker
tier_config "$STORE" "$PURL" "$TIMEOUT_MS"
echo pass >"$MODE"
cp in.txt in.orig
rm -f out.txt
export ARCA_DIR=$STORE
run A "${RUN[@]}"
check_rc "breaker__first_run_exit_0" 0
assert_files_eq "breaker__first_run_restored" expected.txt out.txt
# The processes' own time: 20 hits, the proxy passing (they call it
# not), and 20 misses without the tier (--no-remote: what a run that
# leaves the tier out costs; a miss through the proxy passing costs more,
# its lookups and write-through, so it would hide timeouts waited).
t0=$(ms_now)
for i in $(seq 20); do A "${RUN[@]}" >/dev/null 2>&1; done
t1=$(ms_now)
hits_baseline=$((t1 - t0))
t0=$(ms_now)
for i in $(seq 20); do
	echo "no remote $i" >in.txt
	A --no-remote "${RUN[@]}" >/dev/null 2>&1
done
t1=$(ms_now)
miss_baseline=$((t1 - t0))
cp in.orig in.txt
base=$(runs)
echo http-stall >"$MODE"
rm -f "$MODE.log"
# The hits with a 5 s timeout: a hit that waited for the stalled proxy
# would take 5 s by itself, far beyond what a loaded machine adds to a
# process (the sum of 20 against the baseline, or one run against 300
# ms, varies by more than that on a shared machine).
HIT_TIMEOUT_MS=5000
tier_config "$STORE" "$PURL" "$HIT_TIMEOUT_MS"
ok=0
slowest=0
: >"$TEST_TMP/stalled_hits.err"
t0=$(ms_now)
for i in $(seq 20); do
	h0=$(ms_now)
	AS "${RUN[@]}" >/dev/null 2>>"$TEST_TMP/stalled_hits.err" && ok=$((ok + 1))
	h1=$(ms_now)
	[ $((h1 - h0)) -le "$slowest" ] || slowest=$((h1 - h0))
done
t1=$(ms_now)
added=$((t1 - t0 - hits_baseline))
echo "# 20 hits: $hits_baseline ms passing, $((t1 - t0)) ms stalled (+$added ms), the slowest $slowest ms"
assert_eq "breaker__20_hits_exit_0" 20 "$ok"
assert_eq "breaker__hits_from_tier_0" "$base" "$(runs)"
assert_files_eq "breaker__hit_output_intact" expected.txt out.txt
# Not one request reached the proxy (none stalled, none passed).
assert_eq "breaker__hits_call_nothing" 0 "$(lines "$MODE.log")"
assert_not_contains "breaker__hits_say_nothing" \
	"$(cat "$TEST_TMP/stalled_hits.err")" "warning"
# Not one timeout waited: a run that waited one would take timeout_ms
# at least by itself.
if [ "$slowest" -lt "$HIT_TIMEOUT_MS" ]; then
	pass "breaker__hits_wait_for_no_remote (each < $HIT_TIMEOUT_MS ms: $slowest ms)"
else
	fail "breaker__hits_wait_for_no_remote" "a hit took $slowest ms"
fi
tier_config "$STORE" "$PURL" "$TIMEOUT_MS"
ok=0
: >"$TEST_TMP/stalled.err"
: >"$TEST_TMP/wrong"
t0=$(ms_now)
for i in $(seq 20); do
	echo "stalled $i" >in.txt
	AS "${RUN[@]}" >/dev/null 2>>"$TEST_TMP/stalled.err" && ok=$((ok + 1))
	[ "$(cat out.txt)" = "STALLED $i" ] || echo "run $i: wrong output" >>"$TEST_TMP/wrong"
	# Unbounded stalls: the case has failed, spare the rest.
	[ $(($(ms_now) - t0)) -lt 30000 ] || break
done
t1=$(ms_now)
elapsed=$((t1 - t0))
assert_eq "breaker__20_misses_exit_0" 20 "$ok"
assert_eq "breaker__misses_computed_locally" $((base + 20)) "$(runs)"
assert_eq "breaker__misses_output_right" "" "$(cat "$TEST_TMP/wrong")"
# Without the breaker each run waits one timeout: 20 x 300 ms = 6 s of
# added delay over runs without the tier. With it, 3 timeouts (its
# threshold) in total: the added delay must stay under 8 timeouts (room
# for a loaded machine or a sanitizer build), far from 20.
added=$((elapsed - miss_baseline))
echo "# 20 misses: $miss_baseline ms without the tier, $elapsed ms stalled (+$added ms)"
if [ "$added" -lt $((8 * TIMEOUT_MS)) ]; then
	pass "breaker__bounded_delay (+$added ms < $((8 * TIMEOUT_MS)) ms)"
else
	fail "breaker__bounded_delay" "20 misses added $added ms"
fi
# And the three timeouts were waited out, each bounded by timeout_ms.
if [ "$elapsed" -ge $((3 * TIMEOUT_MS)) ]; then
	pass "breaker__three_timeouts_waited ($elapsed ms >= $((3 * TIMEOUT_MS)) ms)"
else
	fail "breaker__three_timeouts_waited" "20 misses took $elapsed ms"
fi
# One request a process, its first call's HeadBucket, until the breaker
# opened; nothing after.
assert_eq "breaker__three_calls_stalled" 3 "$(lines "$MODE.log")"
assert_eq "breaker__the_headbuckets_stalled" 3 "$(calls http-stall HEAD)"
STATE=$(cat "$STORE"/tiers/*.state 2>/dev/null)
assert_contains "breaker__state_file_open" "$STATE" "breaker open"
assert_contains "breaker__state_file_url" "$STATE" "url $PURL"
assert_eq "breaker__opened_once_on_stderr" 1 \
	"$(grep -c "$BREAKER" "$TEST_TMP/stalled.err")"
assert_eq "breaker__three_timeouts_warned" 3 \
	"$(grep -c 'HEAD bucket: .*; going on without this tier$' "$TEST_TMP/stalled.err")"
cp in.orig in.txt
run A stats --json
assert_eq "breaker__stats_count_opening" 1 "$(tier_field breaker_openings)"
assert_eq "breaker__stats_count_timeouts" 3 "$(tier_field timeouts)"
# 17 runs left it out at open, the 3 that timed out skipped their later
# calls: at least 17.
skipped=$(tier_field skipped)
if [ "$skipped" -ge 17 ]; then
	pass "breaker__stats_count_skipped ($skipped)"
else
	fail "breaker__stats_count_skipped" "$skipped < 17"
fi
# The cool-down, the proxy passing again. Still inside it (59 s later):
# a miss leaves the tier out, quietly, and calls nothing.
echo pass >"$MODE"
rm -f "$MODE.log"
opened_at=$(sed -n 's/^opened_at //p' "$STORE"/tiers/*.state)
echo "cool-down 1" >in.txt
ARCA_TEST_NOW=$((opened_at + 59)) run AS "${RUN[@]}"
check_rc "breaker__within_cooldown_exit_0" 0
assert_eq "breaker__within_cooldown_no_call" 0 "$(lines "$MODE.log")"
assert_not_contains "breaker__within_cooldown_quiet" "$ERR" "warning"
# After it: a hit from tier 0 calls nothing, so it does not take the
# probe; the breaker stays open for the next process that needs the tier.
cp in.orig in.txt
ARCA_TEST_NOW=$((opened_at + 61)) run AS "${RUN[@]}"
check_rc "breaker__hit_after_cooldown_exit_0" 0
assert_eq "breaker__hit_after_cooldown_no_call" 0 "$(lines "$MODE.log")"
assert_not_contains "breaker__hit_after_cooldown_quiet" "$ERR" "circuit breaker"
assert_contains "breaker__hit_left_probe" "$(cat "$STORE"/tiers/*.state)" \
	"breaker open"
# A miss: its first call is the probe (HeadBucket, then the lookup),
# answered: the breaker closes.
echo "cool-down 2" >in.txt
ARCA_TEST_NOW=$((opened_at + 61)) run AS "${RUN[@]}"
check_rc "breaker__probe_exit_0" 0
assert_contains "breaker__closed_on_stderr" "$ERR" "circuit breaker closed"
assert_contains "breaker__state_closed" "$(cat "$STORE"/tiers/*.state)" \
	"breaker closed"
if [ "$(lines "$MODE.log")" -ge 1 ]; then
	pass "breaker__probe_called ($(lines "$MODE.log") chunks)"
else
	fail "breaker__probe_called" "no request reached the proxy"
fi
cp in.orig in.txt
unset ARCA_DIR
echo pass >"$MODE"

# ---- the server killed in the middle of a pipeline --------------------
# Its own server (the first one serves the proxy); a stage of the
# pipeline SIGKILLs it by PID, the next stages and their write-through
# meet a refused connection.
start_s3 killed
KILLED_PID=$S3_PID
export KILLED_PID
mkdir -p pipe && cd pipe || exit 2
head -c 3000 /dev/urandom | base64 >in.txt
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
tr a-z A-Z <in.txt >expected.first
cat expected.first expected.first >expected.second
{ cat expected.second; echo done; } >expected.last
S=$TEST_TMP/killed_store
tier_config "$S" "$(url "$S3_PORT")" "$TIMEOUT_MS"
t0=$(ms_now)
ARCA_DIR=$S run A repro
t1=$(ms_now)
check_rc "killed_mid_pipeline__exit_0" 0
assert_not_contains "killed_mid_pipeline__every_stage_cached" "$ERR" \
	"not cached"
# The tier answered the first stage's calls (its lookups missed, its
# write-through stored): the refused connections after the kill are the
# breaker's, no warning of their own; it opens at the killer's
# write-through (its first three calls), the last stage skips the tier.
assert_eq "killed_mid_pipeline__breaker_opened_once" 1 \
	"$(grep -c "$BREAKER" "$ERR_FILE")"
assert_not_contains "killed_mid_pipeline__no_open_warning" "$ERR" \
	"going on without this tier"
echo "# pipeline with the server killed: $((t1 - t0)) ms"
kill -0 "$KILLED_PID" 2>/dev/null &&
	fail "killed_mid_pipeline__server_dead" "pid $KILLED_PID alive" ||
	pass "killed_mid_pipeline__server_dead"
for f in first second last; do
	assert_files_eq "killed_mid_pipeline__${f}_output_right" \
		"expected.$f" "$f.out"
done
ARCA_DIR=$S run A verify
check_rc "killed_mid_pipeline__tier0_verifies" 0
ARCA_DIR=$S run A stats --json
assert_eq "killed_mid_pipeline__counted (errors timeouts openings)" "3 0 1" \
	"$(tier_field errors) $(tier_field timeouts) $(tier_field breaker_openings)"
# The next run: every stage from tier 0, the dead server left out.
rm -f first.out second.out last.out
ARCA_DIR=$S run A repro
check_rc "killed_mid_pipeline__rerun_exit_0" 0
assert_contains "killed_mid_pipeline__rerun_all_hits" "$ERR" "3 hit, 0 ran"
# Served by tier 0, the breaker open: the dead server never asked.
assert_not_contains "killed_mid_pipeline__rerun_quiet" "$ERR" "warning"
assert_files_eq "killed_mid_pipeline__rerun_restored" expected.last last.out
cd ..

finish
