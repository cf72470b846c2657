#!/usr/bin/env bash
# arca serve's operations routes (docs/server.md, "Operations" and
# "Stats"): /healthz; /readyz 200 on a writable store, 503 with the
# reason on a --read-only server, a store full of pinned entries and a
# read-only file system (root only); GET /v1/stats byte-identical to
# `arca stats --json` (and ?days=N to --days N); /v1/actions?recent=N;
# /metrics checked by promtool (when installed) and by a strict parser
# of the text format 0.0.4, its counters moving after requests.
SERVE_LIB=$(cd "$(dirname "$0")/.." && pwd)/serve_lib.sh
. "${ARCA_TEST_LIB:-$(dirname "$0")/../lib.sh}"
. "$SERVE_LIB"

command -v curl >/dev/null || { fail "curl_installed"; finish; }
C=(curl -s --max-time 30)
# code METHOD URL [curl args...]: the status code; the body in $TEST_TMP/body
code() {
	local m=$1 u=$2
	shift 2
	"${C[@]}" -o "$TEST_TMP/body" -D "$TEST_TMP/headers" -w '%{http_code}' \
		-X "$m" "$@" "$u"
}
body() { cat "$TEST_TMP/body"; }
header() { tr -d '\r' <"$TEST_TMP/headers" | sed -n "s/^$1: //Ip" | head -n1; }

# A strict reader of the text exposition format 0.0.4
# (https://prometheus.io/docs/instrumenting/exposition_formats/): every
# line a HELP, a TYPE (before the family's samples, once) or a sample
# `name{label="value",...} value` of a declared family; prints
# "name{labels} value" lines, sorted labels, for the test to grep.
parse_metrics() {
	python3 - "$1" <<'EOF'
import re, sys
name_re = r'[a-zA-Z_:][a-zA-Z0-9_:]*'
label_re = r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"'
sample = re.compile(r'^(' + name_re + r')(\{(?:' + label_re + r'(?:,' + label_re +
                    r')*,?)?\})? ([-+]?(?:[0-9.]+(?:[eE][-+]?[0-9]+)?|NaN|[-+]Inf))( -?[0-9]+)?$')
types, helps, seen, out = {}, set(), set(), []
text = open(sys.argv[1], encoding="utf-8").read()
if not text.endswith("\n"):
    sys.exit("the text does not end with a line feed")
for n, line in enumerate(text[:-1].split("\n"), 1):
    m = re.match(r'^# (HELP|TYPE) (' + name_re + r') (.*)$', line)
    if m:
        kind, name, rest = m.groups()
        if kind == "TYPE":
            if rest not in ("counter", "gauge", "histogram", "summary", "untyped"):
                sys.exit(f"line {n}: bad type {rest!r}")
            if name in types or name in seen:
                sys.exit(f"line {n}: TYPE of {name} repeated or after its samples")
            types[name] = rest
        else:
            if name in helps:
                sys.exit(f"line {n}: HELP of {name} repeated")
            helps.add(name)
        continue
    if line.startswith("#") or line == "":
        sys.exit(f"line {n}: not HELP/TYPE/sample: {line!r}")
    m = sample.match(line)
    if not m:
        sys.exit(f"line {n}: not a sample: {line!r}")
    name = m.group(1)
    if name not in types:
        sys.exit(f"line {n}: sample of {name} without a TYPE")
    if types[name] == "counter" and not name.endswith("_total"):
        sys.exit(f"line {n}: counter {name} without _total")
    labels = sorted(re.findall(label_re, m.group(2) or ""))
    key = name + "{" + ",".join(f'{k}="{v}"' for k, v in labels) + "}"
    if key in seen:
        sys.exit(f"line {n}: {key} repeated")
    seen.add(name)
    seen.add(key)
    out.append(f"{key} {m.group(7)}")
print("\n".join(out))
EOF
}
# value FILE KEY: the sample's value from parse_metrics' output
value() { awk -v k="$2" '$1 == k { print $2 }' "$1"; }

# ---- known contents: a few `arca run` stages -------------------------------
fresh_store
echo input >in.txt
for i in 1 2 3; do
	"$ARCA" run --store "$ARCA_DIR" --stage compile --in in.txt --out o.txt -- \
		sh -c 'cp in.txt o.txt' >/dev/null 2>&1
done
"$ARCA" run --store "$ARCA_DIR" --stage link --in in.txt --out p.txt -- \
	sh -c 'cp in.txt p.txt' >/dev/null 2>&1

start_server ops --store "$ARCA_DIR" || { fail "started"; finish; }
U=$SRV_URL

