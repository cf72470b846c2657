#!/usr/bin/env bash
# Large blobs between tier 0 and an S3 tier in bounded memory (store.c:
# a later tier's large hit is spilled to an unnamed temp file while it is
# hashed; write-through goes from the blob's file through blob_put_fd).
# With the S3 test server (tests/s3/server.js, started here on a free
# 127.0.0.1 port, killed at the end) and a 128 MiB blob ($ARCA_LARGE_MIB):
#  - put through store A, got on an empty store B: identical bytes,
#    promoted, and each process's peak RSS under 64 MiB (/usr/bin/time);
#  - a stage output of that size, written through by A's run, restored by
#    the stage runner on an empty store C without running, same bound;
#  - the blob's bytes flipped on the way (tests/helpers/fault_proxy.py
#    flip-stream): a miss counted as corrupt, nothing promoted, nothing
#    left in tmp/; the stage runner computes instead and exits 0.
. "${ARCA_TEST_LIB:-$(dirname "$0")/../lib.sh}" || exit 2
. "$(dirname "$0")/../servers.sh" || exit 2

if ! have_s3_server || [ ! -x /usr/bin/time ]; then
	echo "ok - remote_s3_large__skipped (no node, tests/s3/node_modules or /usr/bin/time: run scripts/bootstrap)"
	finish
fi
unset ARCA_TIERS AWS_SESSION_TOKEN AWS_PROFILE AWS_REGION AWS_DEFAULT_REGION
export AWS_SHARED_CREDENTIALS_FILE=/nonexistent/credentials
export S3_TEST_ACCESS_KEY=AKIATESTLARGE S3_TEST_SECRET=large-secret-1
export AWS_ACCESS_KEY_ID=$S3_TEST_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$S3_TEST_SECRET
MIB=${ARCA_LARGE_MIB:-128}
LIMIT_KIB=$((64 * 1024))

start_s3 team
MODE="$TEST_TMP/proxy.mode"
echo flip-stream >"$MODE"
start_proxy "$S3_PORT" "$MODE"
url() { echo "s3://team/arca?endpoint=http://127.0.0.1:$1&region=us-east-1"; }
for m in A B C; do
	mkdir -p "$TEST_TMP/$m"
	printf 'tiers:\n  - url: "%s"\n    timeout_ms: 120000\n' \
		"$(url "$S3_PORT")" >"$TEST_TMP/$m/config.yaml"
done
for m in D E; do
	mkdir -p "$TEST_TMP/$m"
	printf 'tiers:\n  - url: "%s"\n    timeout_ms: 120000\n' \
		"$(url "$(cat "$TEST_TMP/proxy.port")")" >"$TEST_TMP/$m/config.yaml"
done

# peak STORE CMD...: arca CMD on STORE, as run() does; PEAK = its peak RSS
# in KiB.
peak() {
	local store=$1
	shift
	ARCA_DIR=$TEST_TMP/$store timeout 300 /usr/bin/time -f %M \
		-o "$TEST_TMP/peak" "$ARCA" "$@" >"$OUT_FILE" 2>"$ERR_FILE"
	RC=$?
	OUT=$(cat "$OUT_FILE")
	ERR=$(cat "$ERR_FILE")
	PEAK=$(tail -n 1 "$TEST_TMP/peak")
}
assert_peak() { # NAME
	if [ "${PEAK:-999999999}" -lt "$LIMIT_KIB" ]; then
		pass "$1 (peak RSS ${PEAK} KiB, ${MIB} MiB blob)"
	else
		fail "$1" "peak RSS ${PEAK} KiB, limit $LIMIT_KIB KiB, ${MIB} MiB blob"
	fi
}
tier_field() { # NAME: tiers[0].NAME of the JSON in $OUT
	printf '%s\n' "$OUT" | /usr/bin/python3 -c \
		'import json, sys; print(json.load(sys.stdin)["tiers"][0][sys.argv[1]])' "$1"
}
# What a fetch left in STORE/tmp/ (pin records and breaker files aside).
tmp_left() {
	find "$TEST_TMP/$1/tmp" -type f ! -name 'pins-*' ! -name 'restore-*' \
		2>/dev/null | wc -l | tr -d ' '
}

