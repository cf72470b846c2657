#!/usr/bin/env bash
# Capacity and lifecycle: limit, the 80% warning, eviction, TTL, --max-age,
# tags, clear filters, gc, stats --days, the config file and its precedence.
. "${ARCA_TEST_LIB:-$(dirname "$0")/../lib.sh}" || exit 2

export XDG_CONFIG_HOME="$TEST_TMP/xdg"
# The limits here are max_size alone, on a disk of any free space (the
# disk-aware limit has its own tests: test_fulldisk_recover.sh, test_evict).
export ARCA_DISK_RESERVE=0

# Time is simulated (ARCA_TEST_NOW, read by libarca): a TTL or an age
# passes when the test says so, not when a busy machine gets round to it.
ARCA_TEST_NOW=$(date +%s)
export ARCA_TEST_NOW
advance() { ARCA_TEST_NOW=$((ARCA_TEST_NOW + $1)); }

runs=0
stage() { # stage NAME N: a stage writing 100 KiB of N
	"$ARCA" run --stage "$1" --out "$1.bin" "${@:3}" -- sh -c \
		"echo x >>runs.log; head -c 102400 /dev/zero | tr '\\0' '$2' >$1.bin"
}
count_runs() { wc -l <runs.log | tr -d ' '; }
json_get() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# ---- limit ----------------------------------------------------------------
run "$ARCA" limit
check_rc "limit__show_exit_0" 0
assert_contains "limit__default_10_gib" "$OUT" "limit: 10.0 GiB"
stage a 1 >/dev/null
stage b 2 >/dev/null
stage c 3 >/dev/null
run "$ARCA" limit 1M
check_rc "limit__set_exit_0" 0
assert_contains "limit__written_to_config" "$(cat "$ARCA_DIR/config.yaml")" "max_size: 1M"
run "$ARCA" limit
assert_contains "limit__shows_new_limit" "$OUT" "limit: 1.0 MiB (1048576 bytes)"
# a is the least recently used once b and c are hit (a second later:
# last access is kept in seconds).
advance 1
stage b 2 >/dev/null
stage c 3 >/dev/null
run "$ARCA" limit 250K
check_rc "limit__lower_evicts_exit_0" 0
assert_contains "limit__reports_eviction" "$OUT" "evicted"
n=$(count_runs)
stage c 3 >/dev/null
assert_eq "limit__most_recent_survives" "$n" "$(count_runs)"
stage a 1 >/dev/null
assert_eq "limit__least_recent_was_evicted" "$((n + 1))" "$(count_runs)"

run "$ARCA" limit 10X
check_rc "limit__bad_size_exit_2" 2
assert_contains "limit__bad_size_named" "$ERR" "'10X'"
run "$ARCA" limit 1M 2M
check_rc "limit__two_sizes_exit_2" 2

# A limit below what live writers pin: test_limit_holds.sh.

# ---- automatic eviction and the 80% warning -----------------------------
fresh_store
mkdir -p "$ARCA_DIR"
printf 'max_size: 500K\nlow_watermark: 50\n' >"$ARCA_DIR/config.yaml"
for i in 1 2 3 4 5 6 7; do
	stage s$i $i >/dev/null 2>&1
done
run "$ARCA" limit
used=$(printf '%s\n' "$OUT" | sed -n 's/^used: .*(\([0-9]*\) bytes.*/\1/p')
if [ -n "$used" ] && [ "$used" -le 512000 ]; then
	pass "evict__automatic_keeps_under_limit"
else
	fail "evict__automatic_keeps_under_limit" "$OUT"
fi
run "$ARCA" stats --days 1 --json
assert_eq "stats_days__counts_evictions" "True" "$(printf '%s' "$OUT" | json_get 'd["days"][-1]["evictions"] > 0')"
# A limit the store fills to 90% of.
printf 'max_size: %s\nlow_watermark: 100\n' $((used * 10 / 9)) >"$ARCA_DIR/config.yaml"
run "$ARCA" ls
n_warn=$(printf '%s\n' "$ERR" | grep -c "warning: the store is at")
if printf '%s\n' "$ERR" | grep -Eq "warning: the store is at 90% of its [0-9.]+ KiB limit"; then
	pass "warn__past_80_percent"
