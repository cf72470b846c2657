#!/usr/bin/env bash
# A removal killed between the commit that deleted its rows and the
# unlinks of their files (issue 8, "nothing left behind"): the files it
# had still to unlink are named in its pin record (pin.h), so the next
# open removes them; gc finds no orphan, verify is clean. The kill is
# placed by an LD_PRELOAD shim (tests/helpers/kill_at_unlink.c) that
# SIGKILLs the process at its Nth unlink under blobs/.
. "${ARCA_TEST_LIB:-$(dirname "$0")/../lib.sh}" || exit 2

SHIM=${ARCA_KILL_AT_UNLINK:-}
if [ -z "$SHIM" ] || [ ! -f "$SHIM" ]; then
	fail "killed_removal__shim_built" "ARCA_KILL_AT_UNLINK is not set to the built shim"
	finish
fi
# The shim is preloaded ahead of a sanitized binary's runtime.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"

files() { find "$ARCA_DIR/blobs" -type f 2>/dev/null | wc -l | tr -d ' '; }
killed() { # killed N CMD...: run CMD, SIGKILLed at its (N+1)th blob unlink
	local n=$1
	shift
	LD_PRELOAD="$SHIM" ARCA_KILL_ROOT="$ARCA_DIR" ARCA_KILL_AT="$n" "$@" \
		>/dev/null 2>&1
}
fill() { # fill N: N file blobs (120 KiB each) put by hand
	local i
	for i in $(seq 1 "$1"); do
		head -c 120000 /dev/urandom >"f$i.bin"
		"$ARCA" put "f$i.bin" >/dev/null || return 1
	done
}
after() { # after NAME: the next open reaps; then gc and verify find nothing
	run "$ARCA" ls
	check_rc "killed_removal__${1}_next_open_exit_0" 0
	assert_eq "killed_removal__${1}_no_file_left" 0 "$(files)"
	run "$ARCA" gc
	assert_contains "killed_removal__${1}_gc_no_orphans" "$OUT" "orphans       0 files"
	run "$ARCA" verify
	check_rc "killed_removal__${1}_verify_clean" 0
	assert_eq "killed_removal__${1}_no_pin_record_left" "" \
		"$(ls "$ARCA_DIR/tmp" | grep '^pins-')"
}

# ---- clear --all ------------------------------------------------------------
fill 6
assert_eq "killed_removal__filled" 6 "$(files)"
killed 2 "$ARCA" clear --all
assert_eq "killed_removal__clear_was_killed" 137 "$?"
assert_eq "killed_removal__clear_left_files" 4 "$(files)"
after clear

# ---- eviction (arca limit) --------------------------------------------------
fresh_store
fill 6
killed 1 "$ARCA" limit 1K
assert_eq "killed_removal__limit_was_killed" 137 "$?"
after evict

# ---- rm of an action whose output is a file blob ----------------------------
fresh_store
"$ARCA" run --stage big --out big.out -- sh -c 'head -c 150000 /dev/urandom >big.out' 2>/dev/null
key=$("$ARCA" ls --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["key"])')
killed 0 "$ARCA" rm "$key"
assert_eq "killed_removal__rm_was_killed" 137 "$?"
after rm

finish
