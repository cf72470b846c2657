#!/usr/bin/env bash
# arca serve: bazel-remote's HTTP cache protocol, driven with curl
# (docs/server.md): CAS and AC round trips, a body that does not hash to
# its path (nothing stored), 404, 400 for bad paths and traversal, 411,
# 413, 507 when pinned entries leave no room, /status, a client that
# disconnects mid-upload, SIGTERM during an upload (drained, and cut at
# the bound).
SERVE_LIB=$(cd "$(dirname "$0")/.." && pwd)/serve_lib.sh
. "${ARCA_TEST_LIB:-$(dirname "$0")/../lib.sh}"
. "$SERVE_LIB"

command -v curl >/dev/null || { fail "curl_installed"; finish; }
C=(curl -s --max-time 30)
sha() { sha256sum "$1" | cut -d' ' -f1; }
mkfile() { head -c "$2" /dev/urandom >"$1"; }
# code METHOD URL [curl args...]: print the status code, body to $TEST_TMP/body
code() {
	local m=$1 u=$2
	shift 2
	"${C[@]}" -o "$TEST_TMP/body" -w '%{http_code}' -X "$m" "$@" "$u"
}
status_field() { # status_field NAME: the integer from /status
	"${C[@]}" "$SRV_URL/status" |
		sed -n "s/^ *\"$1\": *\([0-9]*\),\{0,1\}$/\1/p"
}
wait_reserved() { # until /status says an upload is being received (10 s)
	local n=0
	while [ "$(status_field ReservedSize)" = "0" ] && [ $n -lt 200 ]; do
		sleep 0.05
		n=$((n + 1))
	done
	[ "$(status_field ReservedSize)" != "0" ]
}

# ---- usage -------------------------------------------------------------
run timeout 20 "$ARCA" serve --listen nonsense
check_rc "usage__bad_listen_exit_2" 2
assert_contains "usage__bad_listen_says_what" "$ERR" "--listen 'nonsense'"
run timeout 20 "$ARCA" serve --threads 0
check_rc "usage__bad_threads_exit_2" 2
run timeout 20 "$ARCA" serve --bogus
check_rc "usage__unknown_option_exit_2" 2

fresh_store
start_server main --store "$ARCA_DIR" --max-blob-size 1M || { fail "started"; finish; }
pass "started__prints_bound_port"
U=$SRV_URL
run timeout 20 "$ARCA" serve --store "$ARCA_DIR" --listen "127.0.0.1:${U##*:}"
check_rc "usage__port_in_use_exit_5" 5
assert_contains "usage__port_in_use_says_address" "$ERR" "cannot listen on 127.0.0.1:${U##*:}"

# ---- CAS ----------------------------------------------------------------
mkfile small 1000        # inline in the index
mkfile big 300000        # a file blob: sent with sendfile
for f in small big; do
	d=$(sha $f)
	assert_eq "cas__put_$f" 200 "$(code PUT "$U/cas/$d" --data-binary @$f)"
	assert_eq "cas__get_$f" 200 "$(code GET "$U/cas/$d")"
	assert_files_eq "cas__get_${f}_same_bytes" $f "$TEST_TMP/body"
	hdr=$("${C[@]}" -I "$U/cas/$d" | tr -d '\r')
	assert_contains "cas__head_${f}_length" "$hdr" "Content-Length: $(stat -c %s $f)"
	run "$ARCA" get "$d" -o "got_$f"
	check_rc "cas__${f}_in_the_store" 0
done
d=$(sha big)
assert_eq "cas__instance_ignored" 200 "$(code GET "$U/some/instance/cas/$d")"
assert_files_eq "cas__instance_same_bytes" big "$TEST_TMP/body"
empty=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
assert_eq "cas__empty_always_there" 200 "$(code HEAD "$U/cas/$empty" -I)"

# A body that does not hash to its path: 400, nothing stored.
mkfile wrong 200000
mkfile claimed 200000
dc=$(sha claimed) dw=$(sha wrong)
assert_eq "cas__mismatch_400" 400 "$(code PUT "$U/cas/$dc" --data-binary @wrong)"
assert_contains "cas__mismatch_says_digest" "$(cat "$TEST_TMP/body")" "$dw"
assert_eq "cas__mismatch_path_not_stored" 404 "$(code GET "$U/cas/$dc")"
run "$ARCA" get "$dw" -o /dev/null
check_rc "cas__mismatch_body_not_stored" 3
mkfile tiny 10
assert_eq "cas__mismatch_small_400" 400 "$(code PUT "$U/cas/$dc" --data-binary @tiny)"
run "$ARCA" get "$(sha tiny)" -o /dev/null
check_rc "cas__mismatch_small_not_stored" 3
assert_eq "cas__miss_404" 404 "$(code GET "$U/cas/$dc")"
assert_eq "cas__head_miss_404" 404 "$(code HEAD "$U/cas/$dc" -I)"
assert_eq "cas__delete_405" 405 "$(code DELETE "$U/cas/$d")"

