#!/usr/bin/env bash
# How a hit materialises its outputs (link: auto, reflink, copy, hardlink,
# symlink): bytes and mode bits, a corrupt blob never materialised, links
# into the store read-only, a mode the file system cannot do (fallback or
# error), reflinks on a loop-mounted XFS image, and an output that already
# holds the recorded bytes left alone.
. "${ARCA_TEST_LIB:-$(dirname "$0")/../lib.sh}" || exit 2

MOUNTS=()
cleanup_link() {
	local m
	for m in "${MOUNTS[@]}"; do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
	done
	cleanup_test_tmp
}
trap cleanup_link EXIT

# 300 KB: above the inline threshold, so the output is a file blob.
head -c 300000 /dev/urandom >in.bin
arun() { run timeout 60 "$ARCA" run -v "$@"; }
# The stage: counts its runs, makes out.bin mode 750.
stage() {
	arun "$@" --in in.bin --out out.bin -- \
		sh -c 'echo run >>"$0"; cp in.bin out.bin; chmod 750 out.bin' "$PWD/count"
}
runs() { if [ -f count ]; then wc -l <count | tr -d ' '; else echo 0; fi; }
digest() { sha256sum "$1" | cut -c1-64; }
inode() { stat -L -c %i "$1"; }
DIGEST=$(digest in.bin)

# ---- copy (auto on a file system without reflinks) ------------------------
stage
check_rc "link__miss" 0
assert_eq "link__miss_ran" 1 "$(runs)"
BLOB=$(blob_file "$DIGEST")
assert_eq "link__blob_is_file" "$ARCA_DIR/blobs/${DIGEST:0:2}/$DIGEST" "$BLOB"
rm out.bin
stage
check_rc "link__auto_hit" 0
assert_eq "link__auto_hit_not_run" 1 "$(runs)"
assert_files_eq "link__auto_bytes" in.bin out.bin
assert_eq "link__auto_mode" 750 "$(stat -c %a out.bin)"
case "$ERR" in
*"restored out.bin of in.bin: reflink"*|*"restored out.bin of sh: reflink"*)
	pass "link__auto_says_how" ;;
*"restored out.bin of sh: copy (reflink not supported here)"*)
	pass "link__auto_says_how" ;;
*) fail "link__auto_says_how" "stderr: $ERR" ;;
esac
assert_eq "link__auto_own_inode" 1 "$(stat -c %h out.bin)"

# Without -v, no line per output.
rm out.bin
run "$ARCA" run --in in.bin --out out.bin -- \
	sh -c 'echo run >>"$0"; cp in.bin out.bin; chmod 750 out.bin' "$PWD/count"
assert_not_contains "link__quiet_without_v" "$ERR" "restored out.bin"

# copy: the kernel's copy, then read and write where it cannot.
rm out.bin
stage --link copy
assert_contains "link__copy_says" "$ERR" "restored out.bin of sh: copy"
assert_not_contains "link__copy_no_fallback_note" "$ERR" "reflink not supported"
assert_files_eq "link__copy_bytes" in.bin out.bin
assert_eq "link__copy_mode" 750 "$(stat -c %a out.bin)"
rm out.bin
ARCA_NO_COPY_FILE_RANGE=1 stage --link copy
assert_files_eq "link__copy_rw_bytes" in.bin out.bin
# A miss does not hold the store's file: the output is a file of its own.
echo more >>out.bin
assert_eq "link__copy_edit_keeps_store" "$DIGEST" "$(digest "$BLOB")"

