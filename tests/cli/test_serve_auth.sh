#!/usr/bin/env bash
# arca serve: --auth (bearer tokens read|write, htpasswd bcrypt users),
# --allow-unauthenticated-reads, 401/403/allowed, a refused upload never
# read, tokens and passwords kept out of the access log, bad auth lines
# (exit 2 naming FILE:LINE); TLS (--tls-cert/--tls-key) with a
# self-signed certificate and curl --cacert, plain HTTP to it refused, a
# wrong key exit 2; limits: the request-header deadline cuts a slowloris
# client, --max-connections-per-ip, a 100 KiB header (docs/server.md
# "Authentication", "TLS", "Limits").
SERVE_LIB=$(cd "$(dirname "$0")/.." && pwd)/serve_lib.sh
. "${ARCA_TEST_LIB:-$(dirname "$0")/../lib.sh}"
. "$SERVE_LIB"

for cmd in curl htpasswd openssl python3; do
	command -v $cmd >/dev/null || { fail "${cmd}_installed (scripts/bootstrap)"; finish; }
done
C=(curl -s --max-time 30)
sha() { sha256sum "$1" | cut -d' ' -f1; }
# code METHOD URL [curl args...]: the status code; body in $TEST_TMP/body
code() {
	local m=$1 u=$2
	shift 2
	"${C[@]}" -o "$TEST_TMP/body" -w '%{http_code}' -X "$m" "$@" "$u"
}

RTOK=r3adt0ken-0123456789abcdef0123
WTOK=wr1tet0ken-0123456789abcdef0123
PASS='correct horse battery'
AUTH="$TEST_TMP/auth"
{
	echo "# arca serve credentials"
	echo
	echo "bearer $RTOK read"
	echo "  bearer $WTOK write"
	htpasswd -nbB -C 5 alice "$PASS" | sed '/^$/d'
} >"$AUTH"
BR=(-H "Authorization: Bearer $RTOK")
BW=(-H "Authorization: Bearer $WTOK")

# ---- bad auth files: exit 2, FILE:LINE ---------------------------------
bad_auth() { # bad_auth NAME LINE CONTENT... : line LINE is the bad one
	local name=$1 line=$2 f="$TEST_TMP/bad_$1"
	shift 2
	printf '%s\n' "$@" >"$f"
	run timeout 20 "$ARCA" serve --store "$ARCA_DIR" --listen 127.0.0.1:0 --auth "$f"
	check_rc "badauth__${name}_exit_2" 2
	assert_contains "badauth__${name}_names_file_line" "$ERR" "$f:$line: "
	assert_eq "badauth__${name}_one_line" 1 "$(printf '%s\n' "$ERR" | wc -l)"
	case $ERR in *"$RTOK"*|*"$WTOK"*) fail "badauth__${name}_token_echoed" "$ERR" ;; esac
}
bad_auth scope 3 "# c" "bearer $RTOK read" "bearer $WTOK admin"
bad_auth fields 2 "bearer $RTOK read" "bearer $WTOK"
bad_auth short_token 1 "bearer abc write"
bad_auth token_chars 1 'bearer abc$def0123456789abcdef write'
bad_auth same_token 2 "bearer $RTOK read" "bearer $RTOK write"
bad_auth md5_hash 1 'bob:$apr1$abc$0123456789abcdefghijk.'
bad_auth bad_bcrypt 1 'bob:$2y$05$tooshort'
bad_auth garbage 2 "bearer $RTOK read" "this is not a credential"
run timeout 20 "$ARCA" serve --store "$ARCA_DIR" --listen 127.0.0.1:0 --auth "$TEST_TMP/absent"
check_rc "badauth__missing_file_exit_2" 2
assert_contains "badauth__missing_file_named" "$ERR" "--auth $TEST_TMP/absent"
: >"$TEST_TMP/empty_auth"
run timeout 20 "$ARCA" serve --store "$ARCA_DIR" --listen 127.0.0.1:0 --auth "$TEST_TMP/empty_auth"
check_rc "badauth__no_credentials_exit_2" 2
run timeout 20 "$ARCA" serve --allow-unauthenticated-reads
check_rc "usage__unauth_reads_needs_auth" 2

# ---- tokens and users ------------------------------------------------------
start_server auth --store "$ARCA_DIR" --auth "$AUTH" --access-log "$TEST_TMP/access.log" ||
	{ fail "auth__started"; finish; }
