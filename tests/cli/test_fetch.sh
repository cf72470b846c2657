#!/usr/bin/env bash
# arca fetch: URL inputs against a real HTTP server (tests/http_server.py)
# started here on 127.0.0.1, whose request log lets us count requests.
. "${ARCA_TEST_LIB:-$(dirname "$0")/../lib.sh}" || exit 2

SERVER_PY=${ARCA_SRC:+$ARCA_SRC/tests/http_server.py}
[ -n "$SERVER_PY" ] || SERVER_PY=$(dirname "$0")/../http_server.py
# No proxy between arca and the loopback server.
unset http_proxy HTTP_PROXY https_proxy HTTPS_PROXY all_proxy ALL_PROXY

SRV=$TEST_TMP/srv
ROOT=$SRV/root
LOG=$SRV/log
SERVER_PID=
PORT=
U=
mkdir -p "$ROOT"

start_server() {
	local i
	rm -f "$SRV/port"
	python3 "$SERVER_PY" --root "$ROOT" --port-file "$SRV/port" \
		--log "$LOG" --lifetime 300 &
	SERVER_PID=$!
	for i in $(seq 100); do   # at most 10 s
		[ -s "$SRV/port" ] && break
		sleep 0.1
	done
	PORT=$(cat "$SRV/port" 2>/dev/null)
	if [ -z "$PORT" ]; then
		echo "cannot start $SERVER_PY" >&2
		exit 2
	fi
	U=http://127.0.0.1:$PORT
}

stop_server() {
	if [ -n "$SERVER_PID" ]; then
		kill "$SERVER_PID" 2>/dev/null
		wait "$SERVER_PID" 2>/dev/null
		SERVER_PID=
	fi
}
trap 'stop_server; cleanup_test_tmp' EXIT

# Every arca call is bounded in time.
fetch() {
	timeout 60 "$ARCA" fetch "$@"
}

# Number of requests the server logged for PATH.
requests() {
	awk -F'\t' -v p="$1" '$2 == p' "$LOG" | wc -l | tr -d ' '
}

# The last logged request for PATH: "STATUS<tab>IF-NONE-MATCH<tab>IMS".
last_request() {
	awk -F'\t' -v p="$1" '$2 == p { l = $3 "\t" $4 "\t" $5 } END { print l }' "$LOG"
}

blobs() {
	"$ARCA" info --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["blobs"])'
}

sha() {
	sha256sum "$1" | cut -d' ' -f1
}

start_server

# ---- download, fresh hit, revalidation, change ---------------------------

printf 'first version\n' >"$ROOT/a.txt"
A1=$(sha "$ROOT/a.txt")

run fetch "$U/a.txt"
check_rc "fetch__download_exit_0" 0
assert_eq "fetch__download_prints_digest" "$A1" "$OUT"
assert_contains "fetch__download_says_so" "$ERR" "arca: fetch $U/a.txt: downloaded 14 B (200)"
assert_eq "fetch__download_one_request" 1 "$(requests /a.txt)"

run fetch "$U/a.txt"
check_rc "fetch__fresh_exit_0" 0
assert_eq "fetch__fresh_same_digest" "$A1" "$OUT"
assert_contains "fetch__fresh_says_so" "$ERR" "fresh (fetched "
assert_eq "fetch__fresh_makes_no_request" 1 "$(requests /a.txt)"

# A stage downstream of the URL, counting its executions.
: >"$TEST_TMP/runs"
downstream() {
	"$ARCA" run --stage count --in a.txt --out n.txt -- \
		sh -c 'wc -c <a.txt >n.txt; echo x >>"$0"' "$TEST_TMP/runs" \
		>/dev/null 2>&1
}
run fetch "$U/a.txt" -o a.txt
assert_files_eq "fetch__o_writes_the_body" "$ROOT/a.txt" a.txt
downstream
assert_eq "fetch__downstream_runs_once" 1 "$(wc -l <"$TEST_TMP/runs" | tr -d ' ')"

# The duration syntax of --ttl (docs/cli.md, "Sizes and durations").
run fetch --max-age 1w "$U/a.txt"
check_rc "fetch__max_age_1w_exit_0" 0
assert_contains "fetch__max_age_1w_fresh" "$ERR" "fresh (fetched "
assert_eq "fetch__max_age_1w_no_request" 1 "$(requests /a.txt)"
run fetch --max-age 1.5h "$U/a.txt"
check_rc "fetch__max_age_fraction_exit_0" 0
run fetch --max-age soon "$U/a.txt"
check_rc "fetch__max_age_bad_exit_2" 2
assert_contains "fetch__max_age_bad_named" "$ERR" "--max-age 'soon'"

