#!/usr/bin/env bash
# arca serve: the /v1 REST API and the HTTP semantics of blob routes,
# driven with curl (docs/server.md, "/v1 REST API", "HTTP semantics"):
# blob round trips, 400s, 201 vs 200, blobs:missing, actions GET (the
# manifest `arca run` stored) and PUT (409 until the blobs are up, then
# 201, and `arca run` on that store is a hit), DELETE by tag, stage,
# input and prefix (checked with `arca ls`), ETag / If-None-Match 304,
# Range 206 / 416 (bytes compared with dd), zstd both ways (the zstd
# CLI), X-Arca-Api on every answer.
SERVE_LIB=$(cd "$(dirname "$0")/.." && pwd)/serve_lib.sh
. "${ARCA_TEST_LIB:-$(dirname "$0")/../lib.sh}"
. "$SERVE_LIB"

command -v curl >/dev/null || { fail "curl_installed"; finish; }
command -v zstd >/dev/null || { fail "zstd_installed"; finish; }
command -v python3 >/dev/null || { fail "python3_installed"; finish; }
C=(curl -s --max-time 30)
sha() { sha256sum "$1" | cut -d' ' -f1; }
mkfile() { head -c "$2" /dev/urandom >"$1"; }
# code METHOD URL [curl args...]: the status; body in $TEST_TMP/body,
# headers (CR removed) in $TEST_TMP/hdr
code() {
	local m=$1 u=$2 c
	shift 2
	rm -f "$TEST_TMP/body"   # curl writes no file when there is no body
	c=$("${C[@]}" -o "$TEST_TMP/body" -D "$TEST_TMP/hdr.raw" \
		-w '%{http_code}' -X "$m" "$@" "$u")
	tr -d '\r' <"$TEST_TMP/hdr.raw" >"$TEST_TMP/hdr"
	printf '%s' "$c"
}
hdr() { cat "$TEST_TMP/hdr"; }
body() { cat "$TEST_TMP/body" 2>/dev/null; }
body_size() { stat -c %s "$TEST_TMP/body" 2>/dev/null || echo 0; }
# json EXPR FILE: evaluate a Python expression on the JSON document j
json() { python3 -c 'import json,sys; j=json.load(open(sys.argv[2])); print(eval(sys.argv[1]))' "$1" "$2"; }
ls_keys() { # the keys `arca ls` sees, sorted, one a line
	"$ARCA" ls --json | python3 -c 'import json,sys; [print(e["key"]) for e in sorted(json.load(sys.stdin), key=lambda e: e["key"])]'
}

fresh_store
S=$ARCA_DIR
start_server main --store "$S" --max-blob-size 1M || { fail "started"; finish; }
U=$SRV_URL

# ---- blobs ---------------------------------------------------------------
mkfile small 1000        # inline in the index
mkfile big 300000        # a file blob
for f in small big; do
	d=$(sha $f)
	assert_eq "blobs__put_${f}_201" 201 "$(code PUT "$U/v1/blobs/$d" --data-binary @$f)"
	assert_eq "blobs__put_${f}_again_200" 200 "$(code PUT "$U/v1/blobs/$d" --data-binary @$f)"
	assert_eq "blobs__get_$f" 200 "$(code GET "$U/v1/blobs/$d")"
	assert_files_eq "blobs__get_${f}_same_bytes" $f "$TEST_TMP/body"
	assert_contains "blobs__get_${f}_type" "$(hdr)" "Content-Type: application/octet-stream"
	assert_eq "blobs__head_$f" 200 "$(code HEAD "$U/v1/blobs/$d" -I)"
	assert_contains "blobs__head_${f}_length" "$(hdr)" "Content-Length: $(stat -c %s $f)"
	run "$ARCA" get "$d" -o "got_$f"
	check_rc "blobs__${f}_in_the_store" 0
	assert_files_eq "blobs__${f}_store_bytes" $f "got_$f"
done
d=$(sha big)
ds=$(sha small)
assert_eq "blobs__instance_ignored" 200 "$(code GET "$U/some/inst/v1/blobs/$d")"
assert_files_eq "blobs__instance_same_bytes" big "$TEST_TMP/body"
assert_eq "blobs__is_cas_too" 200 "$(code GET "$U/cas/$d")"
assert_files_eq "blobs__cas_same_bytes" big "$TEST_TMP/body"