# ---- AC -----------------------------------------------------------------
printf 'an ActionResult, opaque to the server\n' >ar
key=$(printf 'action 1' | sha256sum | cut -d' ' -f1)
assert_eq "ac__put" 200 "$(code PUT "$U/ac/$key" --data-binary @ar)"
assert_eq "ac__get" 200 "$(code GET "$U/ac/$key")"
assert_files_eq "ac__same_bytes" ar "$TEST_TMP/body"
assert_eq "ac__instance_same_entry" 200 "$(code GET "$U/inst/ac/$key")"
assert_files_eq "ac__instance_same_bytes" ar "$TEST_TMP/body"
mkfile ar2 150000
assert_eq "ac__replace_large" 200 "$(code PUT "$U/ac/$key" --data-binary @ar2)"
assert_eq "ac__get_replaced" 200 "$(code GET "$U/ac/$key")"
assert_files_eq "ac__replaced_bytes" ar2 "$TEST_TMP/body"
hdr=$("${C[@]}" -I "$U/ac/$key" | tr -d '\r')
assert_contains "ac__head_length" "$hdr" "Content-Length: 150000"
# The AC key is its own name space: not a CAS blob, not an arca action.
assert_eq "ac__key_is_not_cas" 404 "$(code GET "$U/cas/$key")"
run "$ARCA" ls
assert_contains "ac__listed_as_stage" "$OUT" "bazel-ac"
# Stored as an action entry: its value blob is verified on GET.
vd=$(sha ar2)
corrupt_file "$(blob_file "$vd")"
assert_eq "ac__corrupt_value_is_a_miss" 404 "$(code GET "$U/ac/$key")"
assert_eq "ac__put_again" 200 "$(code PUT "$U/ac/$key" --data-binary @ar)"
assert_eq "ac__delete" 204 "$(code DELETE "$U/ac/$key")"
assert_eq "ac__deleted_404" 404 "$(code GET "$U/ac/$key")"
assert_eq "ac__delete_missing_404" 404 "$(code DELETE "$U/ac/$key")"

# ---- bad paths: 400 before the store ------------------------------------
upper=$(printf '%s' "$d" | tr a-f A-F)
assert_eq "path__uppercase_hex_400" 400 "$(code GET "$U/cas/$upper")"
assert_eq "path__short_hex_400" 400 "$(code GET "$U/cas/abc123")"
assert_eq "path__nonhex_400" 400 "$(code GET "$U/ac/${d%?}g")"
assert_eq "path__dotdot_400" 400 "$(code GET "$U/cas/../cas/$d" --path-as-is)"
assert_eq "path__dot_400" 400 "$(code GET "$U/./cas/$d" --path-as-is)"
assert_eq "path__dotdot_put_400" 400 "$(code PUT "$U/x/../../cas/$dc" --path-as-is --data-binary @claimed)"
assert_eq "path__pct_dotdot_400" 400 "$(code GET "$U/%2e%2e/cas/$d" --path-as-is)"
assert_eq "path__pct_slash_400" 400 "$(code GET "$U/cas%2f$d" --path-as-is)"
assert_eq "path__pct_nul_400" 400 "$(code GET "$U/cas/$d%00" --path-as-is)"
assert_eq "path__empty_segment_400" 400 "$(code GET "$U//cas/$d" --path-as-is)"
long=$(head -c 1100 /dev/zero | tr '\0' a)
assert_eq "path__too_long_400" 400 "$(code GET "$U/$long/cas/$d")"
assert_eq "path__unknown_404" 404 "$(code GET "$U/nothing/here")"
run "$ARCA" get "$dc" -o /dev/null
check_rc "path__refused_put_not_stored" 3
assert_eq "path__method_405" 405 "$(code POST "$U/cas/$d" --data-binary @small)"

# ---- 411 and 413 --------------------------------------------------------
assert_eq "put__chunked_411" 411 "$(code PUT "$U/cas/$(sha small)" -H 'Transfer-Encoding: chunked' --data-binary @small)"
mkfile huge 1100000
assert_eq "put__over_max_blob_size_413" 413 "$(code PUT "$U/cas/$(sha huge)" --data-binary @huge)"
run "$ARCA" get "$(sha huge)" -o /dev/null
check_rc "put__413_not_stored" 3

assert_eq "put__zstd_415" 415 "$(code PUT "$U/ac/$(sha small)" -H 'Content-Encoding: zstd' --data-binary @small)"
assert_eq "put__zstd_not_stored" 404 "$(code GET "$U/ac/$(sha small)")"
assert_eq "put__status_405" 405 "$(code PUT "$U/status" --data-binary @small)"

