#!/usr/bin/env bash
# S3 tier faults never fail a run, against the S3 test server
# (tests/s3/server.js on a free 127.0.0.1 port, started here, killed at
# the end) and a fault-injecting proxy between arca and it
# (tests/helpers/fault_proxy.py's HTTP modes):
#  - the entry in the bucket (stored there by a store with a direct tier),
#    an empty tier 0 reaching the bucket through the proxy answering 500,
#    503, stalling past timeout_ms, cutting an answer's body halfway or
#    flipping a small body's bytes: each a completed run (exit 0), the
#    output computed locally and right, the fault counted in the tier's
#    figures, tier 0 verifying, and the write-through to the failing
#    tier not failing the run;
#  - the circuit breaker with the proxy stalling: 20 hits from tier 0
#    (each run's open asks the bucket: HeadBucket) add less than 8
#    timeouts of delay to the baseline of 20 with the proxy passing;
#    opened once, counted;
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
	grep -cE -- "^$1( ${2:-[A-Z]+})?\$" "$MODE.log" 2>/dev/null || true
}

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
# MODE / the run's figures: errors timeouts corrupt / a line of its stderr
#  - at open (HeadBucket answered 500 or 503, a HEAD: no body, no S3
#    error code): one error, the tier left out;
#  - :data (HeadBucket through, the rest faulted): the lookup's two GETs
#    (before and after the action's lease) and the write-through's first
#    PUT fail, which opens the breaker: three counted, no other call made;
#  - a body cut halfway (Content-Length promised more) is an error, each
#    of the two lookups (the entry's body cut; with a 4096-byte threshold
#    the entry arrives whole and the blob, 8 KiB, is cut); the
#    write-through's answers have no body;
#  - flipped bytes: corrupt, each lookup (the entry's with a 16-byte
#    threshold; with 4096 the entry arrives intact and the blob, 8 KiB,
#    does not).
BREAKER='circuit breaker open after 3 consecutive'
while IFS=/ read -r mode figures want_err <&3; do
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
	if [ "$(calls "$mode")" -ge 1 ]; then
		pass "${name}__fault_reached ($(calls "$mode") calls)"
	else
		fail "${name}__fault_reached" "no call in $mode"
	fi
	# At most three calls wait (then the breaker opens), each bounded by
	# timeout_ms: under 8 timeouts, room for a loaded machine.
	if [ $((t1 - t0)) -lt $((8 * TIMEOUT_MS)) ]; then
		pass "${name}__bounded ($((t1 - t0)) ms < $((8 * TIMEOUT_MS)) ms)"
	else
		fail "${name}__bounded" "the run took $((t1 - t0)) ms"
	fi
	assert_contains "${name}__stderr" "$ERR" "$want_err"
	# A failed write-through is the tier's, not the action's: cached.
	assert_not_contains "${name}__cached" "$ERR" "could not cache"
	case $mode in *:data)
		assert_eq "${name}__lookups_faulted" 2 "$(calls "$mode" GET)"
		assert_eq "${name}__write_through_faulted" 1 "$(calls "$mode" PUT)"
		assert_eq "${name}__no_call_after_opening" 3 "$(calls "$mode")"
	esac
	echo pass >"$MODE"
	ARCA_DIR=$S run A stats --json
	got="$(tier_field errors) $(tier_field timeouts) $(tier_field corrupt)"
	assert_eq "${name}__counted (errors timeouts corrupt)" "$figures" "$got"
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
http-500/1 0 0/HEAD bucket: HTTP 500; going on without this tier
http-503/1 0 0/HEAD bucket: HTTP 503; going on without this tier
http-500:data/3 0 0/$BREAKER
http-503:data/3 0 0/$BREAKER
http-stall:data/0 3 0/$BREAKER
http-cut/2 0 0/stored upper
http-cut:4096/2 0 0/stored upper
flip-stream:16/0 0 2/stored upper
flip-stream:4096/0 0 2/stored upper
EOC