upper=$(printf '%s' "$d" | tr a-f A-F)
assert_eq "blobs__uppercase_400" 400 "$(code GET "$U/v1/blobs/$upper")"
assert_eq "blobs__short_400" 400 "$(code GET "$U/v1/blobs/abc123")"
assert_eq "blobs__nonhex_400" 400 "$(code PUT "$U/v1/blobs/${d%?}g" --data-binary @small)"
assert_eq "blobs__unknown_v1_route_404" 404 "$(code GET "$U/v1/nothing/here")"
# A 33-character ccache-like name under /v1/ is still the API's.
assert_eq "blobs__v1_not_ccache" 404 "$(code PUT "$U/v1/0123456789abcdefghijklmnopqrstuv0" --data-binary @small)"
assert_contains "blobs__v1_not_ccache_says" "$(body)" "/v1 API"

mkfile wrong 200000
mkfile claimed 200000
dc=$(sha claimed) dw=$(sha wrong)
assert_eq "blobs__mismatch_400" 400 "$(code PUT "$U/v1/blobs/$dc" --data-binary @wrong)"
assert_contains "blobs__mismatch_says_digest" "$(body)" "$dw"
assert_eq "blobs__mismatch_not_stored" 404 "$(code GET "$U/v1/blobs/$dc")"
run "$ARCA" get "$dw" -o /dev/null
check_rc "blobs__mismatch_body_not_stored" 3
assert_eq "blobs__miss_404" 404 "$(code GET "$U/v1/blobs/$dc")"
assert_eq "blobs__head_miss_404" 404 "$(code HEAD "$U/v1/blobs/$dc" -I)"
assert_eq "blobs__delete_405" 405 "$(code DELETE "$U/v1/blobs/$d")"
mkfile huge 1100000
assert_eq "blobs__put_over_limit_413" 413 "$(code PUT "$U/v1/blobs/$(sha huge)" --data-binary @huge)"
assert_eq "blobs__put_gzip_415" 415 "$(code PUT "$U/v1/blobs/$ds" -H 'Content-Encoding: gzip' --data-binary @small)"

# ---- blobs:missing ---------------------------------------------------------
printf '{"digests": ["%s", "%s", "%s", "%s"]}' "$dc" "$d" "$dw" "$ds" >req.json
assert_eq "missing__200" 200 "$(code POST "$U/v1/blobs:missing" --data-binary @req.json)"
assert_eq "missing__in_request_order" "['$dc', '$dw']" "$(json 'j["missing"]' "$TEST_TMP/body")"
assert_contains "missing__json_type" "$(hdr)" "Content-Type: application/json"
printf '{"digests": []}' >req.json
assert_eq "missing__empty_200" 200 "$(code POST "$U/v1/blobs:missing" --data-binary @req.json)"
assert_eq "missing__empty_list" "[]" "$(json 'j["missing"]' "$TEST_TMP/body")"
printf '{"digests": ["%s", "xyz"]}' "$d" >req.json
assert_eq "missing__bad_digest_400" 400 "$(code POST "$U/v1/blobs:missing" --data-binary @req.json)"
assert_contains "missing__bad_digest_says_which" "$(body)" "digests[1]"
assert_eq "missing__not_json_400" 400 "$(code POST "$U/v1/blobs:missing" --data-binary 'nope')"
assert_eq "missing__get_405" 405 "$(code GET "$U/v1/blobs:missing")"
python3 -c 'import json; print(json.dumps({"digests": ["0"*64]*10001}))' >many.json
assert_eq "missing__over_10000_413" 413 "$(code POST "$U/v1/blobs:missing" --data-binary @many.json)"