# ---- liveness and readiness -------------------------------------------------
assert_eq "healthz__200" 200 "$(code GET "$U/healthz")"
assert_eq "healthz__says_ok" "ok" "$(body)"
assert_eq "healthz__put_405" 405 "$(code PUT "$U/healthz" --data-binary x)"
blobs_before=$("$ARCA" info --store "$ARCA_DIR" --json 2>/dev/null |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["blobs"])' 2>/dev/null)
assert_eq "readyz__200" 200 "$(code GET "$U/readyz")"
assert_eq "readyz__again_200" 200 "$(code GET "$U/readyz")"
blobs_after=$("$ARCA" info --store "$ARCA_DIR" --json 2>/dev/null |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["blobs"])' 2>/dev/null)
assert_eq "readyz__probe_removed" "$blobs_before" "$blobs_after"

# ---- /v1/stats is `arca stats --json` ---------------------------------------
"$ARCA" stats --store "$ARCA_DIR" --json >cli.json
assert_eq "stats__200" 200 "$(code GET "$U/v1/stats")"
cp "$TEST_TMP/body" route.json
assert_files_eq "stats__same_bytes_as_cli" cli.json route.json
assert_eq "stats__json_type" "application/json" "$(header Content-Type)"
assert_eq "stats__overall_hits" 2 "$(python3 -c 'import json; print(json.load(open("route.json"))["overall"]["hits"])')"
assert_eq "stats__stages" "compile link" "$(python3 -c 'import json; print(" ".join(s["stage"] for s in json.load(open("route.json"))["stages"]))')"
"$ARCA" stats --store "$ARCA_DIR" --json --days 30 >cli30.json
code GET "$U/v1/stats?days=30" >/dev/null
assert_files_eq "stats__days_same_bytes_as_cli" cli30.json "$TEST_TMP/body"
code GET "$U/main/v1/stats" >/dev/null
assert_files_eq "stats__instance_prefix_ignored" cli.json "$TEST_TMP/body"
assert_eq "stats__bad_days_400" 400 "$(code GET "$U/v1/stats?days=0")"
assert_eq "stats__bad_days_text_400" 400 "$(code GET "$U/v1/stats?days=ten")"

# ---- /v1/actions?recent=N ---------------------------------------------------
assert_eq "recent__200" 200 "$(code GET "$U/v1/actions?recent=1")"
assert_eq "recent__one_entry" 1 "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["actions"]))' "$TEST_TMP/body")"
code GET "$U/v1/actions?recent=10" >/dev/null
assert_eq "recent__stages" "compile link" "$(python3 -c 'import json,sys; print(" ".join(sorted(a["stage"] for a in json.load(open(sys.argv[1]))["actions"])))' "$TEST_TMP/body")"
assert_eq "recent__hits" 2 "$(python3 -c 'import json,sys; print([a["hits"] for a in json.load(open(sys.argv[1]))["actions"] if a["stage"] == "compile"][0])' "$TEST_TMP/body")"
assert_eq "recent__bad_400" 400 "$(code GET "$U/v1/actions?recent=0")"

# ---- /metrics -----------------------------------------------------------------
assert_eq "metrics__200" 200 "$(code GET "$U/metrics")"
cp "$TEST_TMP/body" m1.txt
assert_eq "metrics__content_type" "text/plain; version=0.0.4; charset=utf-8" "$(header Content-Type)"
if parse_metrics m1.txt >m1.parsed 2>parse.err; then
	pass "metrics__parses"
else
	fail "metrics__parses" "$(cat parse.err)"
fi
if command -v promtool >/dev/null; then
	if promtool check metrics <m1.txt >promtool.out 2>&1; then
		pass "metrics__promtool_check"
	else
		fail "metrics__promtool_check" "$(cat promtool.out)"
	fi
else
	echo "SKIP - promtool not installed (scripts/bootstrap installs prometheus)"
fi
assert_eq "metrics__hits_from_store" 2 "$(value m1.parsed 'arca_cache_hits_total{}')"
assert_eq "metrics__misses_from_store" 2 "$(value m1.parsed 'arca_cache_misses_total{}')"
usage=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["bytes_total"])' < <(
	"$ARCA" info --store "$ARCA_DIR" --json 2>/dev/null) 2>/dev/null)
