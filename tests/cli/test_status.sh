#!/usr/bin/env bash
# arca status: up to date or would run, and why, for each kind of change;
# nothing runs, no hit is counted, no URL is requested.
. "${ARCA_TEST_LIB:-$(dirname "$0")/../lib.sh}" || exit 2

# Time is simulated (libarca reads ARCA_TEST_NOW): an entry made "a second
# later" is, without sleeping across a second boundary.
ARCA_TEST_NOW=$(date +%s)
export ARCA_TEST_NOW
advance() { ARCA_TEST_NOW=$((ARCA_TEST_NOW + $1)); }

runs() { if [ -f count ]; then wc -l <count | tr -d ' '; else echo 0; fi; }
status() { run timeout 60 "$ARCA" status "$@"; }
repro() { run timeout 120 "$ARCA" repro "$@"; }
hits() {
	"$ARCA" stats --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["overall"]["hits"])'
}

write_pipeline() {  # CMD-OF-PREP TOOL-VERSION EXTRA-OUTS EXTRA-DEPS
	cat >arca.yaml <<EOF
params:
  greeting: hello
stages:
  prep:
    cmd: echo prep >>count; tr a-z A-Z <in.txt >prep.out $1
    deps: [in.txt$4]
    outs: [prep.out$3]
    env: [ARCA_T_VAR]
    tool_version: "$2"
  greet:
    cmd: echo greet >>count; { cat prep.out; echo \${greeting}; } >greet.out
    deps: [prep.out, {path: maybe.txt, optional: true}]
    params: [greeting]
    outs: [greet.out]
  fmt:
    cmd: echo fmt >>count; cat greet.out >fmt.out
    deps: [greet.out]
    outs: [fmt.out]
    cache: false
EOF
}
write_pipeline "" v1 "" ""
echo "some input" >in.txt
export ARCA_T_VAR=first-value

# ---- never run -----------------------------------------------------------
status
check_rc "status__never_run_exit_1" 1
assert_contains "status__never_run" "$OUT" "prep: would run
    never run"
assert_contains "status__dependency_first" "$OUT" "greet: would run
    a dependency would run first: prep (its output 'prep.out' may still be the old one)"
assert_contains "status__cache_false" "$OUT" "fmt: always runs (cache: false)"
assert_eq "status__runs_nothing" 0 "$(runs)"

# ---- up to date, no hit counted -----------------------------------------
repro
check_rc "status__repro_exit_0" 0
n=$(runs)
h=$(hits)
status
check_rc "status__up_to_date_exit_0" 0
assert_eq "status__up_to_date" "prep: up to date
greet: up to date
fmt: always runs (cache: false)" "$OUT"
assert_eq "status__counts_no_hit" "$h" "$(hits)"
assert_eq "status__up_to_date_runs_nothing" "$n" "$(runs)"

# ---- each kind of change -------------------------------------------------
echo "other input" >in.txt
status
check_rc "status__input_changed_exit_1" 1
assert_contains "status__input_changed" "$OUT" "prep: would run
    input 'in.txt' changed"
assert_contains "status__input_changed_downstream" "$OUT" "greet: would run
    a dependency would run first: prep"
echo "some input" >in.txt

status -p greeting=bonjour
assert_eq "status__param_changed" "prep: up to date
greet: would run
    param 'greeting' changed (hello -> bonjour)
fmt: always runs (cache: false)" "$OUT"
echo "greeting: hallo" >params.yaml
status
assert_contains "status__param_from_params_file" "$OUT" "param 'greeting' changed (hello -> hallo)"
rm params.yaml

ARCA_T_VAR=a-secret-looking-value status
assert_contains "status__env_changed" "$OUT" "prep: would run
    env 'ARCA_T_VAR' changed"
assert_not_contains "status__env_value_not_shown" "$OUT" "a-secret-looking-value"
(unset ARCA_T_VAR; "$ARCA" status >"$TEST_TMP/unset.out")
assert_contains "status__env_unset" "$(cat "$TEST_TMP/unset.out")" "env 'ARCA_T_VAR' changed"

write_pipeline "" v2 "" ""
status
assert_contains "status__tool_changed" "$OUT" "prep: would run
    tool changed"

write_pipeline "; echo x >prep.extra" v1 ", prep.extra" ""
status
assert_contains "status__command_and_outputs_changed" "$OUT" "prep: would run
    command changed
    outputs changed"