run fetch --max-age 0 "$U/a.txt" -o a.txt
check_rc "fetch__revalidate_exit_0" 0
assert_eq "fetch__revalidate_same_digest" "$A1" "$OUT"
assert_contains "fetch__revalidate_says_304" "$ERR" "revalidated (304 Not Modified)"
assert_eq "fetch__revalidate_one_request" 2 "$(requests /a.txt)"
last=$(last_request /a.txt)
assert_contains "fetch__revalidate_sends_etag" "$last" "304	\"$A1\"	"
assert_contains "fetch__revalidate_sends_last_modified" "$last" " GMT"
downstream
assert_eq "fetch__revalidate_downstream_hit" 1 "$(wc -l <"$TEST_TMP/runs" | tr -d ' ')"

printf 'second version, longer\n' >"$ROOT/a.txt"
A2=$(sha "$ROOT/a.txt")
run fetch --max-age 0 "$U/a.txt" -o a.txt
check_rc "fetch__changed_exit_0" 0
assert_eq "fetch__changed_new_digest" "$A2" "$OUT"
assert_contains "fetch__changed_says_200" "$ERR" "downloaded 23 B (200)"
assert_eq "fetch__changed_one_request" 3 "$(requests /a.txt)"
assert_files_eq "fetch__changed_o_new_bytes" "$ROOT/a.txt" a.txt
downstream
assert_eq "fetch__changed_downstream_reruns" 2 "$(wc -l <"$TEST_TMP/runs" | tr -d ' ')"

run fetch --max-age 1h "$U/a.txt"
assert_contains "fetch__max_age_unit_fresh" "$ERR" "fresh"
assert_eq "fetch__max_age_unit_no_request" 3 "$(requests /a.txt)"

# ---- --time-bucket -------------------------------------------------------

# A bucket longer than the epoch so far: every moment is in bucket 0.
run fetch --time-bucket 100000d "$U/a.txt"
check_rc "fetch__bucket_exit_0" 0
assert_contains "fetch__bucket_same_bucket_fresh" "$ERR" "fresh"
assert_eq "fetch__bucket_same_bucket_no_request" 3 "$(requests /a.txt)"
# One-second buckets: seconds later it is another bucket (the time is
# simulated with libarca's ARCA_TEST_NOW rather than slept for).
export ARCA_TEST_NOW=$(($(date +%s) + 2))
run fetch --time-bucket 1s "$U/a.txt"
check_rc "fetch__bucket_next_exit_0" 0
assert_contains "fetch__bucket_next_bucket_revalidates" "$ERR" "revalidated"
assert_eq "fetch__bucket_next_bucket_one_request" 4 "$(requests /a.txt)"
unset ARCA_TEST_NOW

run fetch --time-bucket 0 "$U/a.txt"
check_rc "fetch__bucket_zero_is_usage" 2
run fetch --time-bucket 15x "$U/a.txt"
check_rc "fetch__bucket_bad_unit_is_usage" 2
run fetch --max-age 1h --time-bucket 15m "$U/a.txt"
check_rc "fetch__two_rules_is_usage" 2
run fetch --max-age -5 "$U/a.txt"
check_rc "fetch__negative_age_is_usage" 2
assert_eq "fetch__usage_errors_no_request" 4 "$(requests /a.txt)"

# ---- errors without a cached copy ---------------------------------------

run fetch "$U/no-such-file"
check_rc "fetch__404_exit_6" 6
assert_contains "fetch__404_names_url_and_status" "$ERR" "arca: fetch $U/no-such-file: HTTP 404"
assert_eq "fetch__404_prints_nothing" "" "$OUT"

run fetch "$U/status/503"
check_rc "fetch__503_exit_6" 6
assert_contains "fetch__503_says_so" "$ERR" "HTTP 503"

run fetch ftp://127.0.0.1/a.txt
check_rc "fetch__ftp_is_usage" 2
assert_contains "fetch__ftp_message" "$ERR" "only http:// and https://"
run fetch
check_rc "fetch__no_url_is_usage" 2
run fetch --frobnicate "$U/a.txt"
check_rc "fetch__unknown_option_is_usage" 2
run fetch "$U/a.txt" -o ''
check_rc "fetch__empty_o_is_usage" 2

# ---- a transfer cut mid-body ---------------------------------------------

head -c 300000 /dev/urandom >"$ROOT/big.bin"
n_before=$(blobs)
run fetch "$U/cut/big.bin"
check_rc "fetch__cut_exit_6" 6
assert_contains "fetch__cut_names_url" "$ERR" "$U/cut/big.bin"
assert_eq "fetch__cut_prints_nothing" "" "$OUT"
assert_eq "fetch__cut_no_blob" "$n_before" "$(blobs)"
assert_eq "fetch__cut_no_temp_file" "" "$(ls -A "$ARCA_DIR/tmp")"
# No entry: the next fetch asks again (and fails again).
run fetch "$U/cut/big.bin"
check_rc "fetch__cut_again_exit_6" 6
assert_eq "fetch__cut_left_no_entry" 2 "$(requests /cut/big.bin)"
run fetch "$U/big.bin" -o big.bin
check_rc "fetch__after_cut_download_exit_0" 0
assert_eq "fetch__after_cut_digest" "$(sha "$ROOT/big.bin")" "$OUT"
assert_files_eq "fetch__after_cut_exact_bytes" "$ROOT/big.bin" big.bin
assert_eq "fetch__after_cut_one_more_blob" "$((n_before + 1))" "$(blobs)"

