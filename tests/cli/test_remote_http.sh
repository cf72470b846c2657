#!/usr/bin/env bash
# The http:// tier (src/lib/http.c) against a real `arca serve` (started
# here on a free 127.0.0.1 port, killed by PID): two client stores
# ("machines") sharing it through config.yaml's tiers:
#  - a stage run on A is restored on B without running, byte-identical;
#    the routes the tier chose (/v1 when the server says X-Arca-Api: 1,
#    else bazel-remote's /cas/ and /ac/) are the access log's;
#  - arca remote test passes; push --all and pull go through the tier;
#  - a 64 MiB blob put through A and got on B in bounded memory
#    (/usr/bin/time -f %M), and with its bytes flipped on the way
#    (tests/helpers/fault_proxy.py flip-stream) a miss counted as corrupt;
#  - the server SIGKILLed by a stage of a pipeline: that run and the next
#    complete locally, exit 0, one warning in all;
#  - credentials from the URL: Bearer and Basic sent (a stand-in server
#    that logs the Authorization header and answers 401), a refusal is
#    one warning and the local tier alone, never the token in a message;
#    remote test fails; and, when arca serve has --auth, its write, read
#    and wrong tokens;
#  - with a /v1 server, ?compress=1: the upload is a zstd frame (fewer
#    bytes in, the server's access log says) and reads back identical.
SERVE_LIB=$(cd "$(dirname "$0")/.." && pwd)/serve_lib.sh
. "${ARCA_TEST_LIB:-$(dirname "$0")/../lib.sh}"
. "$SERVE_LIB"

SRC="${ARCA_SRC:-$(dirname "$0")/../..}"
HELPERS="$SRC/tests/helpers"
command -v curl >/dev/null || { fail "curl_installed"; finish; }
[ -x /usr/bin/time ] || { echo "ok - remote_http__skipped (no /usr/bin/time)"; finish; }
unset ARCA_TIERS
# An undeclared stdin that is a pipe or a device makes run skip the cache.
exec </dev/null
MIB=${ARCA_LARGE_MIB:-64}
LIMIT_KIB=$((40 * 1024))
A() { timeout 60 "$ARCA" "$@"; }

start_server srv --store "$TEST_TMP/srv" || { fail "started"; finish; }
URL=$SRV_URL
LOG=$SRV_ERR
# The tier speaks /v1 to a server that says X-Arca-Api: 1, else bazel-
# remote's protocol: which one this server is decides what the log shows.
if curl -s -I --max-time 10 "$URL/status" | tr -d '\r' | grep -qi '^X-Arca-Api: 1$'; then
	CAS=/v1/blobs AC=/v1/actions
else
	CAS=/cas AC=/ac
fi
echo "# server routes: $CAS $AC"

machine() { # machine NAME [URL]: a store whose config.yaml names the tier
	mkdir -p "$TEST_TMP/$1"
	printf 'tiers:\n  - url: "%s"\n    timeout_ms: 20000\n' "${2:-$URL}" \
		>"$TEST_TMP/$1/config.yaml"
}
on() { # on NAME CMD...: arca CMD as machine NAME
	local m=$1
	shift
	ARCA_DIR=$TEST_TMP/$m run A "$@"
}
warnings() { printf '%s\n' "$ERR" | grep -c 'warning'; }

cat >stage.sh <<'EOS'
#!/bin/sh
echo "run $1" >>"$COUNT"
tr a-z A-Z <in.txt >"out-$1.txt"
EOS
chmod +x stage.sh
echo "shared over http" >in.txt
export COUNT="$TEST_TMP/count"
runs() { if [ -f "$COUNT" ]; then wc -l <"$COUNT" | tr -d ' '; else echo 0; fi; }
RUN=(run --stage upper --in in.txt --out out-1.txt -- ./stage.sh 1)

# ---- a stage on A, restored on B ----------------------------------------
machine A
machine B
on A "${RUN[@]}"
check_rc "share__a_exit_0" 0
assert_not_contains "share__a_no_warning" "$ERR" "warning"
cp out-1.txt expected.txt
rm -f out-1.txt
on B "${RUN[@]}"
check_rc "share__b_exit_0" 0
assert_eq "share__b_restored_without_running" 1 "$(runs)"
assert_files_eq "share__b_output_identical" expected.txt out-1.txt
assert_contains "share__probe_first" "$(cat "$LOG")" \
	"HEAD /v1/blobs/e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
assert_contains "share__action_put_route" "$(cat "$LOG")" "PUT $AC/"
assert_contains "share__action_get_route" "$(cat "$LOG")" "GET $AC/"
assert_contains "share__blob_put_route" "$(cat "$LOG")" "PUT $CAS/"
on B stats --json
hits=$(printf '%s\n' "$OUT" | /usr/bin/python3 -c \
	'import json, sys; print(json.load(sys.stdin)["tiers"][0]["hits"])')