# ---- /status ------------------------------------------------------------
st=$("${C[@]}" "$U/status")
for f in CurrSize UncompressedSize ReservedSize MaxSize NumFiles ServerTime GitCommit GitTags NumGoroutines; do
	assert_contains "status__has_$f" "$st" "\"$f\":"
done
run "$ARCA" info --json
used=$(printf '%s' "$OUT" | sed -n 's/^ *"bytes_total": *\([0-9]*\).*/\1/p')
assert_eq "status__currsize_is_usage" "$used" "$(status_field CurrSize)"
now=$(date +%s)
t=$(status_field ServerTime)
if [ $((now - t)) -le 5 ] && [ $((t - now)) -le 5 ]; then pass "status__server_time"; else fail "status__server_time" "$t vs $now"; fi
assert_eq "status__reserved_idle_0" 0 "$(status_field ReservedSize)"

# ---- a client that disconnects mid-upload leaves nothing ------------------
mkfile slow 600000
curl -s --max-time 30 --limit-rate 100K -X PUT --data-binary @slow \
	"$U/cas/$(sha slow)" -o /dev/null &
cpid=$!
if wait_reserved; then pass "abort__upload_in_flight"; else fail "abort__upload_in_flight"; fi
kill -9 $cpid 2>/dev/null
wait $cpid 2>/dev/null
n=0
while [ "$(status_field ReservedSize)" != "0" ] && [ $n -lt 200 ]; do sleep 0.05; n=$((n + 1)); done
assert_eq "abort__reservation_released" 0 "$(status_field ReservedSize)"
run "$ARCA" get "$(sha slow)" -o /dev/null
check_rc "abort__not_stored" 3
assert_contains "abort__logged" "$(cat "$SRV_ERR")" "PUT /cas/$(sha slow) 0 "
leftover=$(find "$ARCA_DIR/tmp" -type f ! -name 'pins-*' | wc -l)
assert_eq "abort__no_temp_file" 0 "$leftover"

# ---- parallel clients: one store handle per worker thread ------------------
mkdir -p par
for i in $(seq 1 16); do mkfile "par/b$i" $((150000 + i * 1000)); done
for i in $(seq 1 16); do
	(
		f="par/b$i" dd=$(sha "par/b$i")
		c1=$("${C[@]}" -o /dev/null -w '%{http_code}' -X PUT --data-binary @"$f" "$U/cas/$dd")
		c2=$("${C[@]}" -o "$f.got" -w '%{http_code}' "$U/cas/$dd")
		c3=$("${C[@]}" -o /dev/null -w '%{http_code}' -X PUT --data-binary @"$f" "$U/ac/$dd")
		c4=$("${C[@]}" -o "$f.ac" -w '%{http_code}' "$U/ac/$dd")
		echo "$c1 $c2 $c3 $c4" >"$f.codes"
	) &
	jobs_pids="${jobs_pids:-} $!"
done
# Only these: a bare `wait` would wait for the server too.
for p in $jobs_pids; do wait "$p"; done
ok=0
for i in $(seq 1 16); do
	[ "$(cat "par/b$i.codes")" = "200 200 200 200" ] &&
		cmp -s "par/b$i" "par/b$i.got" && cmp -s "par/b$i" "par/b$i.ac" &&
		ok=$((ok + 1))
done
assert_eq "parallel__16_clients_right_bytes" 16 "$ok"