# ---- HTTP semantics: ETag, If-None-Match -----------------------------------
for route in "v1/blobs" "cas"; do
	n=${route%%/*}
	assert_eq "etag__${n}_get" 200 "$(code GET "$U/$route/$d")"
	assert_contains "etag__${n}_etag" "$(hdr)" "ETag: \"$d\""
	assert_contains "etag__${n}_immutable" "$(hdr)" "Cache-Control: public, max-age=31536000, immutable"
	assert_contains "etag__${n}_vary" "$(hdr)" "Vary: Accept-Encoding"
	assert_eq "etag__${n}_inm_304" 304 "$(code GET "$U/$route/$d" -H "If-None-Match: \"$d\"")"
	assert_eq "etag__${n}_304_no_body" 0 "$(body_size)"
	assert_contains "etag__${n}_304_etag" "$(hdr)" "ETag: \"$d\""
	assert_eq "etag__${n}_inm_weak_in_list_304" 304 "$(code GET "$U/$route/$d" -H "If-None-Match: \"$dc\", W/\"$d\"")"
	assert_eq "etag__${n}_inm_star_304" 304 "$(code GET "$U/$route/$d" -H 'If-None-Match: *')"
	assert_eq "etag__${n}_inm_head_304" 304 "$(code HEAD "$U/$route/$d" -I -H "If-None-Match: \"$d\"")"
	assert_eq "etag__${n}_inm_other_200" 200 "$(code GET "$U/$route/$d" -H "If-None-Match: \"$dc\"")"
	assert_files_eq "etag__${n}_inm_other_bytes" big "$TEST_TMP/body"
	assert_eq "etag__${n}_inm_star_miss_404" 404 "$(code GET "$U/$route/$dc" -H 'If-None-Match: *')"
done

# ---- HTTP semantics: Range ---------------------------------------------------
# range NAME SPEC SKIP COUNT [BLOB]: a 206 whose bytes are dd's
range() {
	local name=$1 spec=$2 skip=$3 count=$4 f=${5:-big} size
	size=$(stat -c %s $f)
	assert_eq "range__${name}_206" 206 "$(code GET "$U/v1/blobs/$(sha $f)" -H "Range: bytes=$spec")"
	dd if=$f of=expect bs=1 skip="$skip" count="$count" 2>/dev/null
	assert_files_eq "range__${name}_bytes" expect "$TEST_TMP/body"
	assert_contains "range__${name}_content_range" "$(hdr)" \
		"Content-Range: bytes $skip-$((skip + count - 1))/$size"
	assert_contains "range__${name}_length" "$(hdr)" "Content-Length: $count"
}
range first_last 100-199 100 100
range open_ended 299000- 299000 1000
range suffix -500 299500 500
range past_end 299990-400000 299990 10
range suffix_over_size -400000 0 300000
range inline 10-19 10 10 small
assert_eq "range__unsatisfiable_416" 416 "$(code GET "$U/v1/blobs/$d" -H 'Range: bytes=300000-')"
assert_contains "range__416_content_range" "$(hdr)" "Content-Range: bytes */300000"
assert_eq "range__zero_suffix_416" 416 "$(code GET "$U/v1/blobs/$d" -H 'Range: bytes=-0')"
assert_eq "range__several_whole_200" 200 "$(code GET "$U/v1/blobs/$d" -H 'Range: bytes=0-9,20-29')"
assert_files_eq "range__several_whole_bytes" big "$TEST_TMP/body"
assert_eq "range__invalid_whole_200" 200 "$(code GET "$U/v1/blobs/$d" -H 'Range: bytes=20-10')"
assert_eq "range__if_range_match_206" 206 "$(code GET "$U/v1/blobs/$d" -H 'Range: bytes=0-9' -H "If-Range: \"$d\"")"
assert_eq "range__if_range_other_200" 200 "$(code GET "$U/v1/blobs/$d" -H 'Range: bytes=0-9' -H "If-Range: \"$dc\"")"
assert_eq "range__cas_206" 206 "$(code GET "$U/cas/$d" -H 'Range: bytes=5-14')"
assert_contains "range__cas_content_range" "$(hdr)" "Content-Range: bytes 5-14/300000"

# ---- HTTP semantics: zstd ------------------------------------------------------
for f in small big; do
	assert_eq "zstd__get_$f" 200 "$(code GET "$U/v1/blobs/$(sha $f)" -H 'Accept-Encoding: gzip, zstd')"
	assert_contains "zstd__get_${f}_encoding" "$(hdr)" "Content-Encoding: zstd"
	assert_contains "zstd__get_${f}_vary" "$(hdr)" "Vary: Accept-Encoding"
	zstd -q -d -c "$TEST_TMP/body" >unz 2>/dev/null
	assert_files_eq "zstd__get_${f}_decompresses_to_blob" $f unz