echo "more" >more.txt
write_pipeline "" v1 "" ", more.txt"
status
assert_contains "status__new_input" "$OUT" "prep: would run
    new input 'more.txt'"
advance 1   # the entry compared with is the most recent: created later
repro
write_pipeline "" v1 "" ""
echo "third input" >in.txt
status
assert_contains "status__input_removed" "$OUT" "
    input 'more.txt' removed"
echo "some input" >in.txt

# An optional dep that appears, then goes away again.
echo maybe >maybe.txt
status
assert_contains "status__optional_dep_appears" "$OUT" "greet: would run
    new input 'maybe.txt'"
advance 1
repro -p greeting=opt
rm maybe.txt
status -p greeting=opt
assert_contains "status__optional_dep_gone" "$OUT" "greet: would run
    input 'maybe.txt' removed"
status
check_rc "status__back_to_up_to_date" 0

# ---- a fresh checkout with a warm cache ------------------------------------
# Outputs not on disk but cached: a stage is judged from what the hits
# before it would restore (their manifests), not from the disk.
mkdir fresh && cd fresh || exit 2
cat >arca.yaml <<'EOF'
stages:
  prep:
    cmd: echo prep >>count; tr a-z A-Z <in.txt >prep.out
    deps: [in.txt]
    outs: [prep.out]
  extra:
    cmd: echo extra >>count; cp prep.out extra.out
    deps: [prep.out]
    outs: [extra.out]
    optional: true
  report:
    cmd: echo report >>count; cat prep.out >report.out; if [ -f extra.out ]; then cat extra.out >>report.out; fi
    deps: [prep.out, extra.out]
    outs: [report.out]
  fmt:
    cmd: echo fmt >>count; cat report.out >fmt.out
    deps: [report.out]
    outs: [fmt.out]
    cache: false
EOF
echo "fresh input" >in.txt
repro
check_rc "status__fresh_repro_exit_0" 0
rm -f prep.out extra.out report.out fmt.out count
status
check_rc "status__fresh_checkout_exit_0" 0
assert_eq "status__fresh_checkout_up_to_date" "prep: up to date
extra: up to date
report: up to date
fmt: always runs (cache: false)" "$OUT"
assert_eq "status__fresh_checkout_writes_nothing" "no" "$([ -e prep.out ] && echo yes || echo no)"
# A file on disk that differs from what the hit would restore: the hit
# restores it before the stages after it read it.
echo "edited by hand" >prep.out
status
check_rc "status__fresh_edited_output_exit_0" 0
assert_contains "status__fresh_edited_output_up_to_date" "$OUT" "report: up to date"
repro
check_rc "status__fresh_repro_exit_0" 0
assert_contains "status__fresh_repro_hits_all" "$ERR" "arca: repro: 4 stages: 3 hit, 1 ran"
assert_eq "status__fresh_repro_runs_only_cache_false" "fmt" "$(cat count)"
assert_eq "status__fresh_repro_restores" "FRESH INPUT
FRESH INPUT" "$(cat fmt.out)"
# An upstream input that changed: the stages after it would run.
rm -f prep.out extra.out report.out fmt.out
echo "changed input" >in.txt
status
check_rc "status__fresh_upstream_changed_exit_1" 1
assert_eq "status__fresh_upstream_changed" "prep: would run
    input 'in.txt' changed
extra: would run
    a dependency would run first: prep (its output 'prep.out' may still be the old one)
report: would run
    a dependency would run first: prep (its output 'prep.out' may still be the old one)
    a dependency would run first: extra (its output 'extra.out' may still be the old one)
fmt: always runs (cache: false)" "$OUT"
cd .. || exit 2

# Downstream of a stage with cache: false whose output is not there: it
# would run (what the file will hold is not known), and repro would not
# fail for it.
mkdir fresh-cache-false && cd fresh-cache-false || exit 2
cat >arca.yaml <<'EOF'
stages:
  gen:
    cmd: echo generated >gen.out
    outs: [gen.out]
    cache: false
  use:
    cmd: cat gen.out >use.out
    deps: [gen.out]
    outs: [use.out]
EOF
repro
check_rc "status__cache_false_upstream_repro_exit_0" 0
status
check_rc "status__cache_false_upstream_present_exit_0" 0
rm -f gen.out use.out
status
check_rc "status__cache_false_upstream_gone_exit_1" 1
assert_eq "status__cache_false_upstream_gone" "gen: always runs (cache: false)
use: would run
    a dependency would run first: gen (cache: false; its output 'gen.out' is not there yet)" "$OUT"