assert_eq "metrics__size_is_usage" "$usage" "$(value m1.parsed 'arca_store_size_bytes{}')"
assert_eq "metrics__healthz_counted" 1 "$(value m1.parsed 'arca_http_requests_total{code="200",route="ops.healthz"}')"
assert_eq "metrics__405_counted" 1 "$(value m1.parsed 'arca_http_requests_total{code="405",route="ops.healthz"}')"
# Counters move: 3 more /healthz, a 404 and a PUT of 1000 bytes.
for i in 1 2 3; do code GET "$U/healthz" >/dev/null; done
code GET "$U/no/such/route/here" >/dev/null
head -c 1000 /dev/urandom >blob
d=$(sha256sum blob | cut -d' ' -f1)
assert_eq "metrics__put_blob" 200 "$(code PUT "$U/cas/$d" --data-binary @blob)"
code GET "$U/metrics" >/dev/null
cp "$TEST_TMP/body" m2.txt
parse_metrics m2.txt >m2.parsed 2>parse.err || fail "metrics__second_parses" "$(cat parse.err)"
assert_eq "metrics__healthz_moved" 4 "$(value m2.parsed 'arca_http_requests_total{code="200",route="ops.healthz"}')"
assert_eq "metrics__cas_put_counted" 1 "$(value m2.parsed 'arca_http_requests_total{code="200",route="bazel.cas"}')"
in1=$(value m1.parsed 'arca_http_request_bytes_total{}')
in2=$(value m2.parsed 'arca_http_request_bytes_total{}')
assert_eq "metrics__request_bytes_moved" 1000 "$((in2 - in1))"
out1=$(value m1.parsed 'arca_http_response_bytes_total{}')
out2=$(value m2.parsed 'arca_http_response_bytes_total{}')
[ "$out2" -gt "$out1" ] && pass "metrics__response_bytes_moved" ||
	fail "metrics__response_bytes_moved" "$out1 then $out2"
s1=$(value m1.parsed 'arca_store_size_bytes{}')
s2=$(value m2.parsed 'arca_store_size_bytes{}')
assert_eq "metrics__size_moved" 1000 "$((s2 - s1))"
stop_server TERM
# Under ASan a leak or an error makes the exit status non-zero.
assert_eq "stop__exit_0" 0 "$SRV_RC"
assert_not_contains "stop__no_sanitizer_report" "$(cat "$SRV_ERR")" "runtime error"

# ---- a tier's breaker gauge -------------------------------------------------
start_server tier --store "$ARCA_DIR" --tier 'redis://127.0.0.1:1' || fail "tier__started"
code GET "$U/metrics" >/dev/null
code GET "$SRV_URL/metrics" >/dev/null
cp "$TEST_TMP/body" m3.txt
parse_metrics m3.txt >m3.parsed 2>parse.err || fail "tier__parses" "$(cat parse.err)"
assert_eq "tier__breaker_gauge" 0 "$(value m3.parsed 'arca_tier_breaker_state{tier="redis://127.0.0.1:1"}')"
stop_server TERM

# ---- not ready: --read-only ---------------------------------------------------
start_server ro --store "$ARCA_DIR" --read-only || fail "ro__started"
assert_eq "ro__healthz_200" 200 "$(code GET "$SRV_URL/healthz")"
assert_eq "ro__readyz_503" 503 "$(code GET "$SRV_URL/readyz")"
assert_contains "ro__readyz_says_why" "$(body)" "read-only"
stop_server TERM

# ---- not ready: full of pinned entries --------------------------------------
HOLDER=${ARCA_PIN_HOLDER:-}
if [ -z "$HOLDER" ] || [ ! -x "$HOLDER" ]; then
	fail "full__holder_built" "ARCA_PIN_HOLDER not set (run through ctest)"
else
	fresh_store
	mkdir -p "$ARCA_DIR"
	rm -f ready go
	"$HOLDER" "$ARCA_DIR" 1000000 ready go &
	holder=$!
	n=0
	while [ ! -e ready ] && [ $n -lt 400 ]; do sleep 0.05; n=$((n + 1)); done
	[ -e ready ] && pass "full__holder_pins" || fail "full__holder_pins"
	start_server full --store "$ARCA_DIR" --max-size 1M || fail "full__started"
	assert_eq "full__readyz_503" 503 "$(code GET "$SRV_URL/readyz")"
	assert_contains "full__readyz_says_why" "$(body)" "probe write failed"
	touch go
	wait "$holder"
	assert_eq "full__holder_committed" 0 "$?"
	stop_server TERM
fi

# ---- not ready: the file system turned read-only (root only) ------------------
MNT="$TEST_TMP/tmpfs"
mkdir -p "$MNT"
if mount -t tmpfs -o size=16m tmpfs "$MNT" 2>/dev/null; then
	ARCA_DIR="$MNT/store"
	start_server rofs --store "$ARCA_DIR" || fail "rofs__started"
	assert_eq "rofs__ready_first" 200 "$(code GET "$SRV_URL/readyz")"
	if mount -o remount,ro "$MNT" 2>/dev/null; then
		assert_eq "rofs__readyz_503" 503 "$(code GET "$SRV_URL/readyz")"
		assert_eq "rofs__healthz_200" 200 "$(code GET "$SRV_URL/healthz")"
		mount -o remount,rw "$MNT"
	else
		echo "SKIP - cannot remount the tmpfs read-only"
	fi
	stop_server TERM
	umount "$MNT" 2>/dev/null || umount -l "$MNT"
else
	echo "SKIP - rofs: cannot mount a tmpfs (needs root)"
fi

finish