else
	fail "warn__past_80_percent" "stderr: $ERR" "stdout: $OUT"
fi
assert_eq "warn__once_per_command" 1 "$n_warn"

# ---- TTL and --max-age ------------------------------------------------------
fresh_store
n=$(count_runs)
stage t 1 --ttl 1 >/dev/null
stage t 1 --ttl 1 >/dev/null
assert_eq "ttl__hit_before_expiry" "$((n + 1))" "$(count_runs)"
advance 2
stage t 1 --ttl 1 >/dev/null
assert_eq "ttl__expired_is_a_miss" "$((n + 2))" "$(count_runs)"
stage m 1 >/dev/null
advance 2
n=$(count_runs)
stage m 1 --max-age 1h >/dev/null
assert_eq "max_age__young_enough_hits" "$n" "$(count_runs)"
stage m 1 --max-age 1 >/dev/null
assert_eq "max_age__too_old_is_a_miss" "$((n + 1))" "$(count_runs)"
run stage t 1 --ttl soon
check_rc "ttl__bad_duration_exit_125" 125
assert_contains "ttl__bad_duration_named" "$ERR" "'soon'"

# ---- gc -------------------------------------------------------------------
fresh_store
stage g 1 --ttl 1 >/dev/null
printf 'loose' >loose.txt
"$ARCA" put loose.txt >/dev/null
mkdir -p "$ARCA_DIR/blobs/zz"
printf 'orphan' >"$ARCA_DIR/blobs/zz/notablob"
touch -d '1 hour ago' "$ARCA_DIR/blobs/zz/notablob"
advance 2
run "$ARCA" gc --json
check_rc "gc__exit_0" 0
assert_eq "gc__expired_action" 1 "$(printf '%s' "$OUT" | json_get 'd["expired_actions"]')"
assert_eq "gc__unreferenced_blob" 1 "$(printf '%s' "$OUT" | json_get 'd["unreferenced_blobs"]')"
assert_eq "gc__orphan_file" 1 "$(printf '%s' "$OUT" | json_get 'd["orphan_files"]')"
assert_eq "gc__bytes_freed" "True" "$(printf '%s' "$OUT" | json_get 'd["bytes_freed"] > 102400')"
run "$ARCA" gc
assert_contains "gc__text_report" "$OUT" "freed"

# ---- tags and clear filters -------------------------------------------------
fresh_store
stage x 1 --tag nightly >/dev/null
stage y 2 >/dev/null
printf 'tagged' >tagged.txt
"$ARCA" put --tag nightly tagged.txt >/dev/null
run "$ARCA" clear --tag nightly
check_rc "clear_tag__exit_0" 0
assert_contains "clear_tag__one_entry" "$OUT" "removed 1 entry"
run "$ARCA" ls --json
assert_eq "clear_tag__other_kept" "y" "$(printf '%s' "$OUT" | json_get '" ".join(e["stage"] for e in d)')"
run "$ARCA" info --json
n=$(count_runs)
stage y 2 >/dev/null
assert_eq "clear_tag__untagged_still_hits" "$n" "$(count_runs)"
key=$("$ARCA" ls --json | json_get 'd[0]["key"]')
run "$ARCA" clear "${key:0:8}"
check_rc "clear_prefix__exit_0" 0
assert_contains "clear_prefix__one_entry" "$OUT" "removed 1 entry"
stage z 3 >/dev/null
advance 2
stage w 4 >/dev/null
run "$ARCA" clear --older-than 1s
assert_contains "clear_older__one_entry" "$OUT" "removed 1 entry"
run "$ARCA" ls --json
assert_eq "clear_older__recent_kept" "w" "$(printf '%s' "$OUT" | json_get '" ".join(e["stage"] for e in d)')"
run "$ARCA" clear --older-than yesterday
check_rc "clear_older__bad_duration_exit_2" 2
run "$ARCA" clear --tag a --stage b
check_rc "clear__two_criteria_exit_2" 2
run "$ARCA" clear nothex
check_rc "clear__bad_prefix_exit_2" 2

