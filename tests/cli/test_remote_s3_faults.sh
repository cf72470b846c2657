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
# 8 KiB that zstd does not shrink: its blob's body is larger than the
# action entry's (a few hundred bytes), so a flip threshold between the
# two damages the blob alone.
head -c 6000 /dev/urandom | base64 | tr A-Z a-z >in.txt
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
# mode  the tier's figure that counts it
for c in http-500:errors http-503:errors http-500:data:errors \
	 http-503:data:errors http-stall:data:timeouts http-cut:errors \
	 flip-stream:16:corrupt flip-stream:4096:corrupt; do
	mode=${c%:*} field=${c##*:}
	name=$(echo "$mode" | tr -c 'a-z0-9\n' _)
	S=$TEST_TMP/proxy_$name
	tier_config "$S" "$PURL" "$TIMEOUT_MS"
	echo "$mode" >"$MODE"
	rm -f out.txt "$MODE.log"
	t0=$(ms_now)
	ARCA_DIR=$S run A "${RUN[@]}"
	t1=$(ms_now)
	check_rc "${name}__run_exit_0" 0
	n=$((n + 1))
	assert_eq "${name}__computed_locally" "$n" "$(runs)"
	assert_files_eq "${name}__output_right" expected.txt out.txt
	if [ "$(calls "$mode")" -ge 1 ]; then
		pass "${name}__fault_reached ($(calls "$mode") calls, $((t1 - t0)) ms)"
	else
		fail "${name}__fault_reached" "no call in $mode"
	fi
	case $mode in *:data)
		# The lookups failed, then the write-through's first PUT (which
		# opened the breaker: the run's later calls were skipped).
		if [ "$(calls "$mode" PUT)" -ge 1 ]; then
			pass "${name}__write_through_failed_run_ok"
		else
			fail "${name}__write_through_failed_run_ok" "$(cat "$MODE.log")"
		fi
	esac
	echo pass >"$MODE"
	ARCA_DIR=$S run A stats --json
	v=$(tier_field "$field")
	if [ "${v:-0}" -ge 1 ]; then
		pass "${name}__counted_as_$field ($field $v)"
	else
		fail "${name}__counted_as_$field" "$OUT"
	fi
	ARCA_DIR=$S run A verify
	check_rc "${name}__tier0_verifies" 0
	# What tier 0 holds is the right output: restored from it alone.
	rm -f out.txt
	ARCA_DIR=$S run A --no-remote "${RUN[@]}"
	check_rc "${name}__tier0_hit_exit_0" 0
	assert_eq "${name}__tier0_hit_no_run" "$n" "$(runs)"
	assert_files_eq "${name}__tier0_bytes_right" expected.txt out.txt
done

finish
