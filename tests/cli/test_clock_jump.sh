#!/usr/bin/env bash
# A wall clock that jumps forward (issue 8), with Debian's faketime
# (libfaketime, LD_PRELOAD): TTLs are measured on the wall clock, so a
# forward jump expires entries early and an entry stored during the jump
# lives its TTL plus the jump; LRU order takes the jumped times as they
# are, so what is used during a jump looks most recent until the clock
# catches up. Nothing is lost or corrupted either way (docs/cli.md,
# "Clock jumps").
. "${ARCA_TEST_LIB:-$(dirname "$0")/../lib.sh}" || exit 2


if ! command -v faketime >/dev/null 2>&1; then
	fail "clock__faketime_installed" "faketime is missing (scripts/bootstrap installs it)"
	finish
fi
# libfaketime is preloaded into the (possibly sanitized) binary.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
# Real time, then shifted: faketime's relative offsets ("+2h").
at() { local off=$1; shift; faketime -f "$off" "$@"; }

runs() { if [ -f count ]; then wc -l <count | tr -d ' '; else echo 0; fi; }

# ---- TTL under a forward jump -------------------------------------------------
T=("$ARCA" run --stage ttl --ttl 1h -- sh -c 'echo run >>count; echo out')
check "clock__ttl_store" "${T[@]}"
run at "+30m" "${T[@]}"
assert_contains "clock__ttl_hit_within_ttl" "$ERR" "arca: hit ttl"
run at "+2h" "${T[@]}"
check_rc "clock__ttl_jump_exit_0" 0
assert_contains "clock__ttl_jump_past_ttl_is_a_miss" "$ERR" "arca: miss ttl"
assert_eq "clock__ttl_jump_recomputed" 2 "$(runs)"
# Stored at +2h: back at the real time it is a hit (created "in the
# future": it lives its TTL plus the jump).
run "${T[@]}"
assert_contains "clock__ttl_stored_in_jump_hits_after" "$ERR" "arca: hit ttl"
assert_eq "clock__ttl_stored_in_jump_not_recomputed" 2 "$(runs)"
run at "+2h30m" "$ARCA" gc
assert_contains "clock__gc_keeps_within_ttl" "$OUT" "expired       0 actions"
run at "+4h" "$ARCA" gc
check_rc "clock__gc_jump_exit_0" 0
assert_contains "clock__gc_past_ttl_expires" "$OUT" "expired       1 actions"
run "$ARCA" verify
check_rc "clock__ttl_verify_clean" 0

# ---- LRU under a forward jump -------------------------------------------------
fresh_store
stage() { # [faketime -f OFFSET] stage NAME CHAR: 200 KiB output (a file blob)
	local pre=()
	[ "$1" = at ] && pre=(faketime -f "$2") && shift 2
	"${pre[@]}" "$ARCA" run --stage "$1" --out "$1.bin" -- sh -c \
		"echo $1 >>count; head -c 204800 /dev/zero | tr '\\0' '$2' >$1.bin"
}
rm -f count
stage a 1 2>/dev/null
stage b 2 2>/dev/null
stage c 3 2>/dev/null
# a is hit during a day-long jump, b and c a minute later than now: a is
# the most recent entry afterwards, until the clock reaches its time.
run stage at "+1d" a 1
assert_contains "clock__lru_hit_in_jump" "$ERR" "arca: hit a"
stage at "+1m" b 2 2>/dev/null
stage at "+1m" c 3 2>/dev/null
# Room for one of the three: b and c (used before the jump) go, a stays.
run "$ARCA" limit 300K
check_rc "clock__lru_limit_exit_0" 0
n=$(runs)
stage a 1 2>"$TEST_TMP/a.err"
assert_contains "clock__lru_jumped_entry_survives" "$(cat "$TEST_TMP/a.err")" "arca: hit a"
stage b 2 2>"$TEST_TMP/b.err"
assert_contains "clock__lru_older_entry_evicted" "$(cat "$TEST_TMP/b.err")" "arca: miss b"
assert_eq "clock__lru_runs" "$((n + 1))" "$(runs)"
run "$ARCA" verify
check_rc "clock__lru_verify_clean" 0

finish
