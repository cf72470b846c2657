#!/usr/bin/env bash
# The hit path of `arca run`: a hit performs no fsync/fdatasync (its
# bookkeeping is batched and never checkpointed by it) while a miss still
# syncs; OpenSSL's configuration file is not read; -v and ARCA_TRACE=1
# print the trace line with the phases; the hit is still counted.
. "${ARCA_TEST_LIB:-$(dirname "$0")/../lib.sh}" || exit 2

if ! command -v strace >/dev/null 2>&1 ||
   ! strace -f -o /dev/null true 2>/dev/null; then
	echo "SKIP - strace is missing or cannot trace here"
	finish
fi
command -v cc >/dev/null 2>&1 || { echo "SKIP - no C compiler"; finish; }

hits() {
	"$ARCA" stats --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["overall"]["hits"])'
}
# strace: LeakSanitizer cannot run under ptrace (an ASan build), so the
# traced runs leave leak checks to the untraced ones below.
traced() {
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" strace "$@"
}
# The number of fsync/fdatasync calls in an strace log.
syncs() { grep -cE '(^|[ ])(fsync|fdatasync)\(' "$1"; }

echo 'int f(void) { return 1; }' >x.c
compile() { "$ARCA" run --in x.c --out y.o -- cc -O2 -c x.c -o y.o; }

# ---- a miss syncs (the blobs, the index): the test can see syncs -------------
run traced -f -e trace=fsync,fdatasync -o miss.log "$ARCA" run --in x.c \
	--out y.o -- cc -O2 -c x.c -o y.o
check_rc "hitpath__miss_exit_0" 0
assert_contains "hitpath__miss_is_a_miss" "$ERR" "arca: miss"
n=$(syncs miss.log)
if [ "$n" -gt 0 ]; then pass "hitpath__miss_syncs"; else
	fail "hitpath__miss_syncs" "no fsync/fdatasync in a miss: $(cat miss.log)"; fi

# ---- a hit syncs nothing -----------------------------------------------------
for i in 1 2 3; do
	rm -f y.o
	run traced -f -e trace=fsync,fdatasync -o hit$i.log "$ARCA" run \
		--in x.c --out y.o -- cc -O2 -c x.c -o y.o
	check_rc "hitpath__hit${i}_exit_0" 0
	assert_contains "hitpath__hit${i}_is_a_hit" "$ERR" "arca: hit"
	assert_eq "hitpath__hit${i}_no_fsync" 0 "$(syncs hit$i.log)"
done
check "hitpath__output_restored" test -s y.o

# ---- the hits are counted all the same ---------------------------------------
assert_eq "hitpath__hits_counted" 3 "$(hits)"

# ---- a run of hits keeps the WAL short ---------------------------------------
# Every open reads the whole WAL back (SQLite rebuilds its wal-index), so
# the hits' bookkeeping is checkpointed and the WAL emptied past 64 pages
# (local.c, "Checkpoints"): after 60 hits (about 4 pages each) it holds
# well under 512 KiB; left to grow it would hold about 1 MiB.
for i in $(seq 60); do compile 2>/dev/null; done
wal=$(stat -c %s "$ARCA_DIR/index.db-wal" 2>/dev/null || echo 0)
if [ "$wal" -lt 524288 ]; then pass "hitpath__wal_bounded"; else
	fail "hitpath__wal_bounded" "index.db-wal is $wal bytes after 60 hits"; fi
assert_eq "hitpath__hits_counted_after_run" 63 "$(hits)"

# ---- the next writer checkpoints what the hits left in the WAL --------------
echo 'int g(void) { return 2; }' >z.c
run "$ARCA" run --in z.c --out z.o -- cc -O2 -c z.c -o z.o
check_rc "hitpath__second_miss_exit_0" 0
assert_eq "hitpath__hits_kept_after_writer" 63 "$(hits)"

# ---- no OpenSSL configuration file is opened --------------------------------
run traced -f -e trace=open,openat -o open.log "$ARCA" run --in x.c \
	--out y.o -- cc -O2 -c x.c -o y.o