cd .. || exit 2

# ---- errors ----------------------------------------------------------------
cat >bad.yaml <<'EOF'
stages:
  a:
    cmd: echo ${lang}
    params: [lang]
EOF
status bad.yaml
check_rc "status__unknown_param_exit_2" 2
assert_contains "status__unknown_param_line" "$ERR" "arca: bad.yaml:4: stage 'a': unknown param 'lang'"
printf 'stages:\n  a: [\n' >bad.yaml
status bad.yaml
check_rc "status__malformed_exit_2" 2
assert_contains "status__malformed_line" "$ERR" "arca: bad.yaml:"
status -p lang=fr
check_rc "status__p_unused_param_exit_2" 2
assert_eq "status__p_unused_param_message" \
	"arca: status: -p lang: no stage uses param 'lang' (known: greeting)" "$ERR"
assert_eq "status__p_unused_param_prints_nothing" "" "$OUT"
status nosuch.yaml
check_rc "status__missing_file_exit_2" 2
status a.yaml b.yaml
check_rc "status__two_files_exit_2" 2

# ---- URL deps: no request, cached digest, revalidation note -----------------
SERVER_PY=${ARCA_SRC:+$ARCA_SRC/tests/http_server.py}
[ -n "$SERVER_PY" ] || SERVER_PY=$(dirname "$0")/../http_server.py
unset http_proxy HTTP_PROXY https_proxy HTTPS_PROXY all_proxy ALL_PROXY
SRV=$TEST_TMP/srv
mkdir -p "$SRV/root"
python3 "$SERVER_PY" --root "$SRV/root" --port-file "$SRV/port" \
	--log "$SRV/log" --lifetime 300 &
SERVER_PID=$!
trap 'kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; cleanup_test_tmp' EXIT
for i in $(seq 100); do [ -s "$SRV/port" ] && break; sleep 0.1; done
PORT=$(cat "$SRV/port" 2>/dev/null)
[ -n "$PORT" ] || { echo "cannot start $SERVER_PY" >&2; exit 2; }
requests() { if [ -f "$SRV/log" ]; then wc -l <"$SRV/log" | tr -d ' '; else echo 0; fi; }

mkdir url && cd url || exit 2
printf 'remote\n' >"$SRV/root/r.txt"
cat >arca.yaml <<EOF
stages:
  use:
    cmd: cat r.txt >use.out
    deps:
      - url: http://127.0.0.1:$PORT/r.txt
        max_age: 0
    outs: [use.out]
EOF
status
check_rc "status__url_not_cached_exit_1" 1
assert_contains "status__url_not_cached" "$OUT" "use: would run
    url http://127.0.0.1:$PORT/r.txt not cached"
assert_eq "status__url_not_cached_no_request" 0 "$(requests)"
repro
check_rc "status__url_repro_exit_0" 0
n=$(requests)
status
check_rc "status__url_cached_exit_0" 0
assert_contains "status__url_up_to_date" "$OUT" "use: up to date
    note: url http://127.0.0.1:$PORT/r.txt would be revalidated (fetched "
assert_eq "status__url_no_request" "$n" "$(requests)"
cd .. || exit 2

# A URL body another stage reads: a fresh checkout has neither the body
# nor the outputs; the fetching stage would write the cached body.
mkdir url-fresh && cd url-fresh || exit 2
printf 'remote body\n' >"$SRV/root/body.txt"
cat >arca.yaml <<EOF
stages:
  fetch:
    cmd: tr a-z A-Z <body.txt >fetch.out
    deps:
      - url: http://127.0.0.1:$PORT/body.txt
        max_age: 1h
    outs: [fetch.out]
  down:
    cmd: cat body.txt fetch.out >down.out
    deps: [body.txt, fetch.out]
    outs: [down.out]
EOF
repro
check_rc "status__url_fresh_repro_exit_0" 0
rm -f body.txt fetch.out down.out
n=$(requests)
status
check_rc "status__url_fresh_checkout_exit_0" 0
assert_eq "status__url_fresh_checkout_up_to_date" "fetch: up to date
down: up to date" "$OUT"
assert_eq "status__url_fresh_checkout_no_request" "$n" "$(requests)"
cd .. || exit 2

finish
