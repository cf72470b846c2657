#!/usr/bin/env bash
# One duration syntax and one size syntax everywhere (arca_parse_duration_ms,
# arca_parse_size; docs/cli.md, "Sizes and durations"): every option,
# environment variable and config.yaml key takes the same forms, and a bad
# value is one line naming the option or variable.
. "${ARCA_TEST_LIB:-$(dirname "$0")/../lib.sh}" || exit 2

export XDG_CONFIG_HOME="$TEST_TMP/xdg"
inline_blobs() { "$ARCA" info --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["inline"]["count"])'; }
n_runs() { if [ -f runs.log ]; then wc -l <runs.log | tr -d ' '; else echo 0; fi; }
stage() { # stage NAME [OPTIONS...]: a stage counting its executions
	"$ARCA" run --stage "$1" --out "$1.out" "${@:2}" -- \
		sh -c "echo x >>runs.log; echo $1 >$1.out"
}

# ---- durations --------------------------------------------------------------
run stage lt --lock-timeout 10m
check_rc "syntax__run_lock_timeout_10m" 0
run stage lt2 --lock-timeout 250ms
check_rc "syntax__run_lock_timeout_250ms" 0
run stage lt3 --lock-timeout 10x
check_rc "syntax__run_lock_timeout_bad_exit_125" 125
assert_contains "syntax__run_lock_timeout_bad_named" "$ERR" "--lock-timeout '10x'"
run stage lt4 --lock-timeout 2d
check_rc "syntax__run_lock_timeout_over_a_day_exit_125" 125
run env ARCA_LOCK_TIMEOUT=10m "$ARCA" run --stage lt5 --out lt5.out -- sh -c 'echo 5 >lt5.out'
check_rc "syntax__env_lock_timeout_10m" 0
run env ARCA_LOCK_TIMEOUT=soon "$ARCA" ls
check_rc "syntax__env_lock_timeout_bad_exit_2" 2
assert_contains "syntax__env_lock_timeout_bad_named" "$ERR" "ARCA_LOCK_TIMEOUT='soon'"

mkdir pipe && cd pipe || exit 2
printf 'stages:\n  p:\n    cmd: echo p >p.out\n    outs: [p.out]\n' >arca.yaml
run "$ARCA" repro --lock-timeout 10m
check_rc "syntax__repro_lock_timeout_10m" 0
cd .. || exit 2

before=$(n_runs)
run stage w --ttl 1w
check_rc "syntax__run_ttl_1w" 0
run stage w --ttl 1w
assert_eq "syntax__run_ttl_1w_hits" "$((before + 1))" "$(n_runs)"
before=$(n_runs)
run stage ma --max-age 1w
run stage ma --max-age 1w
check_rc "syntax__run_max_age_1w" 0
assert_eq "syntax__run_max_age_1w_hits" "$((before + 1))" "$(n_runs)"
run stage bad --ttl 1y
check_rc "syntax__run_ttl_bad_exit_125" 125
assert_contains "syntax__run_ttl_bad_named" "$ERR" "--ttl '1y'"
run stage bad --max-age '3 days'
check_rc "syntax__run_max_age_bad_exit_125" 125
run env ARCA_TTL=1w "$ARCA" run --stage t --out t.out -- sh -c 'echo t >t.out'
check_rc "syntax__env_ttl_1w" 0
run env ARCA_TTL=forever "$ARCA" ls
check_rc "syntax__env_ttl_bad_exit_2" 2
assert_contains "syntax__env_ttl_bad_named" "$ERR" "ARCA_TTL='forever'"

run "$ARCA" clear --older-than 1w
check_rc "syntax__clear_older_than_1w" 0
run "$ARCA" clear --older-than 90
check_rc "syntax__clear_older_than_seconds" 0
run "$ARCA" clear --older-than 1y
check_rc "syntax__clear_older_than_bad_exit_2" 2
assert_contains "syntax__clear_older_than_bad_named" "$ERR" "--older-than '1y'"

# ---- sizes --------------------------------------------------------------------
fresh_store
head -c 102400 /dev/urandom >k100.bin
head -c 102401 /dev/urandom >k100plus.bin
head -c 2048 /dev/urandom >k2.bin
run env ARCA_INLINE_THRESHOLD=1K "$ARCA" put k2.bin
check_rc "syntax__env_inline_threshold_1K" 0
assert_eq "syntax__env_inline_threshold_1K_file" 0 "$(inline_blobs)"
assert_contains "syntax__env_inline_threshold_1K_info" "$(ARCA_INLINE_THRESHOLD=1K "$ARCA" info --json)" '"inline_threshold": 1024'
run env ARCA_INLINE_THRESHOLD=100K "$ARCA" put k100.bin
check_rc "syntax__env_inline_threshold_100K" 0
assert_eq "syntax__env_inline_threshold_100K_inline" 1 "$(inline_blobs)"
run env ARCA_INLINE_THRESHOLD=100K "$ARCA" put k100plus.bin
assert_eq "syntax__env_inline_threshold_100K_boundary" 1 "$(inline_blobs)"
run env ARCA_INLINE_THRESHOLD=100Q "$ARCA" put k2.bin
check_rc "syntax__env_inline_threshold_bad_exit_2" 2
assert_contains "syntax__env_inline_threshold_bad_named" "$ERR" "ARCA_INLINE_THRESHOLD='100Q'"

run "$ARCA" limit 1.5GiB
check_rc "syntax__limit_fraction" 0
run "$ARCA" limit
assert_contains "syntax__limit_fraction_shown" "$OUT" "(1610612736 bytes)"
run env ARCA_MAX_SIZE=2.5M "$ARCA" limit
assert_contains "syntax__env_max_size_fraction" "$OUT" "(2621440 bytes)"
run "$ARCA" limit 10X
check_rc "syntax__limit_bad_exit_2" 2
assert_contains "syntax__limit_bad_named" "$ERR" "'10X'"
run env ARCA_MAX_SIZE=1.5 "$ARCA" limit
check_rc "syntax__env_max_size_fraction_of_byte_exit_2" 2
assert_contains "syntax__env_max_size_bad_named" "$ERR" "ARCA_MAX_SIZE='1.5'"

# ---- config.yaml takes the same forms ------------------------------------
fresh_store
mkdir -p "$ARCA_DIR"
printf 'max_size: 1.5GiB\ninline_threshold: 1K\nlock_timeout: 10m\nttl: 1w\n' >"$ARCA_DIR/config.yaml"
run "$ARCA" put k2.bin
check_rc "syntax__config_forms_accepted" 0
assert_eq "syntax__config_inline_threshold_applies" 0 "$(inline_blobs)"
run "$ARCA" limit
assert_contains "syntax__config_max_size_applies" "$OUT" "(1610612736 bytes)"
printf 'lock_timeout: 10x\n' >"$ARCA_DIR/config.yaml"
run "$ARCA" ls
check_rc "syntax__config_bad_lock_timeout_exit_2" 2
assert_contains "syntax__config_bad_lock_timeout_named" "$ERR" "config.yaml:1: lock_timeout '10x'"

finish