assert_contains "hitpath__cnf_hit" "$ERR" "arca: hit"
assert_eq "hitpath__no_openssl_cnf" "" \
	"$(grep -E 'openssl\.cnf|OPENSSL_CONF' open.log | grep -v ENOENT)"
assert_eq "hitpath__no_openssl_cnf_at_all" 0 "$(grep -c 'openssl.cnf' open.log)"

# ---- the trace line ---------------------------------------------------------
line_re='^arca: trace: open [0-9.]+ ms, key [0-9.]+ ms, lookup [0-9.]+ ms, verify [0-9.]+ ms, restore [0-9.]+ ms, total [0-9.]+ ms$'
run env ARCA_TRACE=1 "$ARCA" run --in x.c --out y.o -- cc -O2 -c x.c -o y.o
check_rc "hitpath__trace_env_exit_0" 0
assert_eq "hitpath__trace_env_line" 1 "$(printf '%s\n' "$ERR" | grep -cE "$line_re")"
run "$ARCA" run -v --in x.c --out y.o -- cc -O2 -c x.c -o y.o
assert_eq "hitpath__trace_v_line" 1 "$(printf '%s\n' "$ERR" | grep -cE "$line_re")"
run "$ARCA" run --in x.c --out y.o -- cc -O2 -c x.c -o y.o
assert_not_contains "hitpath__no_trace_by_default" "$ERR" "arca: trace:"
run env ARCA_TRACE=0 "$ARCA" run --in x.c --out y.o -- cc -O2 -c x.c -o y.o
assert_not_contains "hitpath__trace_0_is_off" "$ERR" "arca: trace:"
# The phases add up to no more than the total.
run env ARCA_TRACE=1 "$ARCA" run --in x.c --out y.o -- cc -O2 -c x.c -o y.o
sum_ok=$(printf '%s\n' "$ERR" | grep -E "$line_re" | python3 -c '
import re, sys
v = [float(x) for x in re.findall(r"([0-9.]+) ms", sys.stdin.read())]
print(sum(v[:-1]) <= v[-1] + 0.3)')
assert_eq "hitpath__trace_phases_within_total" True "$sum_ok"
# A miss says how long it ran.
echo 'int h(void) { return 3; }' >w.c
run env ARCA_TRACE=1 "$ARCA" run --in w.c --out w.o -- cc -O2 -c w.c -o w.o
assert_eq "hitpath__trace_miss_line" 1 "$(printf '%s\n' "$ERR" | grep -cE '^arca: trace: open [0-9.]+ ms, key [0-9.]+ ms, lookup [0-9.]+ ms, run [0-9.]+ ms, total [0-9.]+ ms$')"

# ---- arca repro -v: a trace line per stage ----------------------------------
echo hello >in.txt
cat >arca.yaml <<'YAML'
stages:
  up:
    cmd: tr a-z A-Z <in.txt >up.out
    deps: [in.txt]
    outs: [up.out]
    tool_version: "1"
YAML
run "$ARCA" repro -v
check_rc "hitpath__repro_ran_exit_0" 0
assert_eq "hitpath__repro_trace_ran" 1 "$(printf '%s\n' "$ERR" | grep -cE '^arca: trace: stage up: key [0-9.]+ ms, lookup [0-9.]+ ms, run [0-9.]+ ms, total [0-9.]+ ms$')"
run env ARCA_TRACE=1 "$ARCA" repro
assert_eq "hitpath__repro_trace_hit" 1 "$(printf '%s\n' "$ERR" | grep -cE '^arca: trace: stage up: key [0-9.]+ ms, lookup [0-9.]+ ms, verify [0-9.]+ ms, restore [0-9.]+ ms, total [0-9.]+ ms$')"
run "$ARCA" repro
assert_not_contains "hitpath__repro_no_trace_by_default" "$ERR" "arca: trace:"

finish
