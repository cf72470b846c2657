#!/usr/bin/env bash
# arca serve as ccache's remote storage, with Debian's ccache 4.7
# unchanged (remote_storage http://HOST:PORT/PATH|layout=L, ccache's
# src/storage/remote/HttpStorage.cpp): for each of the layouts subdirs,
# flat and bazel, a generated C project of 20 files is built from an
# empty ccache directory (misses, stored on the server), then again from
# another empty ccache directory: every object is a remote hit, and the
# objects are byte-identical to the first build's.
SERVE_LIB=$(cd "$(dirname "$0")/.." && pwd)/serve_lib.sh
. "${ARCA_TEST_LIB:-$(dirname "$0")/../lib.sh}"
. "$SERVE_LIB"

if ! command -v ccache >/dev/null || ! command -v gcc >/dev/null; then
	fail "ccache_and_gcc_installed" "scripts/bootstrap installs ccache"
	finish
fi
N=20
mkdir -p proj
for i in $(seq 1 $N); do
	cat >"proj/f$i.c" <<EOC
/* generated file $i */
static const char tag$i[] = "file $i";
int f$i(int x) { return x * $i + (int)sizeof(tag$i) + $((i * 7)); }
EOC
done
: >"$TEST_TMP/ccache.conf"
stat_of() { # stat_of CCACHE_DIR NAME
	CCACHE_DIR=$1 CCACHE_CONFIGPATH="$TEST_TMP/ccache.conf" \
		ccache --print-stats | awk -v k="$2" '$1 == k { print $2 }'
}
build() { # build LAYOUT CCACHE_DIR OUTDIR
	local i ok=0
	mkdir -p "$3"
	for i in $(seq 1 $N); do
		CCACHE_DIR=$2 CCACHE_CONFIGPATH="$TEST_TMP/ccache.conf" \
		CCACHE_REMOTE_STORAGE="$SRV_URL/ccache|layout=$1" \
			timeout 60 ccache gcc -O2 -c "proj/f$i.c" -o "$3/f$i.o" &&
			ok=$((ok + 1))
	done
	[ $ok -eq $N ]
}

for layout in subdirs flat bazel; do
	fresh_store
	start_server "$layout" --store "$ARCA_DIR" || { fail "${layout}__started"; continue; }
	one="$TEST_TMP/cc-$layout-1" two="$TEST_TMP/cc-$layout-2"
	check "${layout}__first_build" build $layout "$one" "obj-$layout-1"
	assert_eq "${layout}__first_build_remote_misses" $N "$(stat_of "$one" remote_storage_miss)"
	assert_eq "${layout}__first_build_no_remote_errors" 0 "$(stat_of "$one" remote_storage_error)"
	# The local ccache directory is new and empty: all from arca serve.
	check "${layout}__second_build" build $layout "$two" "obj-$layout-2"
	assert_eq "${layout}__second_build_remote_hits" $N "$(stat_of "$two" remote_storage_hit)"
	assert_eq "${layout}__second_build_no_compiles" 0 "$(stat_of "$two" cache_miss)"
	same=0
	for i in $(seq 1 $N); do
		cmp -s "obj-$layout-1/f$i.o" "obj-$layout-2/f$i.o" && same=$((same + 1))
	done
	assert_eq "${layout}__objects_identical" $N "$same"
	log=$(cat "$SRV_ERR")
	case $layout in
	subdirs) re='PUT /ccache/[0-9a-v]{2}/[0-9a-v]{31} 200 ' ;;
	flat) re='PUT /ccache/[0-9a-v]{33} 200 ' ;;
	bazel) re='PUT /ccache/ac/[0-9a-f]{64} 200 ' ;;
	esac
	if printf '%s\n' "$log" | grep -Eq "$re"; then
		pass "${layout}__paths_in_layout"
	else
		fail "${layout}__paths_in_layout" "no line matching $re"
	fi
	run "$ARCA" ls
	if [ $layout = bazel ]; then want=bazel-ac; else want=ccache; fi
	assert_contains "${layout}__entries_are_actions" "$OUT" "$want"
	stop_server TERM
	assert_eq "${layout}__exit_0" 0 "$SRV_RC"
done

# ---- the routes with curl ---------------------------------------------------
fresh_store
start_server curl --store "$ARCA_DIR" || fail "curl__started"
C=(curl -s --max-time 30)
code() { local m=$1 u=$2; shift 2; "${C[@]}" -o "$TEST_TMP/body" -w '%{http_code}' -X "$m" "$@" "$u"; }
printf 'a ccache result entry\n' >entry
k=0123456789abcdefghijklmnopqrstuvv          # 33 chars of [0-9a-v]
assert_eq "curl__put_subdirs" 200 "$(code PUT "$SRV_URL/cc/${k:0:2}/${k:2}" --data-binary @entry)"
assert_eq "curl__get_subdirs" 200 "$(code GET "$SRV_URL/cc/${k:0:2}/${k:2}")"
assert_files_eq "curl__subdirs_bytes" entry "$TEST_TMP/body"
assert_eq "curl__flat_same_entry" 200 "$(code GET "$SRV_URL/cc/$k")"
assert_files_eq "curl__flat_bytes" entry "$TEST_TMP/body"
assert_eq "curl__other_path_other_cache" 404 "$(code GET "$SRV_URL/other/$k")"
assert_eq "curl__root_path_other_cache" 404 "$(code GET "$SRV_URL/$k")"
hdr=$("${C[@]}" -I "$SRV_URL/cc/$k" | tr -d '\r')
assert_contains "curl__head_length" "$hdr" "Content-Length: $(stat -c %s entry)"
# A key whose first two characters are "ac" is ccache's, not bazel's AC.
a=ac23456789abcdefghijklmnopqrstuvv
assert_eq "curl__ac_subdir_is_ccache" 200 "$(code PUT "$SRV_URL/cc/ac/${a:2}" --data-binary @entry)"
assert_eq "curl__ac_subdir_get" 200 "$(code GET "$SRV_URL/cc/ac/${a:2}")"
assert_files_eq "curl__ac_subdir_bytes" entry "$TEST_TMP/body"
assert_eq "curl__delete" 204 "$(code DELETE "$SRV_URL/cc/$k")"
assert_eq "curl__deleted_404" 404 "$(code GET "$SRV_URL/cc/${k:0:2}/${k:2}")"
assert_eq "curl__delete_missing_404" 404 "$(code DELETE "$SRV_URL/cc/$k")"
assert_eq "curl__key_out_of_alphabet_404" 404 "$(code GET "$SRV_URL/cc/${k%?}z")"
assert_eq "curl__traversal_400" 400 "$(code GET "$SRV_URL/cc/../${k}" --path-as-is)"
stop_server TERM

# (A value's verification at GET, a damaged blob being a miss, is in
# test_serve_bazel.sh: ccache's entries are small enough to live inside
# the index, where no file can be damaged by hand.)

finish
