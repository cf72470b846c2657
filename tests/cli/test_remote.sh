#!/usr/bin/env bash
# Shared tiers from the CLI against a real redis-server (started here on a
# free 127.0.0.1 port, killed at the end): config.yaml tiers: / ARCA_TIERS
# / --tier / --no-remote precedence; two "machines" (two stores) sharing
# one Redis; push and pull; remote ls and test; the circuit breaker with a
# stalled (SIGSTOPped) server; a fault-injecting proxy (errors, cut
# replies, flipped bytes).
. "${ARCA_TEST_LIB:-$(dirname "$0")/../lib.sh}" || exit 2
. "$(dirname "$0")/../servers.sh" || exit 2

if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
	echo "ok - remote__skipped (no redis-server)"
	finish
fi
unset ARCA_TIERS
# Every command is bounded: a hang fails the test instead of the suite.
A() { timeout 60 "$ARCA" "$@"; }

start_redis
PORT1=$PORT
URL="redis://127.0.0.1:$PORT1"

cat >stage.sh <<'EOS'
#!/bin/sh
echo run >>"$COUNT"
tr a-z A-Z <in.txt >out.txt
echo "stdout of the stage"
EOS
chmod +x stage.sh
echo "shared bytes" >in.txt
export COUNT="$TEST_TMP/count"
runs() { if [ -f "$COUNT" ]; then wc -l <"$COUNT" | tr -d ' '; else echo 0; fi; }
RUN=(run --stage upper --in in.txt --out out.txt -- ./stage.sh)

STORE_A="$TEST_TMP/machineA"
STORE_B="$TEST_TMP/machineB"
mkdir -p "$STORE_A" "$STORE_B"
for s in "$STORE_A" "$STORE_B"; do
	printf 'tiers:\n  - url: %s\n    mode: read-write\n    timeout_ms: 2000\n' \
		"$URL" >"$s/config.yaml"
done

# ---- two machines sharing one Redis ---------------------------------
ARCA_DIR=$STORE_A run A "${RUN[@]}"
check_rc "remote__a_miss_exit_0" 0
assert_eq "remote__a_ran_once" 1 "$(runs)"
cp out.txt expected.txt
rm -f out.txt
ARCA_DIR=$STORE_B run A "${RUN[@]}"
check_rc "remote__b_exit_0" 0
assert_eq "remote__b_restored_without_running" 1 "$(runs)"
assert_files_eq "remote__b_output_byte_identical" expected.txt out.txt
assert_eq "remote__b_stdout_replayed" "stdout of the stage" "$OUT"
tier_field() { # NAME: tiers[0].NAME of the JSON in $OUT
	printf '%s\n' "$OUT" | /usr/bin/python3 -c \
		'import json, sys; print(json.load(sys.stdin)["tiers"][0][sys.argv[1]])' "$1"
}
# Figures of the run's handle, kept in DIR/tiers/ when it closed.
ARCA_DIR=$STORE_B run A stats --json
assert_eq "remote__b_stats_json_tier_hit" 1 "$(tier_field hits)"
assert_eq "remote__b_stats_json_tier_url" "$URL" "$(tier_field url)"
assert_eq "remote__b_stats_json_bytes_down" 1 \
	"$([ "$(tier_field bytes_down)" -gt 0 ] && echo 1)"
assert_eq "remote__b_stats_json_promoted" 1 "$(tier_field promoted)"
ARCA_DIR=$STORE_A run A stats --json
assert_eq "remote__a_stats_json_stored" 1 \
	"$([ "$(tier_field stored)" -ge 3 ] && echo 1)"
assert_eq "remote__a_stats_json_bytes_up" 1 \
	"$([ "$(tier_field bytes_up)" -gt 0 ] && echo 1)"
# A stage does not inherit the tier's connection (hiredis opens its
# socket without close-on-exec): the lookup before the miss opened it.
cat >fds.sh <<'EOS'
#!/bin/sh
ls -l /proc/$$/fd | grep -c 'socket:' >sockets.txt || true
EOS
chmod +x fds.sh
mkdir -p "$TEST_TMP/machineF"
cp "$STORE_A/config.yaml" "$TEST_TMP/machineF/"
ARCA_DIR=$TEST_TMP/machineF run A run --stage fds --out sockets.txt -- ./fds.sh
check_rc "remote__fds_stage_exit_0" 0
assert_eq "remote__stage_inherits_no_socket" 0 "$(cat sockets.txt)"
ARCA_DIR=$STORE_B run A stats
assert_contains "remote__b_stats_text_tier_row" "$OUT" "$URL"