done
assert_eq "zstd__refused_q0_plain" 200 "$(code GET "$U/v1/blobs/$d" -H 'Accept-Encoding: zstd;q=0')"
assert_not_contains "zstd__refused_q0_no_encoding" "$(hdr)" "Content-Encoding"
assert_files_eq "zstd__refused_q0_bytes" big "$TEST_TMP/body"
assert_eq "zstd__range_is_identity" 206 "$(code GET "$U/v1/blobs/$d" -H 'Accept-Encoding: zstd' -H 'Range: bytes=0-9')"
assert_not_contains "zstd__range_no_encoding" "$(hdr)" "Content-Encoding"
assert_eq "zstd__head_uncompressed_length" 200 "$(code HEAD "$U/v1/blobs/$d" -I -H 'Accept-Encoding: zstd')"
assert_contains "zstd__head_length" "$(hdr)" "Content-Length: 300000"
# PUT with Content-Encoding: zstd: decoded while hashed.
yes 'a compressible line of text' | head -c 400000 >text
dt=$(sha text)
zstd -q -c text >text.zst
assert_eq "zstd__put_201" 201 "$(code PUT "$U/v1/blobs/$dt" -H 'Content-Encoding: zstd' --data-binary @text.zst)"
run "$ARCA" get "$dt" -o got_text
check_rc "zstd__put_stored" 0
assert_files_eq "zstd__put_stored_decoded_bytes" text got_text
assert_eq "zstd__put_again_200" 200 "$(code PUT "$U/v1/blobs/$dt" -H 'Content-Encoding: zstd' --data-binary @text.zst)"
mkfile other 5000
zstd -q -c other >other.zst
assert_eq "zstd__put_mismatch_400" 400 "$(code PUT "$U/v1/blobs/$dc" -H 'Content-Encoding: zstd' --data-binary @other.zst)"
run "$ARCA" get "$(sha other)" -o /dev/null
check_rc "zstd__put_mismatch_not_stored" 3
head -c 1000 big >notzstd
assert_eq "zstd__put_not_zstd_400" 400 "$(code PUT "$U/v1/blobs/$(sha notzstd)" -H 'Content-Encoding: zstd' --data-binary @notzstd)"
head -c $(( $(stat -c %s text.zst) - 5 )) text.zst >trunc.zst
assert_eq "zstd__put_truncated_400" 400 "$(code PUT "$U/v1/blobs/$dt" -H 'Content-Encoding: zstd' --data-binary @trunc.zst)"
# 3 MB of zeros compress to a few hundred bytes: over --max-blob-size
# (1M) once decoded.
head -c 3000000 /dev/zero >zeros
zstd -q -c zeros >zeros.zst
assert_eq "zstd__put_decoded_over_limit_413" 413 "$(code PUT "$U/v1/blobs/$(sha zeros)" -H 'Content-Encoding: zstd' --data-binary @zeros.zst)"
run "$ARCA" get "$(sha zeros)" -o /dev/null
check_rc "zstd__put_over_limit_not_stored" 3
assert_eq "zstd__cas_put_still_415" 415 "$(code PUT "$U/cas/$dt" -H 'Content-Encoding: zstd' --data-binary @text.zst)"

# ---- X-Arca-Api on every answer -----------------------------------------------
for u in "v1/blobs/$d" "v1/blobs/$dc" "cas/$d" "status" "no/such/thing/at/all" "a/%2e%2e/b"; do
	code GET "$U/$u" >/dev/null
	assert_contains "api_header__$(printf '%s' "$u" | tr -c 'a-z0-9' _ | cut -c1-20)" "$(hdr)" "X-Arca-Api: 1"
done

