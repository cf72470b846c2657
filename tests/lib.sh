# tests/lib.sh — a small helper for the shell tests in tests/cli/.
#
# Source it first thing:   . "${ARCA_TEST_LIB:-$(dirname "$0")/../lib.sh}"
# It needs ARCA (the arca binary). It makes a temp dir, removed on exit,
# with a fresh store ($ARCA_DIR) and a work dir (the cwd), and provides:
#
#   run CMD...                 run CMD; sets RC, OUT (stdout), ERR (stderr)
#                              and the files $OUT_FILE, $ERR_FILE
#   check NAME CMD...          pass when CMD exits 0
#   check_fails NAME CMD...    pass when CMD exits non-zero
#   check_rc NAME CODE         pass when the last `run` exited CODE
#   assert_eq NAME WANT GOT    pass when the strings are equal
#   assert_contains NAME HAYSTACK NEEDLE / assert_not_contains ...
#   assert_files_eq NAME A B   pass when the files are byte-identical
#   fresh_store                point ARCA_DIR at a new, empty store
#   corrupt_file FILE [OFF]    flip one byte of FILE (default: the middle)
#   mount_tmpfs SIZE           mount a SIZE tmpfs (e.g. 4m) at $MNT, unmounted
#                              on exit; SKIP the test when it cannot (not root)
#   finish                     print "N passed, N failed"; exit 1 on failure
#
# Each check prints "ok - NAME" or "FAIL - NAME" with the details.

set -u

if [ -z "${ARCA:-}" ]; then
	echo "lib.sh: set ARCA to the arca binary" >&2
	exit 2
fi
case "$ARCA" in
/*) ;;
*) ARCA="$PWD/$ARCA" ;;
esac
if [ ! -x "$ARCA" ]; then
	echo "lib.sh: $ARCA is not executable" >&2
	exit 2
fi
export ARCA

TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/arca-test.XXXXXX") || exit 2
cleanup_test_tmp() {
	chmod -R u+rwX "$TEST_TMP" 2>/dev/null
	rm -rf "$TEST_TMP"
}
trap cleanup_test_tmp EXIT

OUT_FILE="$TEST_TMP/stdout"
ERR_FILE="$TEST_TMP/stderr"
PASSED=0
FAILED=0
STORE_SEQ=0
RC=0
OUT=
ERR=

fresh_store() {
	STORE_SEQ=$((STORE_SEQ + 1))
	ARCA_DIR="$TEST_TMP/store$STORE_SEQ"
	export ARCA_DIR
}

fresh_store
mkdir -p "$TEST_TMP/work"
cd "$TEST_TMP/work" || exit 2

# Keep the caller's environment from leaking into keys.
unset XDG_CACHE_HOME
# And its stdin: `arca run` does not cache a command whose stdin is a
# pipe or a file it was not told about (--stdin-in), so tests read
# /dev/null unless they pipe into arca themselves.
exec </dev/null

pass() {
	PASSED=$((PASSED + 1))
	echo "ok - $1"
}

fail() {
	FAILED=$((FAILED + 1))
	echo "FAIL - $1"
	shift
	for line in "$@"; do
		printf '    %s\n' "$line"
	done
}

run() {
	"$@" >"$OUT_FILE" 2>"$ERR_FILE"
	RC=$?
	OUT=$(cat "$OUT_FILE")
	ERR=$(cat "$ERR_FILE")
	return 0
}

check() {
	local name=$1
	shift
	run "$@"
	if [ "$RC" -eq 0 ]; then
		pass "$name"
	else
		fail "$name" "command: $*" "exit: $RC" "stderr: $ERR"
	fi
}

check_fails() {
	local name=$1
	shift
	run "$@"
	if [ "$RC" -ne 0 ]; then
		pass "$name"
	else
		fail "$name" "command: $*" "exit 0, expected a failure" "stdout: $OUT"
	fi
}

check_rc() {
	if [ "$RC" -eq "$2" ]; then
		pass "$1"
	else
		fail "$1" "exit: $RC, expected $2" "stdout: $OUT" "stderr: $ERR"
	fi
}

assert_eq() {
	if [ "$2" = "$3" ]; then
		pass "$1"
	else
		fail "$1" "expected: $2" "got:      $3"
	fi
}

assert_contains() {
	case "$2" in
	*"$3"*) pass "$1" ;;
	*) fail "$1" "expected to contain: $3" "got: $2" ;;
	esac
}

assert_not_contains() {
	case "$2" in
	*"$3"*) fail "$1" "expected NOT to contain: $3" "got: $2" ;;
	*) pass "$1" ;;
	esac
}

assert_files_eq() {
	if [ -f "$2" ] && [ -f "$3" ] && cmp -s "$2" "$3"; then
		pass "$1"
	else
		fail "$1" "files differ or are missing: $2 $3"
	fi
}

# Flip one byte of FILE (at OFF, default the middle), in place.
corrupt_file() {
	python3 - "$1" "${2:-}" <<'EOF'
import os, sys
path, off = sys.argv[1], sys.argv[2]
size = os.path.getsize(path)
off = int(off) if off else size // 2
with open(path, "r+b") as f:
    f.seek(off)
    b = f.read(1)
    f.seek(off)
    f.write(bytes([b[0] ^ 0xFF]))
EOF
}

# The one blob file of a digest in the current store (empty if inline).
blob_file() {
	local f="$ARCA_DIR/blobs/$(printf '%s' "$1" | cut -c1-2)/$1"
	[ -f "$f" ] && printf '%s\n' "$f"
}

# Is this JSON? (python3's parser, so nothing needs installing.)
is_json() {
	python3 -c 'import json, sys; json.load(sys.stdin)'
}

# A small file system of its own (a full disk, a read-only one): a tmpfs
# of SIZE at $MNT ($TEST_TMP/tmpfs). Mounting needs root: without it the
# whole test is skipped (exit 0), as ctest cannot mount one either.
mount_tmpfs() {
	MNT="$TEST_TMP/tmpfs"
	mkdir -p "$MNT"
	if ! mount -t tmpfs -o size="$1" tmpfs "$MNT" 2>"$TEST_TMP/mount.err"; then
		echo "SKIP - cannot mount a tmpfs (needs root): $(tr -s "\n" " " <"$TEST_TMP/mount.err")"
		echo "0 passed, 0 failed, 1 skipped"
		exit 0
	fi
	trap cleanup_tmpfs EXIT
}

cleanup_tmpfs() {
	umount "$MNT" 2>/dev/null || umount -l "$MNT"
	cleanup_test_tmp
}

finish() {
	echo "$PASSED passed, $FAILED failed"
	[ "$FAILED" -eq 0 ]
	exit $?
}