# ---- stats --days -----------------------------------------------------------
run "$ARCA" stats --days 7 --json
check_rc "stats_days__exit_0" 0
assert_eq "stats_days__today" "$(date -u -d "@$ARCA_TEST_NOW" +%Y-%m-%d)" "$(printf '%s' "$OUT" | json_get 'd["days"][-1]["date"]')"
assert_eq "stats_days__misses" "True" "$(printf '%s' "$OUT" | json_get 'd["days"][-1]["misses"] >= 2')"
run "$ARCA" stats --days 7
assert_contains "stats_days__text_header" "$OUT" "EVICTIONS"
run "$ARCA" stats --days 0
check_rc "stats_days__zero_exit_2" 2

# ---- config file and precedence ---------------------------------------------
fresh_store
mkdir -p "$XDG_CONFIG_HOME/arca"
printf 'max_size: 3G\n' >"$XDG_CONFIG_HOME/arca/config.yaml"
run "$ARCA" limit
assert_contains "config__user_file" "$OUT" "limit: 3.0 GiB"
mkdir -p "$ARCA_DIR"
printf '# the store'"'"'s own\nmax_size: 2G\n' >"$ARCA_DIR/config.yaml"
run "$ARCA" limit
assert_contains "config__store_file_first" "$OUT" "limit: 2.0 GiB"
run env ARCA_MAX_SIZE=5G "$ARCA" limit
assert_contains "config__env_overrides_file" "$OUT" "limit: 5.0 GiB"
# A flag overrides both: --ttl over ARCA_TTL over ttl:.
printf 'max_size: 2G\nttl: 1\n' >"$ARCA_DIR/config.yaml"
n=$(count_runs)
stage f 1 >/dev/null
advance 2
stage f 1 >/dev/null
assert_eq "config__ttl_from_file" "$((n + 2))" "$(count_runs)"
ARCA_TTL=1h stage f2 1 >/dev/null
advance 2
ARCA_TTL=1h stage f2 1 >/dev/null
assert_eq "config__env_ttl_over_file" "$((n + 3))" "$(count_runs)"
ARCA_TTL=1h stage f3 1 --ttl 1 >/dev/null
advance 2
ARCA_TTL=1h stage f3 1 --ttl 1 >/dev/null
assert_eq "config__flag_ttl_over_env" "$((n + 5))" "$(count_runs)"

printf 'max_size: 2G\nttl: later\n' >"$ARCA_DIR/config.yaml"
run "$ARCA" limit
check_rc "config__bad_duration_exit_2" 2
assert_contains "config__error_names_file_line" "$ERR" "config.yaml:2:"
printf 'max_size: lots\n' >"$ARCA_DIR/config.yaml"
run "$ARCA" ls
check_rc "config__bad_size_exit_2" 2
assert_contains "config__bad_size_named" "$ERR" "config.yaml:1: max_size 'lots'"
printf 'max_sise: 1G\n' >"$ARCA_DIR/config.yaml"
run "$ARCA" ls
check_rc "config__unknown_key_exit_2" 2
printf 'max_size: [1, 2\n' >"$ARCA_DIR/config.yaml"
run "$ARCA" ls
check_rc "config__bad_yaml_exit_2" 2
assert_contains "config__bad_yaml_named" "$ERR" "config.yaml:"
printf 'max_size: 2G\n' >"$ARCA_DIR/config.yaml"
run env ARCA_MAX_SIZE=big "$ARCA" ls
check_rc "config__bad_env_exit_2" 2
assert_contains "config__bad_env_named" "$ERR" "ARCA_MAX_SIZE='big'"
printf 'ttl: 7d\nmax_size: 2G\n' >"$ARCA_DIR/config.yaml"
run "$ARCA" limit 3G
assert_contains "config__limit_keeps_other_keys" "$(cat "$ARCA_DIR/config.yaml")" "ttl: 7d"
assert_contains "config__limit_updates_key" "$(cat "$ARCA_DIR/config.yaml")" "max_size: 3G"

finish