# ---- actions: GET what `arca run` stored ---------------------------------------
W=$PWD
mkdir -p act && cd act || exit 1
cat >gen.sh <<'EOF'
#!/bin/sh
echo "ran" >>"$MARKER"
printf 'output of %s\n' "$1" >out.txt
head -c 150000 /dev/zero | tr '\0' "$1" >>out.txt
echo "stdout of $1"
EOF
chmod +x gen.sh
export MARKER=$TEST_TMP/marker
: >"$MARKER"
ARCA_DIR=$S "$ARCA" run --stage gen --tag nightly --out out.txt -- ./gen.sh a >stdout_a
run_rc=$?
assert_eq "actions__run_stored" 0 "$run_rc"
cp out.txt out_a.txt
key=$(ARCA_DIR=$S "$ARCA" ls --json | json 'j[0]["key"]' /dev/stdin)
assert_eq "actions__get_200" 200 "$(code GET "$U/v1/actions/$key")"
cp "$TEST_TMP/body" manifest.json
assert_contains "actions__get_json_type" "$(hdr)" "Content-Type: application/json"
assert_eq "actions__get_key" "$key" "$(json 'j["key"]' manifest.json)"
assert_eq "actions__get_stage" "gen" "$(json 'j["stage"]' manifest.json)"
assert_eq "actions__get_output_digest" "$(sha out_a.txt)" "$(json 'j["outputs"][0]["digest"]' manifest.json)"
assert_eq "actions__get_stdout_digest" "$(sha stdout_a)" "$(json 'j["stdout"]["digest"]' manifest.json)"
assert_eq "actions__get_argv" "['./gen.sh', 'a']" "$(json 'j["argv"]' manifest.json)"
assert_eq "actions__get_miss_404" 404 "$(code GET "$U/v1/actions/$dc")"
assert_eq "actions__get_bad_key_400" 400 "$(code GET "$U/v1/actions/${key%?}")"
assert_eq "actions__delete_one_405" 405 "$(code DELETE "$U/v1/actions/$key")"

# ---- actions: PUT onto another server, 409 until the blobs are there ------------
cd "$W" || exit 1
MAIN_PID=$SRV_PID
fresh_store
T=$ARCA_DIR
start_server second --store "$T" || { fail "second_started"; finish; }
U2=$SRV_URL
SECOND_PID=$SRV_PID
ARCA_DIR=$S
export ARCA_DIR
assert_eq "actions__put_409" 409 "$(code PUT "$U2/v1/actions/$key" --data-binary @act/manifest.json)"
cp "$TEST_TMP/body" conflict.json
assert_contains "actions__409_names_output" "$(cat conflict.json)" "$(sha act/out_a.txt)"
assert_contains "actions__409_names_stdout" "$(cat conflict.json)" "$(sha act/stdout_a)"
assert_eq "actions__409_nothing_stored" 404 "$(code GET "$U2/v1/actions/$key")"
printf '{"version":1' >broken.json
assert_eq "actions__put_not_a_manifest_400" 400 "$(code PUT "$U2/v1/actions/$key" --data-binary @broken.json)"
assert_eq "actions__put_other_key_400" 400 "$(code PUT "$U2/v1/actions/$dc" --data-binary @act/manifest.json)"
assert_contains "actions__put_other_key_says" "$(body)" "$key"
# Upload every blob 409 named, from the first server.
for b in $(json '" ".join(j["missing"])' conflict.json); do
	"${C[@]}" -o blob.tmp "$U/v1/blobs/$b"
	assert_eq "actions__upload_$(printf %.8s "$b")" 201 "$(code PUT "$U2/v1/blobs/$b" --data-binary @blob.tmp)"
done
assert_eq "actions__put_201" 201 "$(code PUT "$U2/v1/actions/$key" --data-binary @act/manifest.json)"
assert_eq "actions__get_back" 200 "$(code GET "$U2/v1/actions/$key")"
assert_eq "actions__get_back_same_key" "$key" "$(json 'j["key"]' "$TEST_TMP/body")"
assert_eq "actions__listed_by_arca_ls" "$key" "$(ARCA_DIR=$T ls_keys)"
# `arca run` on that store is a hit: the command does not run again.
cd act || exit 1
rm -f out.txt
: >"$MARKER"
ARCA_DIR=$T "$ARCA" run --stage gen --tag nightly --out out.txt -- ./gen.sh a >stdout_hit
assert_eq "actions__put_entry_is_a_hit" 0 "$(wc -l <"$MARKER")"
assert_files_eq "actions__hit_output" out_a.txt out.txt
assert_files_eq "actions__hit_stdout" stdout_a stdout_hit
cd "$W" || exit 1
SRV_PID=$SECOND_PID
stop_server TERM
SRV_PID=$MAIN_PID