assert_eq "share__b_one_tier_hit" 1 "$hits"

on B remote test
check_rc "remote_test__exit_0" 0
assert_contains "remote_test__get_ok" "$OUT" "get     ok"
run A remote test "$URL/some/instance"
check_rc "remote_test__instance_exit_0" 0
run A remote test "http://127.0.0.1:1"
check_rc "remote_test__refused_exit_6" 6
run A remote test "http://127.0.0.1:$((${URL##*:}))/bad%2Finstance"
check_rc "remote_test__bad_instance_exit_6" 6
assert_contains "remote_test__bad_instance_says_why" "$OUT$ERR" "instance"

# ---- push --all on E, pull on F -----------------------------------------
machine E
machine F
# Bytes no other machine made: push has blobs to send.
cat >stage2.sh <<'EOS'
#!/bin/sh
echo "run 2" >>"$COUNT"
{ echo "made on E only"; cat in.txt; } >out-2.txt
EOS
chmod +x stage2.sh
RUN2=(run --stage lower --in in.txt --out out-2.txt -- ./stage2.sh)
on E --no-remote "${RUN2[@]}"
check_rc "push__e_local_run_exit_0" 0
before=$(runs)
on E push --all
check_rc "push__exit_0" 0
assert_contains "push__counts" "$OUT" "1 entries pushed"
assert_not_contains "push__sent_blobs" "$OUT" " 0 blobs sent"
on E push --all
assert_contains "push__second_sends_no_blob" "$OUT" "0 blobs sent"
KEY=$(ARCA_DIR=$TEST_TMP/E "$ARCA" ls --json | sed -n 's/.*"key": "\([0-9a-f]\{64\}\)".*/\1/p' | head -1)
assert_eq "push__key_found" 64 "${#KEY}"
on F pull "$KEY"
check_rc "pull__exit_0" 0
assert_contains "pull__counts" "$OUT" "pulled 1 entries"
rm -f out-2.txt
on F --no-remote "${RUN2[@]}"
check_rc "pull__local_hit_exit_0" 0
assert_eq "pull__local_hit_without_running" "$before" "$(runs)"

# ---- a large blob, bounded memory; flipped on the way -------------------
peak() { # peak STORE CMD...: PEAK = the peak RSS in KiB
	local store=$1
	shift
	ARCA_DIR=$TEST_TMP/$store timeout 300 /usr/bin/time -f %M \
		-o "$TEST_TMP/peak" "$ARCA" "$@" >"$OUT_FILE" 2>"$ERR_FILE"
	RC=$?
	OUT=$(cat "$OUT_FILE")
	ERR=$(cat "$ERR_FILE")
	PEAK=$(tail -n 1 "$TEST_TMP/peak")
}
assert_peak() {
	if [ "${PEAK:-999999999}" -lt "$LIMIT_KIB" ]; then
		pass "$1 (peak RSS ${PEAK} KiB, ${MIB} MiB blob)"
	else
		fail "$1" "peak RSS ${PEAK} KiB, limit $LIMIT_KIB KiB, ${MIB} MiB blob"
	fi
}
head -c $((MIB << 20)) /dev/urandom >big.bin
machine G
machine H
peak G put big.bin
check_rc "large__put_exit_0" 0
D=$OUT
assert_peak "large__put_bounded"
assert_contains "large__put_route" "$(cat "$LOG")" "PUT $CAS/$D 20"
peak H get "$D" -o got.bin
check_rc "large__get_exit_0" 0
assert_files_eq "large__get_identical" big.bin got.bin
assert_peak "large__get_bounded"
rm -f got.bin

# The proxy flips bodies framed by Content-Length; a /v1 server may send
# the blob as a chunked zstd stream, which it passes as it is.
if [ "$CAS" = /cas ]; then
	MODE="$TEST_TMP/proxy.mode"
	echo flip-stream >"$MODE"
	/usr/bin/python3 "$HELPERS/fault_proxy.py" "$TEST_TMP/proxy.port" "${URL##*:}" \
		"$MODE" &
	PROXY_PID=$!
	SRV_PIDS="$SRV_PIDS $PROXY_PID"
	for _ in $(seq 100); do [ -s "$TEST_TMP/proxy.port" ] && break; sleep 0.05; done
	machine I "http://127.0.0.1:$(cat "$TEST_TMP/proxy.port")"
	on I get "$D" -o got.bin
	check_rc "flipped__get_is_a_miss" 3
	assert_eq "flipped__no_output" 0 "$([ -e got.bin ] && echo 1 || echo 0)"
	on I stats --json
	corrupt=$(printf '%s\n' "$OUT" | /usr/bin/python3 -c \
		'import json, sys; print(json.load(sys.stdin)["tiers"][0]["corrupt"])')
	assert_eq "flipped__counted_corrupt" 1 "$corrupt"
	on I get --no-remote "$D" -o "$TEST_TMP/promoted.bin"
	check_rc "flipped__nothing_promoted" 3
	kill "$PROXY_PID" 2>/dev/null