# ---- an idle connection is cut (--timeout) ---------------------------------
MAIN_PID=$SRV_PID MAIN_ERR=$SRV_ERR
start_server idle --store "$ARCA_DIR" --timeout 1s || fail "idle__started"
port=${SRV_URL##*:}
start=$(date +%s)
exec 3<>"/dev/tcp/127.0.0.1/$port"
printf 'GET /status HTTP/1.1\r\nHost: x\r\n' >&3   # never finished
if timeout 10 cat <&3 >/dev/null; then pass "idle__closed_by_server"; else fail "idle__closed_by_server"; fi
exec 3<&-
took=$(( $(date +%s) - start ))
if [ "$took" -le 5 ]; then pass "idle__within_timeout"; else fail "idle__within_timeout" "${took}s"; fi
stop_server TERM
SRV_PID=$MAIN_PID SRV_ERR=$MAIN_ERR SRV_URL=$U

# ---- access log ---------------------------------------------------------
assert_contains "log__line_per_request" "$(cat "$SRV_ERR")" "GET /cas/$d 200 in=0 out=300000 "
stop_server TERM
assert_eq "sigterm__idle_exit_0" 0 "$SRV_RC"
assert_contains "sigterm__says_stopped" "$(cat "$SRV_ERR")" "arca serve: stopped"

# ---- --read-only ----------------------------------------------------------
start_server ro --store "$ARCA_DIR" --read-only || fail "ro__started"
assert_eq "ro__get" 200 "$(code GET "$SRV_URL/cas/$d")"
assert_files_eq "ro__get_bytes" big "$TEST_TMP/body"
assert_eq "ro__put_405" 405 "$(code PUT "$SRV_URL/cas/$(sha tiny)" --data-binary @tiny)"
hdr=$("${C[@]}" -D - -o /dev/null -X PUT --data-binary @tiny "$SRV_URL/ac/$key" | tr -d '\r')
assert_contains "ro__allow_header" "$hdr" "Allow: GET, HEAD"
run "$ARCA" get "$(sha tiny)" -o /dev/null
check_rc "ro__not_stored" 3
stop_server TERM
assert_eq "ro__exit_0" 0 "$SRV_RC"

# ---- 507: the store cannot make room --------------------------------------
HOLDER=${ARCA_PIN_HOLDER:-}
if [ -z "$HOLDER" ] || [ ! -x "$HOLDER" ]; then
	fail "full__holder_built" "ARCA_PIN_HOLDER not set (run through ctest)"
else
	fresh_store
	mkdir -p "$ARCA_DIR"
	rm -f ready go
	"$HOLDER" "$ARCA_DIR" 900000 ready go &
	holder=$!
	n=0
	while [ ! -e ready ] && [ $n -lt 400 ]; do sleep 0.05; n=$((n + 1)); done
	if [ -e ready ]; then pass "full__holder_pins_900000"; else fail "full__holder_pins_900000"; fi
	start_server full --store "$ARCA_DIR" --max-size 1M --access-log "$TEST_TMP/full.log" ||
		fail "full__started"
	mkfile fit 300000
	assert_eq "full__put_507" 507 "$(code PUT "$SRV_URL/cas/$(sha fit)" --data-binary @fit)"
	assert_contains "full__507_says_pinned" "$(cat "$TEST_TMP/body")" "pinned"
	assert_eq "full__not_stored" 404 "$(code GET "$SRV_URL/cas/$(sha fit)")"
	assert_eq "full__ac_507" 507 "$(code PUT "$SRV_URL/ac/$(sha fit)" --data-binary @fit)"
	assert_eq "full__status_maxsize" 1048576 "$(status_field MaxSize)"
	assert_contains "full__access_log_file" "$(cat "$TEST_TMP/full.log")" "PUT /cas/$(sha fit) 507 "
	touch go
	wait "$holder"
	assert_eq "full__holder_committed" 0 "$?"
	assert_eq "full__fits_after_release" 200 "$(code PUT "$SRV_URL/cas/$(sha fit)" --data-binary @fit)"
	stop_server TERM
fi

# ---- SIGTERM during an upload ------------------------------------------------
# Within the bound: the upload finishes and is stored, then exit 0.
fresh_store
start_server drain --store "$ARCA_DIR" --shutdown-timeout 20s || fail "drain__started"
mkfile up 400000
curl -s --max-time 30 --limit-rate 200K -o /dev/null -w '%{http_code}' -X PUT \
	--data-binary @up "$SRV_URL/cas/$(sha up)" >"$TEST_TMP/drain.code" &
cpid=$!
if wait_reserved; then pass "drain__upload_in_flight"; else fail "drain__upload_in_flight"; fi
stop_server TERM
wait $cpid
assert_eq "drain__upload_answered_200" 200 "$(cat "$TEST_TMP/drain.code")"
assert_eq "drain__exit_0" 0 "$SRV_RC"
run "$ARCA" get "$(sha up)" -o got_up
check_rc "drain__stored" 0
assert_files_eq "drain__stored_bytes" up got_up

# Past the bound: cut, nothing stored, exit 0.
fresh_store
start_server cut --store "$ARCA_DIR" --shutdown-timeout 300ms || fail "cut__started"
curl -s --max-time 30 --limit-rate 50K -o /dev/null -X PUT \
	--data-binary @up "$SRV_URL/cas/$(sha up)" &
cpid=$!
if wait_reserved; then pass "cut__upload_in_flight"; else fail "cut__upload_in_flight"; fi
start=$(date +%s)
stop_server TERM
took=$(( $(date +%s) - start ))
wait $cpid
assert_eq "cut__exit_0" 0 "$SRV_RC"
if [ "$took" -le 5 ]; then pass "cut__within_bound"; else fail "cut__within_bound" "took ${took}s"; fi
assert_contains "cut__says_cut" "$(cat "$SRV_ERR")" "still in flight: cut"
run "$ARCA" get "$(sha up)" -o /dev/null
check_rc "cut__not_stored" 3
leftover=$(find "$ARCA_DIR/tmp" -type f ! -name 'pins-*' | wc -l)
assert_eq "cut__no_temp_file" 0 "$leftover"

finish