# ---- the breaker: the proxy stalling, 20 hits from tier 0 -------------
# A hit from tier 0 asks the bucket nothing, but each run's store open
# checks it (HeadBucket, bounded by timeout_ms): that call is what the
# stalled proxy holds, and what the breaker spares.
STORE=$TEST_TMP/breaker
tier_config "$STORE" "$PURL" "$TIMEOUT_MS"
echo pass >"$MODE"
rm -f out.txt
ARCA_DIR=$STORE run A "${RUN[@]}"
check_rc "breaker__first_run_exit_0" 0
base=$(runs)
export ARCA_DIR=$STORE
# The processes' own time, the proxy passing: the baseline.
t0=$(ms_now)
for i in $(seq 20); do A "${RUN[@]}" >/dev/null 2>&1; done
t1=$(ms_now)
baseline=$((t1 - t0))
echo http-stall >"$MODE"
rm -f "$MODE.log"
ok=0
: >"$TEST_TMP/stalled.err"
t0=$(ms_now)
for i in $(seq 20); do
	AS "${RUN[@]}" >/dev/null 2>>"$TEST_TMP/stalled.err" && ok=$((ok + 1))
	# Unbounded stalls: the case has failed, spare the rest.
	[ $(($(ms_now) - t0)) -lt 30000 ] || break
done
t1=$(ms_now)
elapsed=$((t1 - t0))
assert_eq "breaker__20_runs_exit_0" 20 "$ok"
assert_eq "breaker__all_hits_from_tier_0" "$base" "$(runs)"
assert_files_eq "breaker__output_intact" expected.txt out.txt
# Without the breaker each run waits one timeout: 20 x 300 ms = 6 s of
# added delay. With it, 3 timeouts (its threshold) in total, less what
# the 17 skipping runs save (their HeadBucket through the proxy): the
# added delay must stay under 8 timeouts (room for a loaded machine or a
# sanitizer build), far from 20.
added=$((elapsed - baseline))
echo "# 20 runs: $baseline ms passing, $elapsed ms stalled (+$added ms)"
if [ "$added" -lt $((8 * TIMEOUT_MS)) ]; then
	pass "breaker__bounded_delay (+$added ms < $((8 * TIMEOUT_MS)) ms)"
else
	fail "breaker__bounded_delay" "20 runs added $added ms"
fi
# And the three timeouts were waited out, each bounded by timeout_ms.
if [ "$elapsed" -ge $((3 * TIMEOUT_MS)) ]; then
	pass "breaker__three_timeouts_waited ($elapsed ms >= $((3 * TIMEOUT_MS)) ms)"
else
	fail "breaker__three_timeouts_waited" "20 runs took $elapsed ms"
fi
assert_eq "breaker__three_calls_stalled" 3 "$(calls http-stall)"
assert_contains "breaker__state_file_open" "$(cat "$STORE"/tiers/*.state)" \
	"breaker open"
assert_eq "breaker__opened_once_on_stderr" 1 \
	"$(grep -c 'circuit breaker open after 3 consecutive' "$TEST_TMP/stalled.err")"
assert_eq "breaker__three_timeouts_warned" 3 \
	"$(grep -c 'going on without this tier' "$TEST_TMP/stalled.err")"
run A stats --json
assert_eq "breaker__stats_count_opening" 1 "$(tier_field breaker_openings)"
assert_eq "breaker__stats_count_timeouts" 3 "$(tier_field timeouts)"
# 17 runs skipped it, and so did this stats call's own handle.
assert_eq "breaker__stats_count_skipped" 18 "$(tier_field skipped)"
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
e=$(tier_field errors) t=$(tier_field timeouts)
if [ $((${e:-0} + ${t:-0})) -ge 1 ]; then
	pass "killed_mid_pipeline__counted (errors $e, timeouts $t)"
else
	fail "killed_mid_pipeline__counted" "$OUT"
fi
# The next run: every stage from tier 0, the dead server left out.
rm -f first.out second.out last.out
ARCA_DIR=$S run A repro
check_rc "killed_mid_pipeline__rerun_exit_0" 0
assert_files_eq "killed_mid_pipeline__rerun_restored" expected.last last.out
cd ..

finish
