#!/usr/bin/env bash
# The DER scorer (examples/transcribe/der) on hand-made RTTM pairs whose
# diarization error rate is worked out by hand in the comments: identity,
# swapped labels, confusion, missed speech, false alarm, an extra hypothesis
# speaker, overlapping reference speech, an empty hypothesis, a mapping the
# greedy choice gets wrong; each with and without the 0.25 s collar where
# it matters. And its bad input: one line, status 2.
src=${ARCA_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
. "${ARCA_TEST_LIB:-$src/tests/lib.sh}" || exit 2

der=$src/examples/transcribe/der
/usr/bin/python3 -c 'import numpy, scipy' 2>/dev/null ||
	{ echo "needs python3-numpy and python3-scipy (scripts/bootstrap)" >&2; exit 2; }

# rttm FILE "speaker start duration" ...
rttm() {
	local f=$1 t
	shift
	: >"$f"
	for t in "$@"; do
		set -- $t
		printf 'SPEAKER f 1 %s %s <NA> <NA> %s <NA> <NA>\n' "$2" "$3" "$1" >>"$f"
	done
}
# expect NAME REF HYP COLLAR PERCENT: der prints "DER PERCENT% ..."
expect() {
	run "$der" "$2" "$3" --collar "$4"
	check_rc "der__$1_exit_0" 0
	assert_eq "der__$1" "DER $5%" "$(printf '%s\n' "$OUT" | awk '{ print $1, $2 }')"
}

rttm ab.rttm "A 0 10" "B 10 10"
# Identical: nothing wrong.
expect identical ab.rttm ab.rttm 0 0.00
# The same turns under other names: the mapping finds them.
rttm xy.rttm "Y 0 10" "X 10 10"
expect swapped_labels ab.rttm xy.rttm 0 0.00
expect swapped_labels_collar ab.rttm xy.rttm 0.25 0.00

# A 0-10, B 10-15; one hypothesis speaker throughout: B's 5 s are confused,
# 5 / 15 = 33.33%. With the collar, [0, 0.25], [9.75, 10.25] and
# [14.75, 15] are not scored: 14 s of reference, 4.5 s of B: 32.14%.
rttm ab15.rttm "A 0 10" "B 10 5"
rttm x15.rttm "X 0 15"
expect confusion ab15.rttm x15.rttm 0 33.33
expect confusion_collar ab15.rttm x15.rttm 0.25 32.14

# A 0-10; hypothesis 0-6: 4 s missed, 40%. Collar: 9.5 s scored, missed
# 6-9.75 = 3.75 s: 39.47%.
rttm a10.rttm "A 0 10"
rttm a6.rttm "A 0 6"
expect missed a10.rttm a6.rttm 0 40.00
expect missed_collar a10.rttm a6.rttm 0.25 39.47

# A 0-10; hypothesis 0-12: 2 s false alarm, 20%. Collar: 10.25-12 = 1.75 s
# of 9.5 s: 18.42%.
rttm a12.rttm "A 0 12"
expect false_alarm a10.rttm a12.rttm 0 20.00
expect false_alarm_collar a10.rttm a12.rttm 0.25 18.42

# A 0-10, B 10-20; hypothesis X 0-10, Y 10-16, Z 16-20: Z is unmapped, its
# 4 s are confusion, 20%.
rttm xyz.rttm "X 0 10" "Y 10 6" "Z 16 4"
expect extra_speaker ab.rttm xyz.rttm 0 20.00

# Overlapping reference: A 0-10 and B 5-10 (15 s of reference speech);
# one hypothesis speaker 0-10: 5 s missed (two talk, one found), 33.33%.
rttm overlap.rttm "A 0 10" "B 5 5"
rttm x10.rttm "X 0 10"
expect overlap overlap.rttm x10.rttm 0 33.33

# Nothing hypothesised: all missed.
: >empty.rttm
expect empty_hypothesis a10.rttm empty.rttm 0 100.00

# A 0-10, B 10-16; X talks 0-6 and 10-16, Y 6-10. Overlaps: A-X 6, A-Y 4,
# B-X 6. The best one-to-one mapping is A-Y, B-X (10 s correct), not A-X
# (6 s): confusion 16 - 10 = 6 s, 37.50%.
rttm ab16.rttm "A 0 10" "B 10 6"
rttm greedy.rttm "X 0 6" "Y 6 4" "X 10 6"
expect hungarian ab16.rttm greedy.rttm 0 37.50

# The parts are printed too.
run "$der" ab15.rttm x15.rttm --collar 0
assert_contains "der__parts" "$OUT" "missed 0.00 s, false alarm 0.00 s, confusion 5.00 s, of 15.00 s"
# The default collar is 0.25 s.
run "$der" ab15.rttm x15.rttm
assert_contains "der__default_collar" "$OUT" "DER 32.14% (collar 0.25 s)"

# --max: exit 1 above the limit, 0 at or below it.
run "$der" ab15.rttm x15.rttm --collar 0 --max 33
check_rc "der__max_above_exit_1" 1
run "$der" ab15.rttm x15.rttm --collar 0 --max 34
check_rc "der__max_below_exit_0" 0

# Bad input: one line on stderr, status 2, no traceback.
bad() {
	local name=$1
	shift
	run "$der" "$@"
	check_rc "der__bad_${name}_exit_2" 2
	assert_eq "der__bad_${name}_one_line" 1 "$(printf '%s\n' "$ERR" | wc -l | tr -d ' ')"
	assert_not_contains "der__bad_${name}_no_traceback" "$ERR" "Traceback"
}
bad missing_file no-such.rttm a10.rttm
bad empty_reference empty.rttm a10.rttm
printf 'SPEAKER f 1 zero 1 <NA> <NA> A <NA> <NA>\n' >nan.rttm
bad not_a_number nan.rttm a10.rttm
printf 'SPEAKER f 1 0 1\n' >short.rttm
bad short_line a10.rttm short.rttm
bad one_argument a10.rttm
bad bad_collar a10.rttm a10.rttm --collar x

finish
