#!/bin/bash
# The disk, not only the limit (issue 8; bazel-remote issue #712: "no space
# left on device" although max_size was set). The store on an 8 MiB tmpfs
# (mounted here; needs root), with no max_size that the disk could hold:
#  1. puts of the store's own blobs never fill the disk: the effective
#     limit (usage + free - disk_reserve) makes eviction keep it under;
#  2. a truly full disk (disk_reserve 0, puts until one fails, the last
#     bytes taken by a file outside the store): a put of content already
#     stored succeeds, and rm, clear --stage, gc, limit and clear --all
#     each succeed with arca alone, by giving up the reserve file
#     (DIR/reserve); the store verifies clean and works again.
. "${ARCA_TEST_LIB:-$(dirname "$0")/../lib.sh}" || exit 2

mount_tmpfs 8m

ARCA_DIR="$MNT/store"
export ARCA_DIR
unset ARCA_MAX_SIZE ARCA_DISK_RESERVE
FILLER="$MNT/filler"    # outside the store, on its file system

free_bytes() { echo $(($(stat -f -c '%a * %S' "$MNT"))); }
digest() { sha256sum "$1" | cut -c1-64; }
# Distinct random 256 KiB files (file blobs).
make_file() { head -c 262144 /dev/urandom >"$1"; }
n_actions() { "$ARCA" ls ${1:+--stage "$1"} | grep -cE '^[0-9a-f]{12} '; }
# COUNT puts of distinct random files of BYTES (PREFIX1, PREFIX2, ...),
# stopping at the first that fails: $failed is its number (0: none),
# $min_free the least free bytes seen on the tmpfs after a put.
puts_watching_free() {
	local i f
	failed=0
	min_free=$(free_bytes)
	for i in $(seq 1 "$1"); do
		head -c "$2" /dev/urandom >"$3$i"
		run "$ARCA" put "$3$i"
		f=$(free_bytes)
		[ "$f" -lt "$min_free" ] && min_free=$f
		if [ "$RC" -ne 0 ]; then
			failed=$i
			break
		fi
	done
}
check_never_full() {
	if [ "$min_free" -gt 0 ]; then
		pass "$1 (least free: $min_free bytes)"
	else
		fail "$1" "least free: $min_free bytes"
	fi
}

run "$ARCA" info
check_rc "the store opens on the tmpfs" 0
check "the store keeps a preallocated reserve file" test -s "$ARCA_DIR/reserve"
run "$ARCA" info
assert_contains "... which info shows" "$OUT" "reserve file:      1.0 MiB"

# 1. 40 puts of 256 KiB (10 MiB) into 8 MiB: every one succeeds and the
# disk never fills, because eviction keeps the store under the effective
# limit.
puts_watching_free 40 262144 p
assert_eq "40 puts of 10 MiB into an 8 MiB tmpfs all succeed" 0 "$failed"
check_never_full "the disk never reached 100%"
run "$ARCA" get "$(digest p1)" -o got
check_rc "the oldest blob was evicted (a miss, exit 3)" 3
run "$ARCA" get "$(digest p40)" -o got
check_rc "the newest blob is there" 0
assert_files_eq "... byte-exact" p40 got
run "$ARCA" limit
assert_contains "limit reports the disk's limit, not 10 GiB" "$OUT" "(the disk:"

# 2. Actions to remove: stage rmme (arca rm), stage gone (clear --stage),
# stage ttl (expired, for gc), stage keep.
cat >stage.sh <<'EOF'
#!/bin/sh
head -c 200000 /dev/urandom >out.bin
EOF
chmod +x stage.sh
for s in rmme gone gone ttl keep keep; do
	extra=
	[ "$s" = ttl ] && extra="--ttl 1s"
	run "$ARCA" run --stage "$s" --param "n=$RANDOM$RANDOM" $extra \
		--out out.bin -- ./stage.sh
	[ "$RC" -eq 0 ] || fail "run --stage $s" "exit $RC" "stderr: $ERR"
done
assert_eq "six actions stored" 6 "$(n_actions)"
rmkey=$("$ARCA" ls --stage rmme | grep -oE '^[0-9a-f]{12}')

# Fill the disk with the store's own blobs, no disk check: puts until one
# fails.
full_rc=0
for i in $(seq 41 80); do
	make_file "p$i"
	ARCA_DISK_RESERVE=0 run "$ARCA" put "p$i"
	if [ "$RC" -ne 0 ]; then
		full_rc=$RC
		break
	fi
	last=$i