# ---- precedence: config.yaml < ARCA_TIERS < --tier; --no-remote -----
start_redis
PORT2=$PORT
URL2="redis://127.0.0.1:$PORT2"
ARCA_DIR=$STORE_B run A remote ls --json
assert_contains "precedence__config_tier" "$OUT" "\"url\": \"$URL\""
assert_contains "precedence__config_source_line" "$OUT" "config.yaml:2"
ARCA_DIR=$STORE_B ARCA_TIERS="$URL2" run A remote ls --json
assert_contains "precedence__env_over_config" "$OUT" "\"url\": \"$URL2\""
assert_not_contains "precedence__env_replaces_config" "$OUT" "\"url\": \"$URL\""
ARCA_DIR=$STORE_B ARCA_TIERS="$URL2" run A --tier "$URL" remote ls --json
assert_contains "precedence__flag_over_env" "$OUT" "\"url\": \"$URL\""
assert_not_contains "precedence__flag_replaces_env" "$OUT" "\"url\": \"$URL2\""
assert_contains "precedence__flag_takes_config_options" "$OUT" '"timeout_ms": 2000'
# A fresh store C with only ARCA_TIERS=URL2 (empty): a miss runs; with
# --no-remote nothing goes to URL2.
STORE_C="$TEST_TMP/machineC"
rm -f out.txt
ARCA_DIR=$STORE_C ARCA_TIERS="$URL2" run A --no-remote "${RUN[@]}"
check_rc "precedence__no_remote_exit_0" 0
assert_eq "precedence__no_remote_ran" 2 "$(runs)"
assert_eq "precedence__no_remote_wrote_nothing" 0 \
	"$(redis-cli -p "$PORT2" dbsize)"
ARCA_DIR=$STORE_C run A --no-remote remote ls
assert_contains "precedence__no_remote_ls" "$OUT" "no remote tiers"
# --no-remote on run, after the command name (run's own option).
rm -rf "$STORE_C"
ARCA_DIR=$STORE_C ARCA_TIERS="$URL2" run A run --no-remote --stage upper \
	--in in.txt --out out.txt -- ./stage.sh
check_rc "precedence__run_no_remote_option" 0
assert_eq "precedence__run_no_remote_option_nothing_sent" 0 \
	"$(redis-cli -p "$PORT2" dbsize)"
ARCA_DIR=$STORE_C ARCA_TIERS="$URL2" run A run --tier "$URL2" --stage upper \
	--in in.txt --out out.txt -- ./stage.sh
check_rc "precedence__run_tier_option" 0

# ---- bad config -----------------------------------------------------
STORE_BAD="$TEST_TMP/bad"
mkdir -p "$STORE_BAD"
printf 'max_size: 1G\ntiers:\n  - url: %s\n    colour: blue\n' "$URL" \
	>"$STORE_BAD/config.yaml"
ARCA_DIR=$STORE_BAD run A "${RUN[@]}"
check_rc "config__unknown_tier_key_exit_2" 2
assert_contains "config__unknown_tier_key_line" "$ERR" "config.yaml:4: tiers: unknown key 'colour'"
assert_eq "config__unknown_tier_key_one_line" 1 "$(printf '%s\n' "$ERR" | wc -l)"
printf 'tiers:\n  - url: %s\n    mode: sideways\n' "$URL" >"$STORE_BAD/config.yaml"
ARCA_DIR=$STORE_BAD run A stats
check_rc "config__bad_mode_exit" 2
assert_contains "config__bad_mode_line" "$ERR" "config.yaml:3: tiers: mode 'sideways'"
printf 'tiers:\n  - mode: read-only\n' >"$STORE_BAD/config.yaml"
ARCA_DIR=$STORE_BAD run A stats
assert_contains "config__no_url" "$ERR" "config.yaml:2: tiers: a tier without url"
# arca limit (arca_config_set) keeps the tiers list.
printf 'tiers:\n  - url: %s\n    timeout_ms: 300\n' "$URL" >"$STORE_BAD/config.yaml"
ARCA_DIR=$STORE_BAD run A limit 5G
ARCA_DIR=$STORE_BAD run A remote ls --json
assert_contains "config__set_keeps_tiers" "$OUT" '"timeout_ms": 300'

