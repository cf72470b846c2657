#!/usr/bin/env bash
# The configured tiers with the S3 tier (tests/s3/server.js: a SigV4-
# checking s3rver on a free 127.0.0.1 port, started here and killed at the
# end): two stores sharing one bucket through config.yaml's tiers:, a
# stage restored on the second without running; a wrong secret is a
# warning and the local tier alone for run, a failure of remote test.
. "${ARCA_TEST_LIB:-$(dirname "$0")/../lib.sh}" || exit 2
. "$(dirname "$0")/../servers.sh" || exit 2

if ! have_s3_server; then
	echo "ok - remote_s3__skipped (no node or tests/s3/node_modules: run scripts/bootstrap)"
	finish
fi
unset ARCA_TIERS AWS_SESSION_TOKEN AWS_PROFILE AWS_REGION AWS_DEFAULT_REGION
export AWS_SHARED_CREDENTIALS_FILE=/nonexistent/credentials
export S3_TEST_ACCESS_KEY=AKIATESTWIRING S3_TEST_SECRET=wiring-secret-1
export AWS_ACCESS_KEY_ID=$S3_TEST_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$S3_TEST_SECRET

start_s3 team
URL="s3://team/arca?endpoint=http://127.0.0.1:$S3_PORT&region=us-east-1"
A() { timeout 60 "$ARCA" "$@"; }

cat >stage.sh <<'EOS'
#!/bin/sh
echo run >>"$COUNT"
tr a-z A-Z <in.txt >out.txt
EOS
chmod +x stage.sh
echo "bucket bytes" >in.txt
export COUNT="$TEST_TMP/count"
runs() { if [ -f "$COUNT" ]; then wc -l <"$COUNT" | tr -d ' '; else echo 0; fi; }
RUN=(run --stage upper --in in.txt --out out.txt -- ./stage.sh)
for m in A B C; do
	mkdir -p "$TEST_TMP/$m"
	printf 'tiers:\n  - url: "%s"\n    timeout_ms: 5000\n' "$URL" \
		>"$TEST_TMP/$m/config.yaml"
done

ARCA_DIR=$TEST_TMP/A run A "${RUN[@]}"
check_rc "s3__a_exit_0" 0
assert_not_contains "s3__a_no_warning" "$ERR" "warning"
cp out.txt expected.txt
rm -f out.txt
ARCA_DIR=$TEST_TMP/B run A "${RUN[@]}"
check_rc "s3__b_exit_0" 0
assert_eq "s3__b_restored_without_running" 1 "$(runs)"
assert_files_eq "s3__b_output_identical" expected.txt out.txt
ARCA_DIR=$TEST_TMP/B run A remote test
check_rc "s3__remote_test_exit_0" 0
assert_contains "s3__remote_test_get" "$OUT" "get     ok"

# A wrong secret: run warns and goes on alone; remote test fails.
rm -f out.txt
ARCA_DIR=$TEST_TMP/C AWS_SECRET_ACCESS_KEY=not-the-secret run A "${RUN[@]}"
check_rc "s3__wrong_secret_run_exit_0" 0
assert_contains "s3__wrong_secret_warns" "$ERR" "going on without this tier"
assert_not_contains "s3__wrong_secret_not_logged" "$ERR" "not-the-secret"
assert_eq "s3__wrong_secret_ran_locally" 2 "$(runs)"
ARCA_DIR=$TEST_TMP/C AWS_SECRET_ACCESS_KEY=not-the-secret run A remote test
check_rc "s3__wrong_secret_remote_test_exit_6" 6

finish
