#!/usr/bin/env bash
# The benchmark scripts parse, and bench_exec (bench/bench_exec.c, the
# timer of bench_hit.sh) runs what it is told and refuses a failing
# command. Nothing here measures or asserts a time: benchmarks are never
# timed tests (bench/README.md).
. "${ARCA_TEST_LIB:-$(dirname "$0")/../lib.sh}" || exit 2

src=${ARCA_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
for script in "$src"/bench/*.sh; do
	check "bench_scripts__parses_$(basename "$script" .sh)" bash -n "$script"
done

run env REPEAT=0 bash "$src/bench/bench_hit.sh" "$(dirname "$ARCA")"
check_rc "bench_scripts__hit_bad_repeat_exit_1" 1
assert_contains "bench_scripts__hit_bad_repeat_named" "$ERR" "REPEAT must be a positive number"
# Every script takes its build directory the same way (bench/lib.sh) and
# names a missing one.
for script in bench_hit bench_serve bench_remote run; do
	run bash "$src/bench/$script.sh" "$PWD/no-such-build"
	check_rc "bench_scripts__${script}_no_build_exit_1" 1
	assert_contains "bench_scripts__${script}_no_build_named" "$ERR" \
		"no build directory $PWD/no-such-build"
done

bexec=$(dirname "$ARCA")/bench/bench_exec
if [ ! -x "$bexec" ]; then
	echo "SKIP bench_exec: $bexec not built"
	finish
fi
touch gone.txt
run "$bexec" -n 3 -w 1 -u gone.txt -- sh -c 'echo x >>ran.log; test ! -e gone.txt'
check_rc "bench_scripts__exec_exit_0" 0
assert_eq "bench_scripts__exec_runs_warmup_and_timed" 4 "$(wc -l <ran.log | tr -d ' ')"
assert_contains "bench_scripts__exec_prints_median" "$OUT" "runs=3"
case "$OUT" in
median_ns=[0-9]*" min_ns="[0-9]*" max_ns="[0-9]*" runs=3") pass "bench_scripts__exec_line_format" ;;
*) fail "bench_scripts__exec_line_format" "got: $OUT" ;;
esac
run "$bexec" -n 2 -- sh -c 'exit 3'
check_rc "bench_scripts__exec_failing_command_exit_1" 1
assert_contains "bench_scripts__exec_failing_command_named" "$ERR" "exited 3"
run "$bexec" -n 0 -- true
check_rc "bench_scripts__exec_bad_count_exit_1" 1
mkdir sub
run "$bexec" -n 1 -w 0 -C sub -v -- pwd
assert_contains "bench_scripts__exec_chdir" "$OUT" "/sub"

finish