head -c $((MIB << 20)) /dev/urandom >big.bin

# ---- put on A, get on an empty B --------------------------------------
peak A put big.bin
check_rc "large__put_exit_0" 0
D=$OUT
assert_peak "large__put_write_through_bounded"
ARCA_DIR=$TEST_TMP/A run "$ARCA" stats --json
assert_eq "large__put_stored_in_s3" 1 "$(tier_field stored)"

peak B get "$D" -o got.bin
check_rc "large__get_exit_0" 0
assert_files_eq "large__get_identical" big.bin got.bin
assert_peak "large__get_bounded"
rm -f got.bin
ARCA_DIR=$TEST_TMP/B run "$ARCA" get --no-remote "$D" -o local.bin
check_rc "large__get_promoted" 0
assert_files_eq "large__promoted_identical" big.bin local.bin
rm -f local.bin
assert_eq "large__get_no_temp_left" 0 "$(tmp_left B)"

# ---- a stage output: written through by A's run, restored on C --------
cat >mk.sh <<'EOS'
#!/bin/sh
echo run >>"$COUNT"
{ cat big.bin; echo tail; } >out.bin
EOS
chmod +x mk.sh
export COUNT="$TEST_TMP/count"
runs() { if [ -f "$COUNT" ]; then wc -l <"$COUNT" | tr -d ' '; else echo 0; fi; }
RUN=(run --stage big --in big.bin --out out.bin -- ./mk.sh)
peak A "${RUN[@]}"
check_rc "large__run_a_exit_0" 0
assert_peak "large__run_output_write_through_bounded"
cp out.bin expected.bin
rm -f out.bin
peak C "${RUN[@]}"
check_rc "large__run_c_exit_0" 0
assert_eq "large__run_c_restored_without_running" 1 "$(runs)"
assert_files_eq "large__run_c_output_identical" expected.bin out.bin
assert_peak "large__run_restore_bounded"
ARCA_DIR=$TEST_TMP/C run "$ARCA" verify
check_rc "large__run_c_verifies" 0

# ---- flipped bytes on the way: a counted miss, nothing promoted --------
rm -f got.bin
peak D get "$D" -o got.bin
check_rc "large__flipped_get_is_a_miss" 3
assert_eq "large__flipped_no_output" 0 "$([ -e got.bin ] && echo 1 || echo 0)"
assert_peak "large__flipped_get_bounded"
ARCA_DIR=$TEST_TMP/D run "$ARCA" stats --json
assert_eq "large__flipped_counted_corrupt" 1 "$(tier_field corrupt)"
ARCA_DIR=$TEST_TMP/D run "$ARCA" get --no-remote "$D" -o local.bin
check_rc "large__flipped_not_promoted" 3
ARCA_DIR=$TEST_TMP/D run "$ARCA" verify
check_rc "large__flipped_store_verifies" 0
assert_eq "large__flipped_no_temp_left" 0 "$(tmp_left D)"

rm -f out.bin
peak E "${RUN[@]}"
check_rc "large__flipped_run_exit_0" 0
assert_eq "large__flipped_run_computed" 2 "$(runs)"
assert_files_eq "large__flipped_run_output_right" expected.bin out.bin
ARCA_DIR=$TEST_TMP/E run "$ARCA" stats --json
# (The runner looks up before and after it takes the action's lease.)
assert_eq "large__flipped_run_counted_corrupt" 1 \
	"$([ "$(tier_field corrupt)" -ge 1 ] && echo 1)"
ARCA_DIR=$TEST_TMP/E run "$ARCA" verify
check_rc "large__flipped_run_store_verifies" 0
assert_eq "large__flipped_run_no_temp_left" 0 "$(tmp_left E)"

finish