# ---- DELETE /v1/actions -----------------------------------------------------------
cd act || exit 1
printf 'input one\n' >in1
ARCA_DIR=$S "$ARCA" run --stage gen --tag other --out out.txt -- ./gen.sh b >/dev/null
ARCA_DIR=$S "$ARCA" run --stage mk --out out.txt -- ./gen.sh c >/dev/null
ARCA_DIR=$S "$ARCA" run --stage mk --out out.txt -- ./gen.sh d >/dev/null
ARCA_DIR=$S "$ARCA" run --stage use --in in1 --out out.txt -- ./gen.sh e >/dev/null
ARCA_DIR=$S "$ARCA" run --stage pre --out out.txt -- ./gen.sh f >/dev/null
cd "$W" || exit 1
stage_keys() { ARCA_DIR=$S "$ARCA" ls --json --stage "$1" | json '" ".join(sorted(e["key"] for e in j))' /dev/stdin; }
all_before=$(ls_keys | wc -l)
assert_eq "delete__six_actions" 6 "$all_before"
# by tag: exactly the one run with --tag nightly
assert_eq "delete__tag_200" 200 "$(code DELETE "$U/v1/actions?tag=nightly")"
assert_eq "delete__tag_removed_1" 1 "$(json 'j["removed"]' "$TEST_TMP/body")"
assert_eq "delete__tag_key" "$key" "$(json '" ".join(j["keys"])' "$TEST_TMP/body")"
assert_not_contains "delete__tag_gone_from_ls" "$(ls_keys)" "$key"
assert_eq "delete__tag_others_stay" 5 "$(ls_keys | wc -l)"
# by stage
mk=$(stage_keys mk)
assert_eq "delete__stage_200" 200 "$(code DELETE "$U/v1/actions?stage=mk")"
assert_eq "delete__stage_removed_2" 2 "$(json 'j["removed"]' "$TEST_TMP/body")"
assert_eq "delete__stage_keys" "$mk" "$(json '" ".join(sorted(j["keys"]))' "$TEST_TMP/body")"
assert_eq "delete__stage_gone" "" "$(stage_keys mk)"
assert_eq "delete__stage_others_stay" 3 "$(ls_keys | wc -l)"
# by input
use=$(stage_keys use)
assert_eq "delete__input_200" 200 "$(code DELETE "$U/v1/actions?input=$(sha act/in1)")"
assert_eq "delete__input_keys" "$use" "$(json '" ".join(j["keys"])' "$TEST_TMP/body")"
assert_eq "delete__input_gone" "" "$(stage_keys use)"
# by prefix
pre=$(stage_keys pre)
assert_eq "delete__prefix_200" 200 "$(code DELETE "$U/v1/actions?prefix=${pre:0:10}")"
assert_eq "delete__prefix_keys" "$pre" "$(json '" ".join(j["keys"])' "$TEST_TMP/body")"
assert_eq "delete__prefix_left" "$(stage_keys gen)" "$(ls_keys)"
assert_eq "delete__nothing_matches" 200 "$(code DELETE "$U/v1/actions?tag=none-such")"
assert_eq "delete__nothing_removed" "0 []" "$(json 'str(j["removed"]) + " " + str(j["keys"])' "$TEST_TMP/body")"
assert_eq "delete__two_criteria_400" 400 "$(code DELETE "$U/v1/actions?tag=a&stage=b")"
assert_eq "delete__no_criterion_400" 400 "$(code DELETE "$U/v1/actions")"
assert_eq "delete__unknown_criterion_400" 400 "$(code DELETE "$U/v1/actions?color=red")"
assert_eq "delete__bad_input_400" 400 "$(code DELETE "$U/v1/actions?input=abc")"
assert_eq "delete__bad_prefix_400" 400 "$(code DELETE "$U/v1/actions?prefix=xyz")"
assert_eq "delete__get_405" 405 "$(code GET "$U/v1/actions")"
assert_eq "delete__nothing_else_removed" 1 "$(ls_keys | wc -l)"

stop_server TERM
assert_eq "stopped__exit_0" 0 "$SRV_RC"

# ---- read-only -----------------------------------------------------------------
start_server ro --store "$S" --read-only || { fail "ro_started"; finish; }
assert_eq "readonly__get_200" 200 "$(code GET "$SRV_URL/v1/blobs/$d")"
assert_eq "readonly__put_405" 405 "$(code PUT "$SRV_URL/v1/blobs/$d" --data-binary @big)"
assert_eq "readonly__delete_405" 405 "$(code DELETE "$SRV_URL/v1/actions?stage=gen")"
assert_eq "readonly__missing_still_200" 200 "$(code POST "$SRV_URL/v1/blobs:missing" --data-binary '{"digests":[]}')"
stop_server TERM

finish