# ---- an output already in place is left alone ------------------------------
rm out.bin
stage --link copy
INO=$(inode out.bin)
MTIME=$(stat -c %Y.%y out.bin)
stage
check_rc "link__unchanged_hit" 0
assert_contains "link__unchanged_says" "$ERR" "restored out.bin of sh: unchanged"
assert_eq "link__unchanged_inode" "$INO" "$(inode out.bin)"
assert_eq "link__unchanged_mtime" "$MTIME" "$(stat -c %Y.%y out.bin)"
assert_eq "link__unchanged_not_run" 1 "$(runs)"
# Same size, other bytes: restored.
corrupt_file out.bin 10
stage
assert_contains "link__edited_restored" "$ERR" "restored out.bin of sh: copy"
assert_files_eq "link__edited_bytes" in.bin out.bin
# Other mode bits: restored with the recorded ones.
chmod 700 out.bin
stage
assert_not_contains "link__mode_restored" "$ERR" "unchanged"
assert_eq "link__mode_restored_bits" 750 "$(stat -c %a out.bin)"

# ---- a corrupt blob file is never materialised ----------------------------
for mode in copy auto hardlink symlink; do
	rm -f out.bin
	chmod u+w "$BLOB"
	corrupt_file "$BLOB"
	chmod 444 "$BLOB"
	before=$(runs)
	stage --link "$mode"
	check_rc "link__corrupt_${mode}_rc" 0
	assert_contains "link__corrupt_${mode}_said" "$ERR" "is corrupt; recomputing"
	assert_eq "link__corrupt_${mode}_recomputed" $((before + 1)) "$(runs)"
	assert_files_eq "link__corrupt_${mode}_bytes" in.bin out.bin
	assert_eq "link__corrupt_${mode}_quarantined" 1 \
		"$(ls "$ARCA_DIR/quarantine/" | grep -c "^$DIGEST")"
	rm -f "$ARCA_DIR/quarantine/$DIGEST"
	BLOB=$(blob_file "$DIGEST")
	assert_eq "link__corrupt_${mode}_stored_again" "$DIGEST" "$(digest "$BLOB")"
done
run "$ARCA" stats --json
assert_contains "link__corrupt_counted" "$OUT" '"errors": 4'

# ---- hardlink ---------------------------------------------------------------
rm out.bin
stage --link hardlink
check_rc "link__hardlink_hit" 0
assert_contains "link__hardlink_says" "$ERR" "restored out.bin of sh: hardlink"
assert_eq "link__hardlink_same_inode" "$(inode "$BLOB")" "$(inode out.bin)"
assert_eq "link__hardlink_read_only" 444 "$(stat -c %a out.bin)"
assert_files_eq "link__hardlink_bytes" in.bin out.bin
if [ "$(id -u)" -ne 0 ]; then
	check_fails "link__hardlink_edit_refused" sh -c 'echo x >>out.bin'
fi
# Unchanged: the output is the store's file.
stage --link hardlink
assert_contains "link__hardlink_unchanged" "$ERR" "restored out.bin of sh: unchanged"
# Removing the output leaves the store's file.
rm out.bin
assert_eq "link__hardlink_rm_keeps_store" "$DIGEST" "$(digest "$BLOB")"
# A hardlinked output under auto: replaced by a file of its own.
stage --link hardlink
stage
assert_eq "link__hardlink_then_auto_own_file" 1 "$(stat -c %h out.bin)"
assert_eq "link__hardlink_then_auto_mode" 750 "$(stat -c %a out.bin)"

# ---- symlink ----------------------------------------------------------------
rm out.bin
stage --link symlink
assert_contains "link__symlink_says" "$ERR" "restored out.bin of sh: symlink"
assert_eq "link__symlink_target" "$(realpath "$BLOB")" "$(readlink out.bin)"
assert_files_eq "link__symlink_bytes" in.bin out.bin
stage --link symlink
assert_contains "link__symlink_unchanged" "$ERR" "restored out.bin of sh: unchanged"
stage --link copy
if [ ! -L out.bin ]; then pass "link__symlink_then_copy_file"; else
	fail "link__symlink_then_copy_file" "out.bin is still a link"; fi