else
	echo "ok - flipped__skipped (a /v1 server: zstd chunked answers are not flipped by the proxy)"
fi

# ---- ?compress=1 (a /v1 server only) ------------------------------------
if [ "$CAS" = /v1/blobs ]; then
	machine Z "$URL?compress=1"
	machine Y
	{ seq 1 400000; seq 1 400000; } >text.bin
	on Z put text.bin
	check_rc "compress__put_exit_0" 0
	DZ=$OUT
	in_bytes=$(sed -n "s|.* PUT /v1/blobs/$DZ 20[01] in=\([0-9]*\) .*|\1|p" "$LOG" | tail -n1)
	size=$(stat -c %s text.bin)
	if [ -n "$in_bytes" ] && [ "$in_bytes" -lt $((size / 2)) ]; then
		pass "compress__sent_compressed ($in_bytes of $size bytes)"
	else
		fail "compress__sent_compressed" "in=${in_bytes:-none} for $size bytes"
	fi
	on Y get "$DZ" -o text2.bin
	check_rc "compress__get_exit_0" 0
	assert_files_eq "compress__identical" text.bin text2.bin
else
	echo "ok - compress__skipped (not a /v1 server: uploads are sent as they are)"
fi

# ---- credentials: Bearer and Basic sent, a refusal is one warning -------
cat >"$TEST_TMP/refuse.py" <<'EOP'
import http.server, sys
log = open(sys.argv[2], "a", buffering=1)
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def answer(self):
        log.write("%s %s %s\n" % (self.command, self.path,
                                  self.headers.get("Authorization", "-")))
        n = int(self.headers.get("Content-Length", "0") or 0)
        if n:
            self.rfile.read(n)
        body = b"unauthorized\n"
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Bearer realm="arca", Basic realm="arca"')
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = answer
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1] + ".tmp", "w").write(str(s.server_port))
import os; os.rename(sys.argv[1] + ".tmp", sys.argv[1])
s.serve_forever()
EOP
timeout 120 /usr/bin/python3 "$TEST_TMP/refuse.py" "$TEST_TMP/refuse.port" \
	"$TEST_TMP/refuse.log" &
REFUSE_PID=$!
SRV_PIDS="$SRV_PIDS $REFUSE_PID"
for _ in $(seq 100); do [ -s "$TEST_TMP/refuse.port" ] && break; sleep 0.05; done
RP=$(cat "$TEST_TMP/refuse.port")
machine J "http://:wrong-token-123@127.0.0.1:$RP"
rm -f out-1.txt
before=$(runs)
on J "${RUN[@]}"
check_rc "auth__wrong_token_run_exit_0" 0
assert_eq "auth__wrong_token_ran_locally" "$((before + 1))" "$(runs)"
assert_files_eq "auth__wrong_token_output" expected.txt out-1.txt
assert_eq "auth__wrong_token_one_warning" 1 "$(warnings)"
assert_contains "auth__wrong_token_warns" "$ERR" "going on without this tier"
assert_contains "auth__wrong_token_says_401" "$ERR" "HTTP 401"
assert_not_contains "auth__token_not_logged" "$ERR" "wrong-token-123"
assert_contains "auth__bearer_sent" "$(cat "$TEST_TMP/refuse.log")" \
	"Bearer wrong-token-123"
on J remote test
check_rc "auth__wrong_token_remote_test_exit_6" 6
assert_not_contains "auth__remote_test_token_not_shown" "$OUT$ERR" "wrong-token-123"
run A remote test "http://alice:s%3Acret@127.0.0.1:$RP"
check_rc "auth__basic_refused_exit_6" 6
assert_contains "auth__basic_sent" "$(cat "$TEST_TMP/refuse.log")" \
	"Basic $(printf 'alice:s:cret' | base64)"
assert_not_contains "auth__password_not_shown" "$OUT$ERR" "cret"
assert_contains "auth__user_shown" "$OUT$ERR" "http://alice@127.0.0.1:$RP"
kill "$REFUSE_PID" 2>/dev/null

