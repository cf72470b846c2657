#!/bin/bash
# Durability under simulated power cuts (tests/crash/README.md): record
# the file-system operations of crash_writer on a fresh store with the
# LD_PRELOAD recorder, build the crash states a power cut allows, and
# check each with crash_check: the store opens, verify is clean, what was
# acknowledged and durable reads back byte-exact, nothing reads back wrong.
#
# ARCA_CRASH_STATES (default 300) bounds the states; ARCA_CRASH_SEED
# replays the random ones; ARCA_CRASH_KEEP=DIR keeps failed states there. Needs ARCA_CRASH_RECORDER, ARCA_CRASH_WRITER,
# ARCA_CRASH_CHECK (set by CMake) and /usr/bin/python3.
. "${ARCA_TEST_LIB:-$(dirname "$0")/../lib.sh}" || exit 2

here=${ARCA_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/crash
python=${PYTHON:-/usr/bin/python3}
[ -x "$python" ] || python=python3
for v in ARCA_CRASH_RECORDER ARCA_CRASH_WRITER ARCA_CRASH_CHECK; do
	if [ -z "${!v:-}" ] || [ ! -e "${!v}" ]; then
		echo "test_powercut: set $v (CMake does)" >&2
		exit 2
	fi
done

rec=$TEST_TMP/rec
mkdir -p "$rec/store" "$rec/scratch"
: >"$rec/acks"

# An ASan build: its runtime must come first in the link order, and the
# recorder (not instrumented) is preloaded before it; tell ASan so.
preload=$ARCA_CRASH_RECORDER
if ldd "$ARCA_CRASH_WRITER" 2>/dev/null | grep -q libasan; then
	export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
fi

run env ARCA_CRASH_ROOT="$rec/store" ARCA_CRASH_TRACE="$rec/trace" \
	ARCA_CRASH_DATA="$rec/data" ARCA_CRASH_ACKS="$rec/acks" \
	LD_PRELOAD="$preload" \
	"$ARCA_CRASH_WRITER" "$rec/store" "$rec/acks" "$rec/scratch"
if [ "$RC" -ne 0 ] && grep -qi "asan\|AddressSanitizer" "$ERR_FILE"; then
	echo "SKIP - the writer does not run with an LD_PRELOAD recorder under" \
		"AddressSanitizer here: $(head -n 3 "$ERR_FILE" | tr '\n' ' ')"
	finish
fi
check_rc "the writer runs under the recorder" 0
n_acks=$(wc -l <"$rec/acks")
n_traced=$(grep -c '^ACK' "$rec/trace" 2>/dev/null || echo 0)
assert_eq "every acknowledgement is in the trace" "$n_acks" "$n_traced"
check "the writer's store verifies clean" "$ARCA" --store "$rec/store" verify

work=${ARCA_CRASH_KEEP:-$TEST_TMP/states}
seed=()
[ -n "${ARCA_CRASH_SEED:-}" ] && seed=(--seed "$ARCA_CRASH_SEED")
"$python" "$here/crash_states.py" --trace "$rec/trace" --data "$rec/data" \
	--root "$rec/store" --checker "$ARCA_CRASH_CHECK" --work "$work" \
	--states "${ARCA_CRASH_STATES:-300}" "${seed[@]}" | tee "$TEST_TMP/states.log"
rc=${PIPESTATUS[0]}
if [ "$rc" -eq 0 ]; then
	pass "every crash state opens, verifies clean and keeps what was durable"
else
	fail "crash states" "$(grep -c '^FAIL' "$TEST_TMP/states.log") failures above" \
		"(ARCA_CRASH_KEEP=DIR keeps the first failed states in DIR)"
fi
finish
