#!/usr/bin/env bash
# clear --all racing writers (issue 8): clear removes exactly the files of
# the rows it deleted, so a put acknowledged while it runs is either kept
# or was removed by it as a whole (a clean miss), never left as a row
# without its file; a put racing it succeeds.
. "${ARCA_TEST_LIB:-$(dirname "$0")/../lib.sh}" || exit 2

ROUNDS=${ARCA_RACE_ROUNDS:-20}
WRITERS=4
PUTS=5       # puts per writer and round

# Files above the inline threshold (stored in blobs/), some shared by
# every writer (the dedup path races the clear's unlink), some not.
for i in 0 1 2; do head -c 120000 /dev/urandom >"shared$i.bin"; done
for w in $(seq 1 $WRITERS); do
	for i in $(seq 1 $PUTS); do
		head -c 110000 /dev/urandom >"w$w.$i.bin"
	done
done

# Writer w: put its files and the shared ones in turn; log each
# acknowledged digest, marked "after" when the put started once the clear
# had returned for the last time (it must then be present), and each failure.
writer() {
	local w=$1 i f d when
	for i in $(seq 1 $PUTS); do
		for f in "w$w.$i.bin" "shared$((i % 3)).bin"; do
			when=during
			[ -e cleared ] && when=after
			if d=$("$ARCA" put "$f" 2>>"err.$w"); then
				echo "$d $f $when" >>"acked.$w"
			else
				echo "put $f failed: exit $?" >>"failed.$w"
			fi
		done
	done
}

bad_rounds=0
start=$(date +%s)
for round in $(seq 1 $ROUNDS); do
	fresh_store
	rm -f acked.* failed.* err.* cleared
	"$ARCA" put shared0.bin >/dev/null 2>&1   # the store exists, not empty
	pids=
	for w in $(seq 1 $WRITERS); do writer "$w" & pids="$pids $!"; done
	problems=
	for c in 1 2 3; do
		sleep 0.0$((RANDOM % 5))
		"$ARCA" clear --all >/dev/null 2>"clear.err" ||
			problems="$problems clear exit $?: $(cat clear.err);"
	done
	: >cleared
	wait $pids
	if ls failed.* >/dev/null 2>&1; then
		problems="$problems $(cat failed.* | head -3 | tr '\n' ' ')"
		problems="$problems $(cat err.* | head -3 | tr '\n' ' ');"
	fi
	"$ARCA" verify >verify.out 2>&1
	vrc=$?
	[ $vrc -eq 0 ] || problems="$problems verify exit $vrc: $(head -3 verify.out | tr '\n' ' ');"
	# Every acknowledged put: its bytes, or a clean miss (exit 3) unless
	# it started after the clear returned (one get per digest, "after"
	# when any of its puts was).
	while read -r d f when; do
		"$ARCA" get "$d" -o got.bin 2>/dev/null
		grc=$?
		if [ $grc -eq 0 ]; then
			cmp -s got.bin "$f" || problems="$problems $f: wrong bytes;"
		elif [ $grc -ne 3 ] || [ "$when" = after ]; then
			problems="$problems $f ($when the clear): get exit $grc;"
		fi
	done < <(cat acked.* 2>/dev/null | awk '{ f[$1] = $2
		if ($3 == "after" || !($1 in w)) w[$1] = $3 }
		END { for (d in f) print d, f[d], w[d] }')
	if [ -n "$problems" ]; then
		bad_rounds=$((bad_rounds + 1))
		echo "# round $round:$problems"
	fi
done
assert_eq "clear_race__all_rounds_clean" "0 of $ROUNDS" "$bad_rounds of $ROUNDS"

# Hits racing clears: each run is a hit or a plain miss that recomputes,
# never "cached entry ... is corrupt" (issue 8), and its outputs are
# right. Two outputs, the first large: a clear that lands while the first
# is restored takes the second's blob after the lookup found it.
fresh_store
head -c 4000000 /dev/urandom >stage.in
head -c 150000 /dev/urandom >stage2.in
STAGE=("$ARCA" run --stage copy --in stage.in --in stage2.in --out stage.out
	--out stage2.out -- sh -c 'cp stage.in stage.out; cp stage2.in stage2.out')
hit_problems=
hits=0 misses=0
for i in $(seq 1 30); do
	"${STAGE[@]}" >/dev/null 2>&1          # stored (again) after a clear
	"${STAGE[@]}" 2>run.err &
	run_pid=$!
	sleep 0.0$((RANDOM % 3))$((RANDOM % 10))
	"$ARCA" clear --all >/dev/null 2>&1
	wait $run_pid
	rc=$?
	[ $rc -eq 0 ] || hit_problems="$hit_problems run $i exit $rc;"
	grep -q corrupt run.err && hit_problems="$hit_problems run $i: $(tr '\n' ' ' <run.err);"
	if grep -q "arca: hit" run.err; then hits=$((hits + 1)); else misses=$((misses + 1)); fi
	cmp -s stage.in stage.out && cmp -s stage2.in stage2.out ||
		hit_problems="$hit_problems run $i: wrong output;"
done
echo "# hits racing clears: $hits hits, $misses misses"
assert_eq "clear_race__hits_are_hits_or_misses" "" "$hit_problems"
# Time is reported, not asserted: a loaded machine (or ASan) is slower.
echo "# $ROUNDS rounds in $(( $(date +%s) - start )) s"

finish