done
assert_eq "with disk_reserve 0 a put fails once the disk is full" 5 "$full_rc"
sleep 1   # the ttl action expires

# Make the disk truly full for the next command: the reserve file in place
# (any open re-creates it when there is room) and not a byte free.
make_full() {
	rm -f "$FILLER"
	"$ARCA" info >/dev/null 2>&1
	dd if=/dev/zero of="$FILLER" bs=4k 2>/dev/null
	dd if=/dev/zero of="$FILLER" bs=512 oflag=append conv=notrunc 2>/dev/null
	if [ "$(free_bytes)" -ne 0 ] || [ ! -s "$ARCA_DIR/reserve" ]; then
		fail "the disk is full, the reserve file in place ($1)" \
			"free: $(free_bytes)" "$(ls -l "$ARCA_DIR")"
	fi
}

make_full "new put"
make_file new
run "$ARCA" put new
check_rc "on the full disk a put of new content fails, exit 5" 5
ARCA_DISK_RESERVE=0 run "$ARCA" put "p$last"
check_rc "on the full disk a put of content already stored succeeds" 0
assert_eq "... and names its digest" "$(digest "p$last")" "$OUT"

make_full rm
run "$ARCA" rm "$rmkey"
check_rc "on the full disk arca rm KEY succeeds" 0
assert_eq "... the action is gone" 0 "$(n_actions rmme)"

make_full "clear --stage"
run "$ARCA" clear --stage gone
check_rc "on the full disk arca clear --stage succeeds" 0
assert_eq "... the stage's actions are gone" 0 "$(n_actions gone)"

make_full gc
run "$ARCA" gc
check_rc "on the full disk arca gc succeeds" 0
assert_eq "... the expired action is gone" 0 "$(n_actions ttl)"

make_full limit
run "$ARCA" limit 1M
check_rc "on the full disk arca limit 1M succeeds" 0
run "$ARCA" limit
# The filler outside the store keeps the disk below its reserve, so the
# effective limit shown is the disk's; max_size is the one set.
assert_contains "... the limit is set" "$OUT" "max_size 1.0 MiB"
used=$("$ARCA" info --json 2>/dev/null | sed -n 's/.*"bytes_total": *\([0-9]*\).*/\1/p')
if [ -n "$used" ] && [ "$used" -le 1048576 ]; then
	pass "... and the store was evicted under it ($used bytes)"
else
	fail "... and the store was evicted under it" "bytes_total: $used"
fi

make_full "clear --all"
run "$ARCA" clear --all
check_rc "on the full disk arca clear --all succeeds" 0
check "... its blob files are gone" test -z "$(find "$ARCA_DIR/blobs" -type f)"

# 3. Space back (the file outside the store removed): clean and working.
rm -f "$FILLER"
run "$ARCA" verify
check_rc "the store verifies clean" 0
check "no temp file left in tmp/" test -z "$(ls -A "$ARCA_DIR/tmp")"
run "$ARCA" limit 0
make_file again
run "$ARCA" put again
check_rc "a put works again" 0
run "$ARCA" get "$(digest again)" -o got
check_rc "... and reads back" 0
assert_files_eq "... byte-exact" again got
run "$ARCA" info
assert_contains "the reserve file is back" "$OUT" "reserve file:      1.0 MiB"

# 4. Inline blobs (50 KiB, in index.db): evicting them frees pages inside
# index.db, not the file system's; counted as free, they keep the store
# from evicting itself empty once the disk is nearly full.
run "$ARCA" clear --all
puts_watching_free 80 51200 in
assert_eq "80 inline puts all succeed" 0 "$failed"
check_never_full "... the disk never reached 100%"
blobs=$("$ARCA" info --json 2>/dev/null | sed -n 's/.*"blobs": *\([0-9]*\).*/\1/p')
if [ -n "$blobs" ] && [ "$blobs" -ge 10 ]; then
	pass "... and the store is not evicted empty ($blobs blobs kept)"
else
	fail "... and the store is not evicted empty" "blobs: $blobs"
fi
run "$ARCA" get "$(digest in80)" -o got
check_rc "the newest inline blob reads back" 0
assert_files_eq "... byte-exact" in80 got

finish