# ---- unusable tiers: a warning and the local tier alone -------------
DEAD=$(free_port)
rm -f out.txt
ARCA_DIR=$STORE_C ARCA_TIERS="redis://user:s3cret@127.0.0.1:$DEAD bogus://x" \
	run A "${RUN[@]}"
check_rc "unusable__run_exit_0" 0
# A hit in the local tier never asks the remote, so a dead one costs
# nothing and says nothing; a malformed URL is said at open.
assert_not_contains "unusable__hit_does_not_connect" "$ERR" "127.0.0.1:$DEAD"
assert_contains "unusable__unknown_scheme_warned" "$ERR" 'unknown scheme "bogus"'
# A miss asks it: one warning naming it, and the stage runs locally.
mkdir -p "$TEST_TMP/machineU"
rm -f out.txt
ARCA_DIR=$TEST_TMP/machineU ARCA_TIERS="redis://user:s3cret@127.0.0.1:$DEAD bogus://x" \
	run A "${RUN[@]}"
check_rc "unusable__miss_exit_0" 0
assert_contains "unusable__warns_naming_tier" "$ERR" "127.0.0.1:$DEAD"
assert_eq "unusable__warned_once" 1 "$(printf '%s\n' "$ERR" | grep -c "127.0.0.1:$DEAD")"
assert_not_contains "unusable__no_password" "$ERR" "s3cret"
assert_files_eq "unusable__output_right" expected.txt out.txt

# ---- push --all on A, pull KEY on B ---------------------------------
redis-cli -p "$PORT1" flushall >/dev/null
ARCA_DIR=$STORE_A run A push --all
check_rc "push__exit_0" 0
assert_contains "push__counts" "$OUT" "1 entries pushed"
ARCA_DIR=$STORE_A run A push --all
assert_contains "push__second_skips_present_blobs" "$OUT" "0 blobs sent"
KEY=$(ARCA_DIR=$STORE_A "$ARCA" ls --json | sed -n 's/.*"key": "\([0-9a-f]\{64\}\)".*/\1/p' | head -1)
assert_eq "push__key_found" 64 "${#KEY}"
STORE_D="$TEST_TMP/machineD"
ARCA_DIR=$STORE_D run A --tier "$URL" pull "$KEY"
check_rc "pull__exit_0" 0
assert_contains "pull__counts" "$OUT" "pulled 1 entries"
# Pulled: a run with no remote tier at all is a hit.
rm -f out.txt
before=$(runs)
ARCA_DIR=$STORE_D run A --no-remote "${RUN[@]}"
assert_eq "pull__local_hit_without_remote" "$before" "$(runs)"
assert_files_eq "pull__output_identical" expected.txt out.txt
ARCA_DIR=$STORE_D run A --tier "$URL" pull 0000000000000000000000000000000000000000000000000000000000000000
check_rc "pull__unknown_key_exit_3" 3
ARCA_DIR=$STORE_D run A --no-remote push --all
check_rc "push__no_tier_exit_6" 6

# ---- repro --pull: a read-only tier with promote: false -------------
mkdir -p pipe && cd pipe
echo "pipeline input" >in.txt
cat >arca.yaml <<'EOY'
stages:
  prep:
    cmd: echo prep >>"$COUNT"; tr a-z A-Z <in.txt >prep.out
    deps: [in.txt]
    outs: [prep.out]
  build:
    cmd: echo build >>"$COUNT"; { cat prep.out; echo built; } >build.out
    deps: [prep.out]
    outs: [build.out]
EOY
ARCA_DIR=$STORE_A run A repro
check_rc "repro_pull__a_exit_0" 0
cp build.out ../build.expected
rm -f prep.out build.out
STORE_E="$TEST_TMP/machineE"
mkdir -p "$STORE_E"
printf 'tiers:\n  - url: %s\n    mode: read-only\n    promote: false\n' "$URL" \
	>"$STORE_E/config.yaml"
before=$(runs)
ARCA_DIR=$STORE_E run A repro
check_rc "repro_nopull__exit_0" 0
assert_eq "repro_nopull__restored_from_redis" "$before" "$(runs)"
assert_eq "repro_nopull__nothing_copied" 0 \
	"$(ARCA_DIR=$STORE_E "$ARCA" ls --json | /usr/bin/python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')"