# ---- arca serve --auth: write, read and wrong tokens ---------------------
if "$ARCA" serve --help 2>&1 | grep -q -- '--auth FILE'; then
	WT=0123456789abcdef0123456789abcdef RT=fedcba9876543210fedcba9876543210
	printf 'bearer %s write\nbearer %s read\n' "$WT" "$RT" >"$TEST_TMP/auth"
	MAIN_PID=$SRV_PID MAIN_ERR=$SRV_ERR
	start_server auth --store "$TEST_TMP/srv-auth" --auth "$TEST_TMP/auth" ||
		fail "auth__started"
	AU=${SRV_URL#http://}
	machine AW "http://:$WT@$AU"
	machine AR "http://:$RT@$AU"
	machine AX "http://:not-the-token-0000000000@$AU"
	RUN4=(run --stage auth --in in.txt --out out-4.txt -- ./stage.sh 4)
	on AW "${RUN4[@]}"
	check_rc "serve_auth__write_token_exit_0" 0
	assert_not_contains "serve_auth__write_token_no_warning" "$ERR" "warning"
	rm -f out-4.txt
	before=$(runs)
	on AR "${RUN4[@]}"
	check_rc "serve_auth__read_token_exit_0" 0
	assert_eq "serve_auth__read_token_restored" "$before" "$(runs)"
	assert_files_eq "serve_auth__read_token_output" expected.txt out-4.txt
	on AR run --stage auth2 --in in.txt --out out-5.txt -- ./stage.sh 5
	check_rc "serve_auth__read_token_put_exit_0" 0
	# After an answered lookup a refused write is counted, not said
	# (store.c): the server's 403 and the tier's error count show it.
	assert_contains "serve_auth__read_token_put_403" "$(cat "$SRV_ERR")" " 403 "
	on AR stats --json
	errs=$(printf '%s\n' "$OUT" | /usr/bin/python3 -c \
		'import json, sys; print(json.load(sys.stdin)["tiers"][0]["errors"])')
	assert_eq "serve_auth__read_token_put_counted" 1 "$([ "${errs:-0}" -ge 1 ] && echo 1 || echo 0)"
	rm -f out-4.txt
	on AX "${RUN4[@]}"
	check_rc "serve_auth__wrong_token_exit_0" 0
	assert_eq "serve_auth__wrong_token_ran_locally" "$((before + 2))" "$(runs)"
	assert_eq "serve_auth__wrong_token_one_warning" 1 "$(warnings)"
	assert_contains "serve_auth__wrong_token_401" "$ERR" "HTTP 401"
	assert_not_contains "serve_auth__token_not_logged" "$ERR" "not-the-token"
	assert_not_contains "serve_auth__server_log_no_token" "$(cat "$SRV_ERR")" "$WT"
	stop_server
	SRV_PID=$MAIN_PID SRV_ERR=$MAIN_ERR
else
	echo "ok - serve_auth__skipped (arca serve has no --auth yet)"
fi

# ---- the server SIGKILLed by a stage of a pipeline ----------------------
# On K: stage 1 restored from the server; the "kill" stage SIGKILLs it
# (the lookup before was a miss, the write-through after finds it dead);
# stage 3 then finds nobody. Every run exits 0, computed locally.
cat >kill.sh <<EOS
#!/bin/sh
kill -9 $SRV_PID
for _ in \$(seq 100); do
	curl -s -o /dev/null --max-time 1 "$URL/status" || break
	sleep 0.05
done
echo "run kill" >>"\$COUNT"
echo killed >out-k.txt
EOS
chmod +x kill.sh
machine K
rm -f out-1.txt
before=$(runs)
on K "${RUN[@]}"
check_rc "kill__stage1_restored_exit_0" 0
assert_eq "kill__stage1_not_run" "$before" "$(runs)"
on K run --stage kill --in in.txt --out out-k.txt -- ./kill.sh
check_rc "kill__killing_stage_exit_0" 0
assert_eq "kill__killing_stage_one_warning" 1 "$(warnings)"
assert_contains "kill__warning_names_tier" "$ERR" "tier $URL"
w=$(warnings)
assert_eq "kill__server_dead" "" "$(curl -s --max-time 2 "$URL/status")"
on K run --stage after --in in.txt --out out-3.txt -- ./stage.sh 3
check_rc "kill__after_exit_0" 0
assert_eq "kill__after_ran_locally" "$((before + 2))" "$(runs)"
# The breaker that opened said so once: the next run skips the tier
# quietly (store.c, open_remotes()), so one warning for the pipeline.
assert_eq "kill__pipeline_one_warning" 1 "$((w + $(warnings)))"
assert_files_eq "kill__after_output" expected.txt out-3.txt

finish
