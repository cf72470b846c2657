#!/bin/bash
# `arca run` killed with SIGKILL at random moments (while it looks up,
# runs CMD, stores outputs or restores a hit). After each kill: `arca
# verify` finds nothing corrupt, the open swept tmp/, the same stage runs
# at once (the dead run's lease blocks nothing) and hands over the right
# bytes, and neither the working directory nor $TMPDIR holds an arca
# temp file (".NAME.arca-XXXXXX", "arca-*"). Every other kill runs with
# ARCA_NO_O_TMPFILE=1, the fallback for file systems without O_TMPFILE
# (named temp files recorded in tmp/, removed by the next open).
# ARCA_TORTURE_RUN_ITERATIONS sets the number of kills (default 30).
. "${ARCA_TEST_LIB:-$(dirname "$0")/../lib.sh}" || exit 2

export TMPDIR="$TEST_TMP/tmpdir"
mkdir -p "$TMPDIR"

# Arca temp files left in the directories given, one per line.
leftovers() {
	find "$@" -mindepth 1 \( -name '.*.arca-*' -o -name 'arca-*' \) \
		-print 2>/dev/null
}

ITER=${ARCA_TORTURE_RUN_ITERATIONS:-30}
SEED=${ARCA_TORTURE_SEED:-$$}
RANDOM=$SEED
echo "# $ITER kills, seed $SEED (ARCA_TORTURE_RUN_ITERATIONS, ARCA_TORTURE_SEED)"

# Output K: a file blob of 2-4 MiB for even K (kills land in its
# restore too), an inline one for odd K; deterministic.
cat >"$TEST_TMP/gen.sh" <<'EOF'
#!/bin/sh
if [ $(($1 % 2)) -eq 0 ]; then n=$((2048 + $1 * 256)); else n=$((1 + $1)); fi
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
	if [ $((i % 2)) -eq 0 ]; then fb=1; else fb=; fi
	ARCA_NO_O_TMPFILE=$fb setsid "$ARCA" run --stage gen --param k=$k \
		--out out.bin -- "$TEST_TMP/gen.sh" $k >/dev/null 2>&1 &
	pid=$!
	sleep "0.0$(printf '%02d' $((RANDOM % 50)))"
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
	left=$(leftovers "$dir" "$TMPDIR")
	if [ -n "$left" ]; then
		fail "torture_run__nothing_left_after_kill_$i" "$left"
		bad=1
	fi
	cd "$TEST_TMP/work" || exit 2
	rm -rf "$dir"
	[ $bad -eq 0 ] || break
done
[ $bad -eq 0 ] && pass "torture_run__${ITER}_kills_verify_clean_tmp_swept_no_stale_lease_outputs_right"

# Kills during the restore of a 16 MiB hit, in both modes: after the
# next run no temp file is left beside the output or in $TMPDIR.
python3 -c "import sys; sys.stdout.buffer.write(bytes(range(256)) * 65536)" \
	>"$TEST_TMP/big.want"
mkdir -p "$TEST_TMP/big" && cd "$TEST_TMP/big" || exit 2
bigcmd="mkdir -p sub && cp '$TEST_TMP/big.want' sub/big.bin"
run "$ARCA" run --stage big --out sub/big.bin -- sh -c "$bigcmd"
check_rc "torture_run__big_stored" 0
bad=0
for i in $(seq 1 $((ITER / 2 + 1))); do
	rm -f sub/big.bin
	if [ $((i % 2)) -eq 0 ]; then fb=1; else fb=; fi
	ARCA_NO_O_TMPFILE=$fb setsid "$ARCA" run --stage big \
		--out sub/big.bin -- sh -c "$bigcmd" >/dev/null 2>&1 &
	pid=$!
	sleep "0.0$(printf '%02d' $((RANDOM % 50)))"
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	rm -f sub/big.bin
	run timeout 20 "$ARCA" run --stage big --out sub/big.bin -- \
		sh -c "$bigcmd"
	if [ "$RC" -ne 0 ] || ! cmp -s sub/big.bin "$TEST_TMP/big.want" ||
	    [ "${ERR#*hit}" = "$ERR" ]; then
		fail "torture_run__big_hit_after_kill_$i" "exit $RC" "$ERR"
		bad=1
	fi
	left=$(leftovers "$TEST_TMP/big" "$TMPDIR")
	if [ -n "$left" ]; then
		fail "torture_run__nothing_left_after_restore_kill_$i" "$left"
		bad=1
	fi
	[ $bad -eq 0 ] || break
done
[ $bad -eq 0 ] && pass "torture_run__restore_kills_leave_nothing_behind"
cd "$TEST_TMP/work" || exit 2

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