U=$SRV_URL
head -c 5000 /dev/urandom >blob
d=$(sha blob)
ac=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef

assert_eq "auth__put_anonymous_401" 401 "$(code PUT "$U/cas/$d" --data-binary @blob)"
hdr=$("${C[@]}" -D - -o /dev/null "$U/cas/$d" | tr -d '\r')
assert_contains "auth__401_www_authenticate" "$hdr" 'WWW-Authenticate: Bearer realm="arca", Basic realm="arca"'
assert_eq "auth__get_anonymous_401" 401 "$(code GET "$U/cas/$d")"
assert_eq "auth__status_anonymous_401" 401 "$(code GET "$U/status")"
assert_eq "auth__put_read_token_403" 403 "$(code PUT "$U/cas/$d" "${BR[@]}" --data-binary @blob)"
assert_eq "auth__put_write_token_200" 200 "$(code PUT "$U/cas/$d" "${BW[@]}" --data-binary @blob)"
assert_eq "auth__get_read_token_200" 200 "$(code GET "$U/cas/$d" "${BR[@]}")"
assert_files_eq "auth__get_read_token_bytes" blob "$TEST_TMP/body"
assert_eq "auth__head_read_token_200" 200 "$(code HEAD "$U/cas/$d" "${BR[@]}" -I)"
assert_eq "auth__status_read_token_200" 200 "$(code GET "$U/status" "${BR[@]}")"
assert_eq "auth__scheme_case_insensitive" 200 "$(code GET "$U/cas/$d" -H "Authorization: bearer $RTOK")"
assert_eq "auth__get_write_token_200" 200 "$(code GET "$U/cas/$d" "${BW[@]}")"
assert_eq "auth__ac_put_write_200" 200 "$(code PUT "$U/ac/$ac" "${BW[@]}" --data-binary @blob)"
assert_eq "auth__delete_read_token_403" 403 "$(code DELETE "$U/ac/$ac" "${BR[@]}")"
assert_eq "auth__post_read_token_403" 403 "$(code POST "$U/cas/$d" "${BR[@]}" --data-binary @blob)"
# The batch question is a read (on a server without /v1 yet: whatever
# the route says, but neither 401 nor 403).
c=$(code POST "$U/v1/blobs:missing" "${BR[@]}" -d '{"digests": []}')
case $c in 401|403) fail "auth__blobs_missing_is_a_read" "status $c" ;; *) pass "auth__blobs_missing_is_a_read" ;; esac
c=$(code GET "$U/healthz")
case $c in 401|403) fail "auth__healthz_open" "status $c" ;; *) pass "auth__healthz_open" ;; esac
# Wrong tokens, all 401: another, one character off at the end (the
# comparison is of digests, CRYPTO_memcmp over every token), a prefix,
# the token with more after it, empty, and junk.
wrong=""
for t in "nottherighttoken0123456789" "${RTOK%?}x" "${RTOK%?????}" "${WTOK}0" "" 'a b'; do
	c=$(code GET "$U/cas/$d" -H "Authorization: Bearer $t")
	[ "$c" = 401 ] || wrong="$wrong '$t':$c"
done
assert_eq "auth__wrong_tokens_401" "" "$wrong"
# htpasswd user (bcrypt): may write; wrong password and unknown user 401.
head -c 3000 /dev/urandom >blob2
d2=$(sha blob2)
assert_eq "auth__basic_put_200" 200 "$(code PUT "$U/cas/$d2" -u "alice:$PASS" --data-binary @blob2)"
assert_eq "auth__basic_get_200" 200 "$(code GET "$U/cas/$d2" -u "alice:$PASS")"
assert_files_eq "auth__basic_get_bytes" blob2 "$TEST_TMP/body"
assert_eq "auth__basic_wrong_password_401" 401 "$(code GET "$U/cas/$d2" -u "alice:${PASS}x")"
assert_eq "auth__basic_unknown_user_401" 401 "$(code GET "$U/cas/$d2" -u "bob:$PASS")"
# A failure is not remembered as a success: the same wrong password twice.
assert_eq "auth__basic_wrong_twice_401" 401 "$(code GET "$U/cas/$d2" -u "alice:${PASS}x")"
# After a wrong password the right one still works (the cache of good
# checks is not poisoned), many times over (cached: no bcrypt each).
ok=0
for i in $(seq 20); do
	[ "$(code GET "$U/cas/$d2" -u "alice:$PASS")" = 200 ] && ok=$((ok + 1))