# ---- --json ---------------------------------------------------------------

run fetch --json "$U/a.txt"
check_rc "fetch__json_exit_0" 0
if printf '%s' "$OUT" | is_json; then pass "fetch__json_is_json"; else fail "fetch__json_is_json" "$OUT"; fi
assert_eq "fetch__json_fields" "fresh $A2 23" "$(printf '%s' "$OUT" | python3 -c '
import json, sys
o = json.load(sys.stdin)
print(o["status"], o["digest"], o["size"])')"

# ---- the progress bar: on a terminal only ---------------------------------

head -c 8000000 /dev/urandom >"$ROOT/large.bin"
run fetch "$U/large.bin"
assert_not_contains "fetch__no_bar_when_not_a_tty" "$ERR" $'\r'
# The second fetch is fresh (no bar): a new store for the TTY case, which
# script(1) (util-linux) runs on a pseudo-terminal.
fresh_store
if command -v script >/dev/null 2>&1 &&
	script -qec true /dev/null </dev/null >/dev/null 2>&1; then
	script -qec "timeout 60 '$ARCA' fetch '$U/large.bin' >/dev/null" \
		/dev/null </dev/null >"$TEST_TMP/tty" 2>&1
	tty_out=$(cat "$TEST_TMP/tty")
	assert_contains "fetch__bar_on_a_tty" "$tty_out" "fetch large.bin  "
	assert_contains "fetch__bar_total" "$tty_out" "/ 7.6 MiB"
	assert_contains "fetch__bar_erased" "$tty_out" $'\r\033[Karca: fetch '
	assert_contains "fetch__bar_then_result" "$tty_out" "downloaded 7.6 MiB (200)"
else
	echo "skip - fetch__bar_on_a_tty (no script(1) or no pseudo-terminal)"
fi

# ---- the server goes away ------------------------------------------------

fresh_store
printf 'kept\n' >"$ROOT/kept.txt"
run fetch "$U/kept.txt"
K=$OUT
assert_eq "fetch__kept_downloaded" "$(sha "$ROOT/kept.txt")" "$K"
stop_server

run fetch "$U/kept.txt"
check_rc "fetch__down_fresh_still_ok" 0
assert_contains "fetch__down_fresh_needs_no_server" "$ERR" "fresh"

run fetch --max-age 0 "$U/kept.txt" -o kept.out
check_rc "fetch__stale_exit_0" 0
assert_eq "fetch__stale_cached_digest" "$K" "$OUT"
assert_contains "fetch__stale_warns" "$ERR" "arca: warning: fetch $U/kept.txt: server unreachable ("
assert_contains "fetch__stale_says_stale" "$ERR" "; using the cached copy from "
assert_contains "fetch__stale_says_stale_end" "$ERR" "(stale)"
printf 'kept\n' >kept.want
assert_files_eq "fetch__stale_o_cached_bytes" kept.want kept.out

run fetch --max-age 0 --no-stale "$U/kept.txt" -o nostale.out
check_rc "fetch__no_stale_exit_6" 6
assert_contains "fetch__no_stale_names_url" "$ERR" "arca: fetch $U/kept.txt: "
assert_eq "fetch__no_stale_prints_nothing" "" "$OUT"
if [ -e nostale.out ]; then fail "fetch__no_stale_writes_nothing" "nostale.out exists"; else pass "fetch__no_stale_writes_nothing"; fi

run fetch "$U/never.txt"
check_rc "fetch__down_no_copy_exit_6" 6
assert_contains "fetch__down_no_copy_names_url" "$ERR" "arca: fetch $U/never.txt: "
assert_contains "fetch__down_no_copy_says_why" "$ERR" "onnect"

run fetch http://127.0.0.1:1/x
check_rc "fetch__port_1_exit_6" 6
assert_contains "fetch__port_1_message" "$ERR" "arca: fetch http://127.0.0.1:1/x: "

# A server that answers errors: also stale, said as a server error.
start_server
printf 'v\n' >"$ROOT/err.txt"
run fetch "$U/err.txt"
rm "$ROOT/err.txt"
run fetch --max-age 0 "$U/err.txt"
check_rc "fetch__stale_on_404_exit_0" 0
assert_contains "fetch__stale_on_404_warns" "$ERR" "server error (HTTP 404); using the cached copy"

finish