# ---- where the setting comes from --------------------------------------------
rm out.bin
ARCA_LINK=hardlink stage
assert_eq "link__env" "$(inode "$BLOB")" "$(inode out.bin)"
rm out.bin
printf 'link: symlink\n' >"$ARCA_DIR/config.yaml"
stage
assert_contains "link__config" "$ERR" "restored out.bin of sh: symlink"
rm out.bin
ARCA_LINK=hardlink stage
assert_contains "link__env_over_config" "$ERR" "restored out.bin of sh: hardlink"
rm out.bin
ARCA_LINK=hardlink stage --link copy
assert_contains "link__flag_over_env" "$ERR" "restored out.bin of sh: copy"
printf 'link: sometimes\n' >"$ARCA_DIR/config.yaml"
stage
check_rc "link__config_bad_rc" 2
assert_contains "link__config_bad" "$ERR" "config.yaml:1: link 'sometimes': expected auto, reflink, copy, hardlink or symlink"
rm "$ARCA_DIR/config.yaml"
ARCA_LINK=bogus stage
check_rc "link__env_bad_rc" 2
assert_contains "link__env_bad" "$ERR" "ARCA_LINK='bogus'"
stage --link bogus
check_rc "link__flag_bad_rc" 125
assert_contains "link__flag_bad" "$ERR" "--link 'bogus': expected auto, reflink, copy, hardlink or symlink"

# ---- per stage in a pipeline --------------------------------------------------
cat >arca.yaml <<'EOF'
stages:
  make:
    cmd: echo run >>count; cp in.bin made.bin
    deps: [in.bin]
    outs: [made.bin]
    link: hardlink
EOF
check "link__repro_miss" timeout 60 "$ARCA" repro
rm made.bin
run timeout 60 "$ARCA" repro -v --link copy
check_rc "link__repro_hit" 0
assert_contains "link__repro_says" "$ERR" "restored made.bin of make: hardlink"
assert_eq "link__repro_stage_link" "$(inode "$BLOB")" "$(inode made.bin)"
sed -i 's/link: hardlink/link: often/' arca.yaml
run timeout 60 "$ARCA" repro
check_rc "link__repro_bad_rc" 2
assert_contains "link__repro_bad" "$ERR" "arca.yaml:6: 'link' of stage 'make' 'often': expected auto, reflink, copy, hardlink or symlink"
rm arca.yaml made.bin

# ---- another file system: tmpfs ----------------------------------------------
OTHER=
if [ "$(id -u)" -eq 0 ] && mkdir -p "$TEST_TMP/tmpfs" &&
   mount -t tmpfs -o size=16m tmpfs "$TEST_TMP/tmpfs" 2>/dev/null; then
	MOUNTS+=("$TEST_TMP/tmpfs")
	OTHER="$TEST_TMP/tmpfs/work"
elif [ -d /dev/shm ] && [ "$(stat -c %d /dev/shm)" != "$(stat -c %d "$TEST_TMP")" ]; then
	OTHER=$(mktemp -d /dev/shm/arca-test.XXXXXX)
	trap 'rm -rf "$OTHER"; cleanup_link' EXIT
fi
if [ -z "$OTHER" ]; then
	echo "SKIP - link across file systems: no tmpfs on another device"
