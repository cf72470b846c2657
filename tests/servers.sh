# Real servers for the remote-tier tests, sourced after tests/lib.sh:
# each is started on a free 127.0.0.1 port, remembered in PIDS and killed
# by PID when the test exits (stop_servers, run by the EXIT trap set here;
# a test that needs more at exit defines on_exit, which runs first).
#
#   free_port                    print a port nothing listens on
#   start_redis [ARGS...]        redis-server (ARGS added to its command
#                                line); sets PORT and REDIS_PID
#   start_s3 BUCKET [DIR]        tests/s3/server.js (SigV4-checking, keys
#                                from S3_TEST_ACCESS_KEY/S3_TEST_SECRET);
#                                sets S3_PORT and S3_PID
#   start_proxy TARGET MODEFILE  tests/helpers/fault_proxy.py in front of
#                                127.0.0.1:TARGET; sets PROXY_PORT
#   have_s3_server               0 when node and tests/s3/node_modules are
#                                there (scripts/bootstrap installs them)
# A server that does not come up in time stops the test (exit 2).
# shellcheck shell=bash

SERVERS_SRC=${ARCA_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
HELPERS="$SERVERS_SRC/tests/helpers"
PIDS=()

free_port() {
	/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

stop_servers() {
	local p
	if declare -F on_exit >/dev/null; then on_exit; fi
	for p in "${PIDS[@]}"; do
		# A SIGSTOPped server must be able to die.
		kill -CONT "$p" 2>/dev/null
		kill "$p" 2>/dev/null
	done
	wait 2>/dev/null
	cleanup_test_tmp
}
trap stop_servers EXIT

# servers_wait TRIES COMMAND...: run COMMAND every 50 ms until it succeeds.
servers_wait() {
	local tries=$1 i
	shift
	for ((i = 0; i < tries; i++)); do
		"$@" && return 0
		sleep 0.05
	done
	return 1
}

start_redis() {
	PORT=$(free_port)
	redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no \
		--daemonize no "$@" >"$TEST_TMP/redis.$PORT.log" 2>&1 &
	REDIS_PID=$!
	PIDS+=("$REDIS_PID")
	if ! servers_wait 100 redis_up "$PORT"; then
		echo "could not start redis-server (see $TEST_TMP/redis.$PORT.log)" >&2
		exit 2
	fi
}

redis_up() {
	[ "$(redis-cli -p "$1" ping 2>/dev/null)" = PONG ]
}

have_s3_server() {
	command -v node >/dev/null &&
		[ -d "$SERVERS_SRC/tests/s3/node_modules/@20minutes/s3rver" ]
}

start_s3() {
	local bucket=$1 dir=${2:-$TEST_TMP/s3data}
	mkdir -p "$dir"
	rm -f "$TEST_TMP/s3.port"
	node "$SERVERS_SRC/tests/s3/server.js" "$dir" "$TEST_TMP/s3.port" \
		"$bucket" >>"$TEST_TMP/s3.log" 2>&1 &
	S3_PID=$!
	PIDS+=("$S3_PID")
	if ! servers_wait 300 test -s "$TEST_TMP/s3.port"; then
		echo "could not start tests/s3/server.js (see $TEST_TMP/s3.log)" >&2
		exit 2
	fi
	S3_PORT=$(cat "$TEST_TMP/s3.port")
}

start_proxy() {
	rm -f "$TEST_TMP/proxy.port"
	/usr/bin/python3 "$HELPERS/fault_proxy.py" "$TEST_TMP/proxy.port" "$1" \
		"$2" >>"$TEST_TMP/proxy.log" 2>&1 &
	PIDS+=("$!")
	if ! servers_wait 100 test -s "$TEST_TMP/proxy.port"; then
		echo "could not start tests/helpers/fault_proxy.py" >&2
		exit 2
	fi
	PROXY_PORT=$(cat "$TEST_TMP/proxy.port")
}
