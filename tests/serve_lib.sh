# tests/serve_lib.sh — start and stop `arca serve` in the shell tests.
# Source it after tests/lib.sh.
#
#   start_server NAME [ARGS...]  start `arca serve --listen 127.0.0.1:0
#                                ARGS` (killed after 300 s by a watchdog
#                                if still running), its stderr in
#                                $TEST_TMP/NAME.err; waits (at most 10 s)
#                                for the bound address and sets SRV_PID
#                                and SRV_URL (http://127.0.0.1:PORT, or
#                                https:// when it serves TLS).
#                                Returns 1 if it did not come up.
#   stop_server [SIGNAL]         send SIGNAL (default TERM) to $SRV_PID and
#                                wait for it; sets SRV_RC.
#
# Servers are killed by PID on exit; never by name.

SRV_PIDS=""
cleanup_servers() {
	local p
	for p in $SRV_PIDS; do
		kill -9 "$p" 2>/dev/null
	done
	cleanup_test_tmp
}
trap cleanup_servers EXIT

start_server() {
	local name=$1 n=0 port=""
	shift
	SRV_ERR="$TEST_TMP/$name.err"
	: >"$SRV_ERR"
	"$ARCA" serve --listen 127.0.0.1:0 "$@" 2>"$SRV_ERR" &
	SRV_PID=$!
	# The watchdog ends with the server (tail --pid), or kills it.
	(timeout 300 tail --pid="$SRV_PID" -f /dev/null ||
		kill -9 "$SRV_PID") >/dev/null 2>&1 &
	disown $!
	SRV_PIDS="$SRV_PIDS $SRV_PID"
	while [ $n -lt 200 ]; do
		port=$(sed -n 's|^arca serve: listening on https\{0,1\}://127\.0\.0\.1:\([0-9][0-9]*\)$|\1|p' \
			"$SRV_ERR" | head -n1)
		[ -n "$port" ] && break
		kill -0 "$SRV_PID" 2>/dev/null || break
		sleep 0.05
		n=$((n + 1))
	done
	if [ -z "$port" ]; then
		echo "start_server $name: no 'listening on' line:" >&2
		cat "$SRV_ERR" >&2
		return 1
	fi
	SRV_URL="http://127.0.0.1:$port"
	# With --tls-cert the server says https://.
	grep -q '^arca serve: listening on https://' "$SRV_ERR" &&
		SRV_URL="https://127.0.0.1:$port"
	return 0
}

stop_server() {
	kill -"${1:-TERM}" "$SRV_PID" 2>/dev/null
	wait "$SRV_PID"
	SRV_RC=$?
}
