#!/bin/bash
# A store on a read-only file system (a tmpfs remounted ro; needs root):
# every command that would write fails with one clear line and a non-zero
# exit, nothing runs half-way, and once the file system is writable again
# the store holds exactly what it held before.
. "${ARCA_TEST_LIB:-$(dirname "$0")/../lib.sh}" || exit 2

mount_tmpfs 16m

ARCA_DIR="$MNT/store"
export ARCA_DIR

printf 'kept\n' >kept.txt
head -c 200000 /dev/urandom >big.bin
run "$ARCA" put kept.txt
check_rc "readonly__setup_put_exit_0" 0
kept=$OUT
run "$ARCA" put big.bin
big=$OUT
echo in >in.txt
run "$ARCA" run --stage up --in in.txt --out up.txt -- sh -c 'echo ran >>count; tr a-z A-Z <in.txt >up.txt'
check_rc "readonly__setup_run_exit_0" 0
before=$("$ARCA" ls --json)

mount -o remount,ro "$MNT" || { echo "cannot remount read-only" >&2; exit 2; }

printf 'new\n' >new.txt
run "$ARCA" put new.txt
check_rc "readonly__put_exit_5" 5
assert_contains "readonly__put_says_read_only" "$ERR" "Read-only file system"
assert_eq "readonly__put_one_line" 1 "$(printf '%s\n' "$ERR" | wc -l | tr -d ' ')"
assert_eq "readonly__put_no_stdout" "" "$OUT"

echo other >in2.txt
run "$ARCA" run --stage up --in in2.txt --out up2.txt -- sh -c 'echo ran >>count; tr a-z A-Z <in2.txt >up2.txt'
check_rc "readonly__run_exit_125" 125
assert_contains "readonly__run_says_read_only" "$ERR" "Read-only file system"
assert_eq "readonly__run_did_not_run" 1 "$(wc -l <count | tr -d ' ')"

run "$ARCA" clear --all
check_rc "readonly__clear_exit_5" 5
run "$ARCA" gc
check_rc "readonly__gc_exit_5" 5

mount -o remount,rw "$MNT" || { echo "cannot remount read-write" >&2; exit 2; }

run "$ARCA" get "$kept"
check_rc "readonly__after_get_small_exit_0" 0
assert_eq "readonly__after_small_intact" "kept" "$OUT"
"$ARCA" get "$big" -o big.out 2>"$ERR_FILE"
assert_files_eq "readonly__after_big_intact" big.bin big.out
assert_eq "readonly__after_actions_unchanged" "$before" "$("$ARCA" ls --json)"
run "$ARCA" verify
check_rc "readonly__after_verify_clean" 0
rm -f up.txt
run "$ARCA" run --stage up --in in.txt --out up.txt -- sh -c 'echo ran >>count; tr a-z A-Z <in.txt >up.txt'
assert_contains "readonly__after_run_hits" "$ERR" "arca: hit up "
assert_eq "readonly__after_up_restored" "IN" "$(cat up.txt)"

finish
