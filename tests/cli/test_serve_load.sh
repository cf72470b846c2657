#!/usr/bin/env bash
# arca serve under load: 200 parallel clients (tests/helpers/serve_load.c,
# libcurl multi, one keep-alive connection each) mixing PUTs of random
# blobs to /cas/<sha256> (inline and file blobs) and GETs of their own
# and each other's blobs for 30 s against one server with --auth; every
# GET's bytes are hashed and compared. No failed request and no wrong
# byte (the helper counts both); requests/s is printed. A quarter of the
# clients authenticate as an htpasswd (bcrypt) user, the rest with a
# write token, so the credential checks run under the same load.
SERVE_LIB=$(cd "$(dirname "$0")/.." && pwd)/serve_lib.sh
. "${ARCA_TEST_LIB:-$(dirname "$0")/../lib.sh}"
. "$SERVE_LIB"

LOAD=${ARCA_SERVE_LOAD:-}
[ -x "$LOAD" ] || { fail "serve_load_built (ARCA_SERVE_LOAD)"; finish; }
command -v htpasswd >/dev/null || { fail "htpasswd_installed (scripts/bootstrap)"; finish; }
SECONDS_LOAD=${ARCA_SERVE_LOAD_SECONDS:-30}
WTOK=l0adt0ken-0123456789abcdef0123
{
	echo "bearer $WTOK write"
	htpasswd -nbB -C 5 loader 'load pass' | sed '/^$/d'
} >"$TEST_TMP/auth"

start_server load --store "$ARCA_DIR" --auth "$TEST_TMP/auth" \
	--access-log "$TEST_TMP/access.log" || { fail "load__started"; finish; }
U=$SRV_URL
timeout $((SECONDS_LOAD + 20)) "$LOAD" "$U" "$SECONDS_LOAD" 150 \
	-H "Authorization: Bearer $WTOK" >"$TEST_TMP/load_token" 2>"$TEST_TMP/load_token.err" &
p1=$!
timeout $((SECONDS_LOAD + 20)) "$LOAD" "$U" "$SECONDS_LOAD" 50 \
	-u 'loader:load pass' >"$TEST_TMP/load_basic" 2>"$TEST_TMP/load_basic.err" &
p2=$!
wait $p1; rc1=$?
wait $p2; rc2=$?
for k in token basic; do
	echo "# $k clients: $(cat "$TEST_TMP/load_$k")"
	sed 's/^/#   /' "$TEST_TMP/load_$k.err" | head -n 12
done
assert_eq "load__token_clients_all_good" 0 "$rc1"
assert_eq "load__basic_clients_all_good" 0 "$rc2"
for k in token basic; do
	line=$(cat "$TEST_TMP/load_$k")
	assert_contains "load__${k}_no_failed_request" "$line" " failed=0 "
	assert_contains "load__${k}_no_wrong_byte" "$line" " wrong=0 "
	assert_contains "load__${k}_every_client_worked" "$line" " idle_clients=0 "
done
n=$(( $(sed -n 's/^requests=\([0-9]*\) .*/\1/p' "$TEST_TMP/load_token") + \
	$(sed -n 's/^requests=\([0-9]*\) .*/\1/p' "$TEST_TMP/load_basic") ))
echo "# $n requests in ${SECONDS_LOAD} s: $((n / SECONDS_LOAD)) requests/s (200 clients)"
[ "$n" -ge 200 ] && pass "load__requests_made" || fail "load__requests_made" "$n"
# Every request has its access-log line, none of them a 4xx/5xx.
stop_server TERM
assert_eq "load__server_exit_0" 0 "$SRV_RC"
logged=$(grep -c ' /cas/' "$TEST_TMP/access.log")
assert_eq "load__every_request_logged" "$n" "$logged"
bad=$(grep -c ' /cas/[0-9a-f]* [45][0-9][0-9] ' "$TEST_TMP/access.log")
assert_eq "load__no_error_status_logged" 0 "$bad"
finish
