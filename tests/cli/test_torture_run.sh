#!/bin/bash
# `arca run` killed with SIGKILL at random moments (while it looks up,
# runs CMD, stores outputs or restores a hit). After each kill: `arca
# verify` finds nothing corrupt, the open swept tmp/, the same stage runs
# at once (the dead run's lease blocks nothing) and hands over the right
# bytes. ARCA_TORTURE_RUN_ITERATIONS sets the number of kills (default 30).
. "${ARCA_TEST_LIB:-$(dirname "$0")/../lib.sh}"

ITER=${ARCA_TORTURE_RUN_ITERATIONS:-30}
SEED=${ARCA_TORTURE_SEED:-$$}
RANDOM=$SEED
echo "# $ITER kills, seed $SEED (ARCA_TORTURE_RUN_ITERATIONS, ARCA_TORTURE_SEED)"

# Output K: a file blob for even K, an inline one for odd K; deterministic.
cat >"$TEST_TMP/gen.sh" <<'EOF'
#!/bin/sh
if [ $(($1 % 2)) -eq 0 ]; then n=$((150 + $1 * 40)); else n=$((1 + $1)); fi
python3 -c "import sys; sys.stdout.buffer.write(bytes([$1]) * 1024 * $n)" >out.bin
echo "gen $1"
EOF
chmod +x "$TEST_TMP/gen.sh"
for k in 0 1 2 3 4 5; do
	(mkdir -p "$TEST_TMP/want$k" && cd "$TEST_TMP/want$k" &&
		"$TEST_TMP/gen.sh" $k >/dev/null)
done

# A stuck lease would make the check run wait; it must not wait at all.
bad=0
for i in $(seq 1 "$ITER"); do
	k=$((RANDOM % 6))
	dir="$TEST_TMP/it$i"
	mkdir -p "$dir"
	cd "$dir" || exit 2
	setsid "$ARCA" run --stage gen --param k=$k --out out.bin \
		-- "$TEST_TMP/gen.sh" $k >/dev/null 2>&1 &
	pid=$!
	sleep "0.0$(printf '%02d' $((RANDOM % 30)))"
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	# CMD may outlive arca: wait for the rest of the process group.
	while kill -0 -- "-$pid" 2>/dev/null; do sleep 0.01; done

	run "$ARCA" verify
	if [ "$RC" -ne 0 ]; then
		fail "torture_run__verify_clean_after_kill_$i" "$OUT" "$ERR"
		bad=1
	fi
	if [ -n "$(ls -A "$ARCA_DIR/tmp" 2>/dev/null)" ]; then
		fail "torture_run__tmp_swept_after_kill_$i" \
			"$(ls -A "$ARCA_DIR/tmp")"
		bad=1
	fi
	rm -f out.bin
	run timeout 20 "$ARCA" run --stage gen --param k=$k \
		--out out.bin -- "$TEST_TMP/gen.sh" $k
	if [ "$RC" -ne 0 ]; then
		fail "torture_run__rerun_after_kill_$i" "exit $RC" "$ERR"
		bad=1
	fi
	case "$ERR" in
	*waiting*)
		fail "torture_run__no_stale_lease_$i" "$ERR"
		bad=1
		;;
	esac
	if ! cmp -s out.bin "$TEST_TMP/want$k/out.bin"; then
		fail "torture_run__output_right_after_kill_$i" "k=$k"
		bad=1
	fi
	cd "$TEST_TMP/work" || exit 2
	rm -rf "$dir"
	[ $bad -eq 0 ] || break
done
[ $bad -eq 0 ] && pass "torture_run__${ITER}_kills_verify_clean_tmp_swept_no_stale_lease_outputs_right"

# Every stage caches and restores byte-exact afterwards.
for k in 0 1 2 3 4 5; do
	run "$ARCA" run --stage gen --param k=$k --out out.bin \
		-- "$TEST_TMP/gen.sh" $k
	rm -f out.bin
	run "$ARCA" run --stage gen --param k=$k --out out.bin \
		-- "$TEST_TMP/gen.sh" $k
	assert_contains "torture_run__final_hit_$k" "$ERR" "hit"
	assert_files_eq "torture_run__final_output_$k" \
		"$TEST_TMP/want$k/out.bin" out.bin
done
run "$ARCA" verify
check_rc "torture_run__final_verify" 0

finish