else
	mkdir -p "$OTHER"
	cp in.bin "$OTHER/in.bin"
	cd "$OTHER" || exit 2
	stage
	rm out.bin
	stage
	check_rc "link__tmpfs_auto_rc" 0
	assert_contains "link__tmpfs_auto_copy" "$ERR" \
		"restored out.bin of sh: copy (reflink not supported here)"
	assert_files_eq "link__tmpfs_bytes" in.bin out.bin
	assert_eq "link__tmpfs_mode" 750 "$(stat -c %a out.bin)"
	rm out.bin
	stage --link hardlink
	check_rc "link__tmpfs_hardlink_refused_rc" 125
	assert_contains "link__tmpfs_hardlink_refused" "$ERR" \
		"output 'out.bin': link hardlink: not possible here (the store is on another file system); use link: copy or auto"
	if [ ! -e out.bin ]; then pass "link__tmpfs_hardlink_nothing_left"; else
		fail "link__tmpfs_hardlink_nothing_left" "out.bin exists"; fi
	assert_eq "link__tmpfs_hardlink_no_temp" "" "$(ls -A | grep arca- || true)"
	stage --link reflink
	check_rc "link__tmpfs_reflink_refused_rc" 125
	assert_contains "link__tmpfs_reflink_refused" "$ERR" \
		"output 'out.bin': link reflink: not possible here"
	# A symlink crosses file systems.
	stage --link symlink
	check_rc "link__tmpfs_symlink_rc" 0
	assert_eq "link__tmpfs_symlink" "$(realpath "$BLOB")" "$(readlink out.bin)"
	rm -f out.bin
	cd "$TEST_TMP/work" || exit 2
fi

# ---- reflink on XFS -------------------------------------------------------------
XFS="$TEST_TMP/xfs"
if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP - reflink on XFS: needs root to mount a loop image"
elif ! command -v mkfs.xfs >/dev/null; then
	echo "SKIP - reflink on XFS: no mkfs.xfs (xfsprogs)"
elif ! { truncate -s 300M "$TEST_TMP/xfs.img" &&
	 mkfs.xfs -q -f "$TEST_TMP/xfs.img" &&
	 mkdir -p "$XFS" &&
	 mount -o loop "$TEST_TMP/xfs.img" "$XFS"; } >"$TEST_TMP/xfs.err" 2>&1; then
	echo "SKIP - reflink on XFS: cannot mount an image: $(tr -s '\n' ' ' <"$TEST_TMP/xfs.err")"
else
	MOUNTS+=("$XFS")
	fresh_store
	export ARCA_DIR="$XFS/store"
	mkdir -p "$XFS/work"
	head -c 8000000 /dev/urandom >"$XFS/work/in.bin"
	cd "$XFS/work" || exit 2
	stage
	XBLOB=$(blob_file "$(digest in.bin)")
	rm out.bin
	sync
	used_before=$(df -k --output=used "$XFS" | tail -1)
	stage
	check_rc "link__xfs_hit" 0
	assert_contains "link__xfs_reflink" "$ERR" "restored out.bin of sh: reflink"
	assert_files_eq "link__xfs_bytes" in.bin out.bin
	assert_eq "link__xfs_mode" 750 "$(stat -c %a out.bin)"
	assert_eq "link__xfs_own_inode" 1 "$(stat -c %h out.bin)"
	# Shared extents: the output's first extent starts where the blob's
	# does, and the file system did not grow by the file's size.
	first_extent() { xfs_io -r -c 'fiemap' "$1" | awk 'NR==2 {print $3}'; }
	assert_eq "link__xfs_shared_extent" "$(first_extent "$XBLOB")" "$(first_extent out.bin)"
	sync
	used_after=$(df -k --output=used "$XFS" | tail -1)
	if [ $((used_after - used_before)) -lt 4000 ]; then
		pass "link__xfs_no_new_space"
	else
		fail "link__xfs_no_new_space" "used grew by $((used_after - used_before)) KiB"
	fi
	# Writing the clone copies on write: the store's file is untouched.
	chmod u+w out.bin
	corrupt_file out.bin 100
	assert_eq "link__xfs_edit_keeps_store" "$(digest in.bin)" "$(digest "$XBLOB")"
	rm out.bin
	stage --link reflink
	check_rc "link__xfs_demanded" 0
	assert_contains "link__xfs_demanded_says" "$ERR" "restored out.bin of sh: reflink"
	rm out.bin
	ARCA_NO_REFLINK=1 stage
	assert_contains "link__xfs_no_reflink_falls_back" "$ERR" "copy (reflink not supported here)"
	cd "$TEST_TMP/work" || exit 2
fi

finish