done
assert_eq "auth__basic_repeated_200" 20 "$ok"
assert_eq "auth__basic_wrong_after_cached_401" 401 "$(code GET "$U/cas/$d2" -u "alice:${PASS%?}")"

# A refused upload is answered at once, its body never read: headers
# announcing 1 GiB, no body sent; 401 comes back and the connection is
# closed (libmicrohttpd drops an early-answered request's body).
port=${U##*:}
out=$(timeout 20 python3 - "$port" "$d" <<'EOF'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(("PUT /cas/%s HTTP/1.1\r\nHost: x\r\nContent-Length: 1073741824\r\n\r\n"
           % sys.argv[2]).encode() + b"x" * 65536)
s.settimeout(10)
t0 = time.time()
data = b""
try:
    while True:
        b = s.recv(4096)
        if not b:
            break
        data += b
except socket.timeout:
    print("no close")
print(data.split(b"\r\n")[0].decode(), "closed" if time.time() - t0 < 10 else "open")
EOF
)
assert_contains "auth__big_upload_401_at_once" "$out" "HTTP/1.1 401"
assert_contains "auth__big_upload_connection_closed" "$out" "closed"
stop_server TERM
log=$(cat "$TEST_TMP/access.log" "$SRV_ERR")
assert_contains "auth__log_has_401" "$log" "PUT /cas/$d 401 in=0 "
assert_contains "auth__log_has_403" "$log" "PUT /cas/$d 403 in=0 "
assert_not_contains "auth__log_no_read_token" "$log" "$RTOK"
assert_not_contains "auth__log_no_write_token" "$log" "$WTOK"
assert_not_contains "auth__log_no_password" "$log" "$PASS"
assert_not_contains "auth__log_no_authorization" "$log" "Authorization"
assert_not_contains "auth__log_no_basic_base64" "$log" "$(printf 'alice:%s' "$PASS" | base64)"

# ---- --allow-unauthenticated-reads -------------------------------------
start_server ro --store "$ARCA_DIR" --auth "$AUTH" --allow-unauthenticated-reads ||
	fail "unauth_reads__started"
U=$SRV_URL
assert_eq "unauth_reads__get_200" 200 "$(code GET "$U/cas/$d")"
assert_files_eq "unauth_reads__get_bytes" blob "$TEST_TMP/body"
assert_eq "unauth_reads__head_200" 200 "$(code HEAD "$U/cas/$d" -I)"
assert_eq "unauth_reads__status_200" 200 "$(code GET "$U/status")"
assert_eq "unauth_reads__put_401" 401 "$(code PUT "$U/cas/$d" --data-binary @blob)"
assert_eq "unauth_reads__delete_401" 401 "$(code DELETE "$U/ac/$ac")"
assert_eq "unauth_reads__put_read_token_403" 403 "$(code PUT "$U/cas/$d" "${BR[@]}" --data-binary @blob)"
assert_eq "unauth_reads__wrong_token_still_401" 401 "$(code GET "$U/cas/$d" -H "Authorization: Bearer ${RTOK%?}x")"
assert_eq "unauth_reads__put_write_token_200" 200 "$(code PUT "$U/cas/$d" "${BW[@]}" --data-binary @blob)"
stop_server TERM

# ---- TLS ----------------------------------------------------------------
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
	-addext subjectAltName=IP:127.0.0.1 -keyout "$TEST_TMP/key.pem" \
	-out "$TEST_TMP/cert.pem" 2>/dev/null || fail "tls__make_cert"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
	-out "$TEST_TMP/other_key.pem" 2>/dev/null || fail "tls__make_other_key"
run timeout 20 "$ARCA" serve --store "$ARCA_DIR" --listen 127.0.0.1:0 \
	--tls-cert "$TEST_TMP/cert.pem" --tls-key "$TEST_TMP/other_key.pem"
check_rc "tls__wrong_key_exit_2" 2
assert_contains "tls__wrong_key_says_so" "$ERR" "--tls-key $TEST_TMP/other_key.pem: not the key of the certificate"
assert_eq "tls__wrong_key_one_line" 1 "$(printf '%s\n' "$ERR" | wc -l)"
run timeout 20 "$ARCA" serve --store "$ARCA_DIR" --listen 127.0.0.1:0 \
	--tls-cert "$AUTH" --tls-key "$TEST_TMP/key.pem"
check_rc "tls__not_a_cert_exit_2" 2
assert_contains "tls__not_a_cert_says_so" "$ERR" "--tls-cert $AUTH: no PEM certificate"
run timeout 20 "$ARCA" serve --tls-cert "$TEST_TMP/cert.pem"
check_rc "tls__cert_without_key_exit_2" 2

start_server tls --store "$ARCA_DIR" --auth "$AUTH" \
	--tls-cert "$TEST_TMP/cert.pem" --tls-key "$TEST_TMP/key.pem" || fail "tls__started"
U=$SRV_URL
assert_contains "tls__listening_https" "$U" "https://127.0.0.1:"
TC=(--cacert "$TEST_TMP/cert.pem")
head -c 300000 /dev/urandom >big
db=$(sha big)
assert_eq "tls__put_200" 200 "$(code PUT "$U/cas/$db" "${TC[@]}" "${BW[@]}" --data-binary @big)"
assert_eq "tls__get_200" 200 "$(code GET "$U/cas/$db" "${TC[@]}" "${BR[@]}")"
assert_files_eq "tls__round_trip_bytes" big "$TEST_TMP/body"
assert_eq "tls__basic_over_tls_200" 200 "$(code GET "$U/cas/$db" "${TC[@]}" -u "alice:$PASS")"
assert_eq "tls__anonymous_401" 401 "$(code GET "$U/cas/$db" "${TC[@]}")"
# Without --cacert the self-signed certificate is not trusted.
check_fails "tls__unknown_ca_refused" "${C[@]}" -f -o /dev/null "$U/cas/$db" "${BR[@]}"
check_fails "tls__plain_http_refused" "${C[@]}" -f -o /dev/null \
	"http://127.0.0.1:${U##*:}/cas/$db" "${BR[@]}"
stop_server TERM

# ---- limits ---------------------------------------------------------------
start_server limits --store "$ARCA_DIR" --timeout 2s --max-connections-per-ip 3 ||
	fail "limits__started"
U=$SRV_URL
port=${U##*:}
# Slowloris: one header byte a second never leaves the connection idle
# for --timeout, but its headers take longer than that: cut within
# --timeout (+ the watchdog's 100 ms), while other clients are served.
out=$(timeout 30 python3 - "$port" <<'EOF'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(1.0)
t0 = time.time()
req = b"GET /status HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 30
for b in req:
    try:
        s.send(bytes([b]))
        if s.recv(100) == b"":
            print("cut after %.1f s" % (time.time() - t0))
            sys.exit(0)
    except socket.timeout:
        pass
    except OSError:
        print("cut after %.1f s" % (time.time() - t0))
        sys.exit(0)
print("not cut after %.1f s" % (time.time() - t0))
EOF
)
case $out in
"cut after "[1-3].*) pass "limits__slowloris_cut_within_timeout" ;;
*) fail "limits__slowloris_cut_within_timeout" "$out" ;;
esac
assert_eq "limits__served_after_slowloris" 200 "$(code GET "$U/status")"
# --max-connections-per-ip 3: a fourth connection from 127.0.0.1 is
# refused at accept; once one closes, curl is served again.
out=$(timeout 30 python3 - "$port" <<'EOF'
import socket, subprocess, sys, time
port = int(sys.argv[1])
url = "http://127.0.0.1:%d/status" % port
held = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
time.sleep(0.3)
def curl():
    r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                        "--max-time", "10", url], capture_output=True, text=True)
    return r.stdout
print("fourth=" + curl())
held.pop().close()
time.sleep(0.3)
print("after=" + curl())
EOF
)
assert_contains "limits__per_ip_fourth_refused" "$out" "fourth=000"
assert_contains "limits__per_ip_served_after_close" "$out" "after=200"
# A 100 KiB header is over the 64 KiB per-connection memory: libmicrohttpd
# answers 431 and closes.
out=$(timeout 20 python3 - "$port" <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /status HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 102400 + b"\r\n\r\n")
s.settimeout(10)
print(s.recv(100).split(b"\r\n")[0].decode())
EOF
)
assert_eq "limits__big_header_431" "HTTP/1.1 431 Request Header Fields Too Large" "$out"
stop_server TERM

finish