rm -f prep.out build.out
ARCA_DIR=$STORE_E run A repro --pull
check_rc "repro_pull__exit_0" 0
assert_eq "repro_pull__restored_from_redis" "$before" "$(runs)"
assert_files_eq "repro_pull__output_identical" ../build.expected build.out
assert_eq "repro_pull__copied_both_stages" 2 \
	"$(ARCA_DIR=$STORE_E "$ARCA" ls --json | /usr/bin/python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')"
rm -f prep.out build.out
ARCA_DIR=$STORE_E run A --no-remote repro
assert_eq "repro_pull__then_local_hits" "$before" "$(runs)"
cd ..

# ---- put and get through the tiers ----------------------------------
echo "a blob for everyone" >blob.txt
STORE_F="$TEST_TMP/machineF"
STORE_G="$TEST_TMP/machineG"
DIGEST=$(ARCA_DIR=$STORE_F A put --tier "$URL" blob.txt | awk '{print $1}')
assert_eq "put_tier__digest" 64 "${#DIGEST}"
assert_eq "put_tier__written_through" 1 \
	"$(redis-cli -p "$PORT1" exists "arca:v1:cas:$DIGEST")"
ARCA_DIR=$STORE_G run A get "$DIGEST" --tier "$URL" -o got.txt
check_rc "get_tier__from_redis_exit_0" 0
assert_files_eq "get_tier__bytes" blob.txt got.txt
ARCA_DIR=$STORE_G run A --no-remote get "$DIGEST" -o got2.txt
check_rc "get_tier__promoted_then_local" 0

# ---- compress: in tiers: (Redis's ?compress=) ------------------------
head -c 4096 /dev/zero | tr '\0' a >big.txt
STORE_H="$TEST_TMP/machineH"
mkdir -p "$STORE_H"
printf 'tiers:\n  - url: %s\n    compress: none\n' "$URL" >"$STORE_H/config.yaml"
DIGEST=$(ARCA_DIR=$STORE_H A put big.txt | awk '{print $1}')
assert_eq "compress_none__stored_plain" 4096 \
	"$(redis-cli -p "$PORT1" strlen "arca:v1:cas:$DIGEST")"
redis-cli -p "$PORT1" del "arca:v1:cas:$DIGEST" >/dev/null
printf 'tiers:\n  - url: %s\n    compress: zstd\n' "$URL" >"$STORE_H/config.yaml"
rm -rf "$STORE_H/index.db" "$STORE_H/blobs"
ARCA_DIR=$STORE_H A put big.txt >/dev/null
len=$(redis-cli -p "$PORT1" strlen "arca:v1:cas:$DIGEST")
assert_eq "compress_zstd__stored_smaller" 1 "$([ "$len" -gt 0 ] && [ "$len" -lt 4096 ] && echo 1)"

# ---- remote ls / test -----------------------------------------------
ARCA_DIR=$STORE_A run A remote ls
check_rc "remote_ls__exit_0" 0
assert_contains "remote_ls__row" "$OUT" "$URL"
assert_contains "remote_ls__mode_breaker" "$OUT" "read-write closed"
ARCA_DIR=$STORE_A run A remote test
check_rc "remote_test__exit_0" 0
for step in connect put get delete; do
	assert_contains "remote_test__step_$step" "$OUT" "$URL: $step"
done
assert_contains "remote_test__latency" "$OUT" " ms"
ARCA_DIR=$STORE_A run A remote test "redis://u:s3cret@127.0.0.1:$DEAD"
check_rc "remote_test__dead_url_exit_6" 6
assert_contains "remote_test__dead_url_line" "$OUT" "redis://u@127.0.0.1:$DEAD: connect FAILED"
assert_not_contains "remote_test__dead_url_no_password" "$OUT$ERR" "s3cret"
kill "$(eval echo \$REDIS_PID)" 2>/dev/null  # the second server
wait "$REDIS_PID" 2>/dev/null
ARCA_DIR=$STORE_A run A --tier "$URL2" remote test
check_rc "remote_test__killed_server_exit_6" 6
ARCA_DIR=$STORE_A run A remote test bogus://x
check_rc "remote_test__bad_url_exit_6" 6
assert_contains "remote_test__bad_url_says" "$OUT" "unknown scheme"

finish
