#!/usr/bin/env bash
# arca repro: a pipeline run in order, cached stage by stage; resume after
# a failure, optional stages that degrade and recover, --force, --dry-run,
# params, cache: false, STAGE selection, pipeline errors, URL deps.
# Every stage appends its name to ./count, so executions are counted.
. "${ARCA_TEST_LIB:-$(dirname "$0")/../lib.sh}" || exit 2

# Stage names run since the last call, space-separated, in order (the
# mark is kept in a file: `ran` is called in $(...)).
MARK_FILE=$TEST_TMP/mark
ran() {
	local mark=0 n=0
	[ -f "$MARK_FILE" ] && mark=$(cat "$MARK_FILE")
	[ -f count ] && n=$(wc -l <count | tr -d ' ')
	[ "$n" -lt "$mark" ] && mark=0
	[ -f count ] && tail -n +$((mark + 1)) count | tr '\n' ' ' | sed 's/ $//'
	echo "$n" >"$MARK_FILE"
}
entries() {
	"$ARCA" ls --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'
}
repro() {
	run timeout 120 "$ARCA" repro "$@"
}

# prep -> build (fails while ./broken exists) -> extra (optional: fails
# unless ./ok exists) -> report (reads build's and extra's outputs).
cat >arca.yaml <<'EOF'
params:
  greeting: hello
stages:
  prep:
    cmd: echo prep >>count; tr a-z A-Z <in.txt >prep.out
    deps: [in.txt]
    outs: [prep.out]
  build:
    cmd: echo build >>count; if [ -f broken ]; then exit 3; fi; { cat prep.out; echo ${greeting}; } >build.out
    deps: [prep.out]
    params: [greeting]
    outs: [build.out]
  extra:
    cmd: echo extra >>count; [ -f ok ] && cp prep.out extra.out
    deps: [prep.out]
    outs: [extra.out]
    optional: true
  report:
    cmd: echo report >>count; cat build.out >report.out; if [ -f extra.out ]; then echo with-extra >>report.out; fi
    deps: [build.out, extra.out]
    outs: [report.out]
EOF
echo "some input" >in.txt
touch broken ok

# ---- resume after a failing required stage ----------------------------
repro
check_rc "repro__required_failure_exits_with_its_status" 3
assert_eq "repro__failure_stops_the_run" "prep build" "$(ran)"
assert_contains "repro__start_line" "$ERR" "arca: stage prep: start"
assert_contains "repro__ran_line" "$ERR" "arca: stage prep: ran in "
assert_contains "repro__failed_line" "$ERR" "arca: stage build: failed (exit 3)"
assert_contains "repro__failure_summary" "$ERR" \
	"arca: repro: 4 stages: 0 hit, 1 ran, 1 failed (build), 2 not run; saved "
assert_eq "repro__stage_before_failure_cached" 1 "$(entries)"

rm broken
repro
check_rc "repro__resume_exit_0" 0
assert_eq "repro__resume_starts_at_failed_stage" "build extra report" "$(ran)"
assert_contains "repro__resume_hits_prep" "$ERR" "arca: stage prep: hit (saved "
assert_contains "repro__summary" "$ERR" "arca: repro: 4 stages: 1 hit, 3 ran; saved "
assert_eq "repro__report_has_extra" "SOME INPUT
hello
with-extra" "$(cat report.out)"

repro
check_rc "repro__warm_exit_0" 0
assert_eq "repro__warm_runs_nothing" "" "$(ran)"
assert_contains "repro__warm_summary" "$ERR" "arca: repro: 4 stages: 4 hit, 0 ran; saved "

# ---- an optional stage that fails, then recovers ----------------------
rm ok
echo "other input" >in.txt
repro
check_rc "repro__degraded_exit_0" 0
assert_eq "repro__degraded_runs_the_rest" "prep build extra report" "$(ran)"
assert_contains "repro__degraded_line" "$ERR" \
	"arca: stage extra: degraded: optional stage failed (exit 1)"
assert_contains "repro__degraded_summary" "$ERR" "1 degraded (extra)"
assert_eq "repro__degraded_stale_output_removed" "no" "$([ -e extra.out ] && echo yes || echo no)"
assert_eq "repro__downstream_ran_without_it" "OTHER INPUT
hello" "$(cat report.out)"

repro
check_rc "repro__degraded_again_exit_0" 0
assert_eq "repro__degraded_again_retries_only_it" "extra" "$(ran)"
assert_contains "repro__degraded_again_report_hits" "$ERR" "arca: stage report: hit"

touch ok
repro
check_rc "repro__recovery_exit_0" 0
assert_eq "repro__recovery_reruns_it_and_downstream" "extra report" "$(ran)"
assert_eq "repro__recovery_output" "OTHER INPUT
hello
with-extra" "$(cat report.out)"

# ---- --force, --dry-run, --no-cache, --refresh ------------------------
repro --force build
check_rc "repro__force_exit_0" 0
assert_eq "repro__force_reruns_stage_and_downstream" "build report" "$(ran)"

before=$(entries)
repro --dry-run
check_rc "repro__dry_run_exit_0" 0
assert_eq "repro__dry_run_runs_nothing" "" "$(ran)"
assert_contains "repro__dry_run_would_hit" "$ERR" "arca: stage prep: would hit"
assert_contains "repro__dry_run_summary" "$ERR" "arca: repro: dry run: 4 stages: 4 would hit, 0 would run"

echo "third input" >in.txt
repro --dry-run --force extra
check_rc "repro__dry_run_changed_exit_0" 0
assert_eq "repro__dry_run_changed_runs_nothing" "" "$(ran)"
assert_contains "repro__dry_run_says_why" "$ERR" "arca: stage prep: would run: input 'in.txt' changed"
assert_contains "repro__dry_run_downstream" "$ERR" \
	"arca: stage build: would run: a dependency would run first: prep"
assert_contains "repro__dry_run_force" "$ERR" "arca: stage extra: would run: --force"
assert_eq "repro__dry_run_stores_nothing" "$before" "$(entries)"
echo "other input" >in.txt

repro --no-cache
check_rc "repro__no_cache_exit_0" 0
assert_eq "repro__no_cache_runs_all" "prep build extra report" "$(ran)"
assert_eq "repro__no_cache_stores_nothing" "$before" "$(entries)"

repro --refresh
check_rc "repro__refresh_exit_0" 0
assert_eq "repro__refresh_runs_all" "prep build extra report" "$(ran)"
repro
assert_eq "repro__after_refresh_hits" "" "$(ran)"

repro --no-cache --refresh
check_rc "repro__no_cache_refresh_exclusive" 2

# ---- STAGE selection ---------------------------------------------------
echo "fourth input" >in.txt
repro arca.yaml build
check_rc "repro__select_exit_0" 0
assert_eq "repro__select_runs_stage_and_upstream" "prep build" "$(ran)"
assert_contains "repro__select_summary" "$ERR" "arca: repro: 2 stages:"
repro build
assert_eq "repro__select_without_file" "" "$(ran)"
repro nosuchstage
check_rc "repro__select_unknown_stage_exit_2" 2
assert_contains "repro__select_unknown_stage_message" "$ERR" "no stage 'nosuchstage'"
repro
assert_eq "repro__select_rest_later" "extra report" "$(ran)"

# ---- params: defaults < params file < -p, ${} substitution ------------
repro -p greeting=bonjour
check_rc "repro__param_exit_0" 0
assert_eq "repro__param_change_reruns_users_only" "build report" "$(ran)"
assert_contains "repro__param_substituted" "$(cat build.out)" "bonjour"

echo "greeting: hallo" >params.yaml
repro
assert_eq "repro__params_file_default" "build report" "$(ran)"
assert_contains "repro__params_file_value" "$(cat build.out)" "hallo"
repro -p greeting=bonjour
assert_eq "repro__p_over_params_file_hits_earlier_run" "" "$(ran)"
assert_contains "repro__p_over_params_file" "$(cat build.out)" "bonjour"
printf 'greeting: ciao\n' >other-params.yaml
repro --params other-params.yaml
assert_contains "repro__params_option" "$(cat build.out)" "ciao"
ran >/dev/null
rm params.yaml other-params.yaml
repro
assert_eq "repro__back_to_default_hits" "" "$(ran)"
printf 'greeting: [a, b]\n' >bad-params.yaml
repro --params bad-params.yaml
check_rc "repro__bad_params_file_exit_2" 2
assert_contains "repro__bad_params_file_line" "$ERR" "bad-params.yaml:1: parameter 'greeting' must be a scalar"
printf 'greeting: "a\n' >bad-params.yaml
repro --params bad-params.yaml
check_rc "repro__malformed_params_file_exit_2" 2
assert_contains "repro__malformed_params_file_line" "$ERR" "bad-params.yaml:"
repro -p novalue
check_rc "repro__p_without_equals_exit_2" 2
assert_eq "repro__bad_params_run_nothing" "" "$(ran)"

# ---- cache: false ------------------------------------------------------
mkdir nocache && cd nocache || exit 2
cat >arca.yaml <<'EOF'
stages:
  fmt:
    cmd: echo fmt >>count; date +%N >fmt.out
    outs: [fmt.out]
    cache: false
EOF
repro
check_rc "repro__cache_false_exit_0" 0
assert_contains "repro__cache_false_line" "$ERR" "arca: stage fmt: always runs (cache: false): ran in "
repro
assert_eq "repro__cache_false_always_runs" 2 "$(wc -l <count | tr -d ' ')"
assert_eq "repro__cache_false_stores_nothing" "[]" "$("$ARCA" ls --stage fmt --json)"
cd .. || exit 2

# ---- a fresh checkout with a warm cache --------------------------------
# The outputs are not on disk but cached: each stage is judged from what
# the hits before it would restore (their manifests), not from the disk.
mkdir fresh && cd fresh || exit 2
echo 0 >"$MARK_FILE"
cat >arca.yaml <<'EOF'
params:
  greeting: hello
stages:
  prep:
    cmd: echo prep >>count; tr a-z A-Z <in.txt >prep.out
    deps: [in.txt]
    outs: [prep.out]
  build:
    cmd: echo build >>count; { cat prep.out; echo ${greeting}; } >build.out
    deps: [prep.out]
    params: [greeting]
    outs: [build.out]
  extra:
    cmd: echo extra >>count; cp prep.out extra.out
    deps: [prep.out]
    outs: [extra.out]
    optional: true
  report:
    cmd: echo report >>count; cat build.out >report.out; if [ -f extra.out ]; then cat extra.out >>report.out; fi
    deps: [build.out, extra.out]
    outs: [report.out]
EOF
echo "fresh input" >in.txt
repro
check_rc "repro__fresh_first_run_exit_0" 0
assert_eq "repro__fresh_first_run" "prep build extra report" "$(ran)"
rm -f prep.out build.out extra.out report.out
repro --dry-run
check_rc "repro__fresh_dry_run_exit_0" 0
assert_eq "repro__fresh_dry_run_all_hit" "arca: stage prep: would hit
arca: stage build: would hit
arca: stage extra: would hit
arca: stage report: would hit
arca: repro: dry run: 4 stages: 4 would hit, 0 would run" "$ERR"
assert_eq "repro__fresh_dry_run_writes_nothing" "no" "$([ -e prep.out ] && echo yes || echo no)"
repro
check_rc "repro__fresh_repro_exit_0" 0
assert_eq "repro__fresh_repro_runs_nothing" "" "$(ran)"
assert_contains "repro__fresh_repro_hits_all" "$ERR" "arca: repro: 4 stages: 4 hit, 0 ran"
assert_eq "repro__fresh_repro_restores" "FRESH INPUT
hello
FRESH INPUT" "$(cat report.out)"

# An output edited by hand: a repro restores it from the hit before the
# stages after it read it, so the prediction follows the manifest.
echo "edited by hand" >prep.out
rm -f build.out
repro --dry-run
assert_contains "repro__fresh_edited_output_would_hit" "$ERR" \
	"arca: repro: dry run: 4 stages: 4 would hit, 0 would run"

# A param that changes: only its stage and the stages after it run, and
# the reason is the param alone (prep.out is as the hit restores it).
rm -f prep.out build.out extra.out report.out
repro --dry-run -p greeting=bonjour
check_rc "repro__fresh_param_exit_0" 0
assert_eq "repro__fresh_param_changed" "arca: stage prep: would hit
arca: stage build: would run: param 'greeting' changed (hello -> bonjour)
arca: stage extra: would hit
arca: stage report: would run: a dependency would run first: build (its output 'build.out' may still be the old one)
arca: repro: dry run: 4 stages: 2 would hit, 2 would run" "$ERR"

# An upstream input that changed: everything after it would run.
echo "changed input" >in.txt
repro --dry-run
check_rc "repro__fresh_upstream_changed_exit_0" 0
assert_contains "repro__fresh_upstream_changed" "$ERR" "arca: stage prep: would run: input 'in.txt' changed
arca: stage build: would run: a dependency would run first: prep (its output 'prep.out' may still be the old one)
arca: stage extra: would run: a dependency would run first: prep"
assert_contains "repro__fresh_upstream_changed_summary" "$ERR" \
	"arca: repro: dry run: 4 stages: 0 would hit, 4 would run"
assert_not_contains "repro__fresh_upstream_changed_not_missing" "$ERR" "is missing"
repro
assert_eq "repro__fresh_upstream_changed_runs" "prep build extra report" "$(ran)"
cd .. || exit 2

# ---- params no stage uses ----------------------------------------------
# -p for a name no stage uses is an error (exit 2, nothing runs); a
# params file key no stage uses is a warning. A name only in the
# top-level defaults is not used by any stage; a ${name} in a URL dep is
# (and $${raw} is a literal, not a param).
mkdir pnames && cd pnames || exit 2
echo 0 >"$MARK_FILE"
cat >arca.yaml <<'EOF'
params:
  greeting: hello
  spare: unused
  host: 127.0.0.1:1
stages:
  a:
    cmd: echo a >>count; echo ${greeting} >a.out
    params: [greeting]
    outs: [a.out]
  b:
    cmd: echo b >>count; cat a.out x.txt >b.out
    deps:
      - a.out
      - url: http://${host}/x.txt?q=$${raw}
        path: x.txt
    outs: [b.out]
EOF
for args in "" "--dry-run"; do
	repro $args -p greeting=hi -p lang=fr a
	check_rc "repro__p_unused${args:+_dry_run}_exit_2" 2
	assert_eq "repro__p_unused${args:+_dry_run}_message" \
		"arca: repro: -p lang: no stage uses param 'lang' (known: greeting, host)" "$ERR"
	assert_eq "repro__p_unused${args:+_dry_run}_runs_nothing" "" "$(ran)"
done
repro -p spare=x a
check_rc "repro__p_default_only_exit_2" 2
assert_contains "repro__p_default_only_message" "$ERR" \
	"arca: repro: -p spare: no stage uses param 'spare' (known: greeting, host)"
repro --dry-run -p host=127.0.0.1:2
check_rc "repro__p_url_param_known_exit_0" 0
assert_contains "repro__p_url_param_known" "$ERR" 'url http://127.0.0.1:2/x.txt?q=${raw} not cached'
printf 'greeting: hi\nlang: fr\n' >params.yaml
repro a
check_rc "repro__params_file_unused_key_exit_0" 0
assert_contains "repro__params_file_unused_key_warns" "$ERR" \
	"arca: warning: params.yaml:2: no stage uses param 'lang' (known: greeting, host)"
assert_eq "repro__params_file_unused_key_runs" "a" "$(ran)"
assert_eq "repro__params_file_unused_key_value_used" "hi" "$(cat a.out)"
cd .. || exit 2

# ---- pipeline errors: FILE:LINE, exit 2, nothing run or stored --------
mkdir errs && cd errs || exit 2
echo data >data.txt
echo 0 >"$MARK_FILE"
bad() {  # NAME WANT-CODE WANT-TEXT [FILE]; the pipeline is on stdin
	local name=$1 code=$2 text=$3 file=${4:-bad.yaml} before
	[ "$file" = bad.yaml ] && cat >bad.yaml
	before=$(entries)
	repro "$file"
	check_rc "repro__${name}_exit" "$code"
	assert_contains "repro__${name}_message" "$ERR" "$text"
	assert_eq "repro__${name}_store_unchanged" "$before" "$(entries)"
}
bad cycle 2 "arca: bad.yaml:2: cycle: a -> b -> a" <<'EOF'
stages:
  a:
    cmd: echo a >>count; touch a.out
    deps: [b.out]
    outs: [a.out]
  b:
    cmd: echo b >>count; touch b.out
    deps: [a.out]
    outs: [b.out]
EOF
bad duplicate_out 2 "arca: bad.yaml:7: output 'x.out' of stage 'b' is also an output of stage 'a'" <<'EOF'
stages:
  a:
    cmd: echo a >>count; touch x.out
    outs: [x.out]
  b:
    cmd: echo b >>count; touch x.out
    outs: [x.out]
EOF
bad unknown_dep 2 "arca: bad.yaml:4: unknown dependency 'nothere.txt' of stage 'a'" <<'EOF'
stages:
  a:
    cmd: echo a >>count
    deps: [nothere.txt]
EOF
bad unknown_param 2 "arca: bad.yaml:7: stage 'b': unknown param 'lang'" <<'EOF'
stages:
  a:
    cmd: echo a >>count; touch a.out
    outs: [a.out]
  b:
    cmd: echo b >>count ${lang}
    params: [lang]
    deps: [a.out]
EOF
bad malformed_yaml 2 "arca: bad.yaml:4:" <<'EOF'
stages:
  a:
    cmd: echo a
   deps: [x
EOF
bad missing_file 2 "arca: cannot read nosuch.yaml: No such file or directory" nosuch.yaml
assert_eq "repro__errors_ran_nothing" "" "$(ran)"

# A dep that exists when planned but is gone when its stage starts: the
# stage fails naming the file and line, nothing is stored for it (the
# stage before it is).
cat >bad.yaml <<'EOF'
stages:
  clean:
    cmd: echo clean >>count; rm -f data.txt; touch clean.out
    outs: [clean.out]
  use:
    cmd: echo use >>count; cat data.txt
    deps: [clean.out, data.txt]
EOF
repro bad.yaml
check_rc "repro__missing_dep_at_run_time_exit_125" 125
assert_contains "repro__missing_dep_at_run_time_message" "$ERR" \
	"arca: bad.yaml:7: stage 'use': dep 'data.txt': No such file or directory"
assert_eq "repro__missing_dep_earlier_stage_kept" "clean" "$(ran)"
assert_eq "repro__missing_dep_nothing_for_stage" "[]" "$("$ARCA" ls --stage use --json)"
cd .. || exit 2

# ---- URL deps, against tests/http_server.py ----------------------------
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
requests() { awk -F'\t' -v p="$1" '$2 == p' "$SRV/log" | wc -l | tr -d ' '; }

mkdir url && cd url || exit 2
echo 0 >"$MARK_FILE"
printf 'remote one\n' >"$SRV/root/data.txt"
write_url_pipeline() {  # MAX_AGE
	cat >arca.yaml <<EOF
stages:
  use:
    cmd: echo use >>count; tr a-z A-Z <data.txt >use.out
    deps:
      - url: http://127.0.0.1:$PORT/data.txt
        max_age: $1
    outs: [use.out]
EOF
}
write_url_pipeline 1h
repro
check_rc "repro__url_first_exit_0" 0
assert_eq "repro__url_first_one_request" 1 "$(requests /data.txt)"
assert_contains "repro__url_first_downloaded" "$ERR" "arca: url http://127.0.0.1:$PORT/data.txt: downloaded 11 B"
assert_eq "repro__url_body_materialised" "remote one" "$(cat data.txt)"
assert_eq "repro__url_stage_ran" "use" "$(ran)"
repro
assert_eq "repro__url_fresh_no_request" 1 "$(requests /data.txt)"
assert_contains "repro__url_fresh_line" "$ERR" ": fresh (fetched "
assert_eq "repro__url_fresh_stage_hits" "" "$(ran)"

write_url_pipeline 0
repro --dry-run
check_rc "repro__url_dry_run_exit_0" 0
assert_contains "repro__url_dry_run_would_revalidate" "$ERR" \
	"arca: url http://127.0.0.1:$PORT/data.txt would be revalidated (fetched "
assert_contains "repro__url_dry_run_would_hit" "$ERR" "arca: stage use: would hit"
assert_eq "repro__url_dry_run_no_request" 1 "$(requests /data.txt)"
repro
assert_eq "repro__url_revalidated_request" 2 "$(requests /data.txt)"
assert_contains "repro__url_304_line" "$ERR" "not modified (304)"
assert_eq "repro__url_304_downstream_hits" "" "$(ran)"

# ${param} in a URL: the value is substituted before the fetch (and the
# URL, with it, is in the key); an unknown name is an error with the line.
mv arca.yaml arca.yaml.saved
cat >arca.yaml <<'YAML'
params:
  host: 127.0.0.1:1
stages:
  use:
    cmd: echo use >>count; tr a-z A-Z <data.txt >use.out
    deps:
      - url: http://${host}/data.txt
        max_age: 1h
    outs: [use.out]
YAML
before=$(requests /data.txt)
repro -p host=127.0.0.1:$PORT
check_rc "repro__url_param_exit_0" 0
assert_contains "repro__url_param_substituted" "$ERR" "arca: url http://127.0.0.1:$PORT/data.txt: fresh"
assert_eq "repro__url_param_same_entry_no_request" "$before" "$(requests /data.txt)"
sed -i 's/[$]{host}/${hots}/' arca.yaml
repro -p host=127.0.0.1:$PORT
check_rc "repro__url_unknown_param_exit_2" 2
assert_contains "repro__url_unknown_param_line" "$ERR" "arca.yaml:7: stage 'use': url: unknown parameter 'hots'"
mv arca.yaml.saved arca.yaml

printf 'remote two!\n' >"$SRV/root/data.txt"
repro
assert_eq "repro__url_changed_request" 3 "$(requests /data.txt)"
assert_contains "repro__url_changed_downloaded" "$ERR" "downloaded 12 B"
assert_eq "repro__url_changed_downstream_reruns" "use" "$(ran)"
assert_eq "repro__url_changed_output" "REMOTE TWO!" "$(cat use.out)"

# The server gone: a stale copy with a warning, or with --no-stale a
# failure naming the URL.
kill "$SERVER_PID" 2>/dev/null
wait "$SERVER_PID" 2>/dev/null
repro
check_rc "repro__url_stale_exit_0" 0
assert_contains "repro__url_stale_warning" "$ERR" "(stale)"
assert_eq "repro__url_stale_hits" "" "$(ran)"
repro --no-stale
check_rc "repro__url_no_stale_exit_125" 125
assert_contains "repro__url_no_stale_names_url" "$ERR" "arca: arca.yaml:5: stage 'use': url http://127.0.0.1:$PORT/data.txt:"
sed -i "s#/data.txt#/other.txt#" arca.yaml
before=$(entries)
repro
check_rc "repro__url_unreachable_uncached_exit_125" 125
assert_contains "repro__url_unreachable_names_url" "$ERR" "url http://127.0.0.1:$PORT/other.txt:"
assert_eq "repro__url_unreachable_store_unchanged" "$before" "$(entries)"
cd .. || exit 2

# ---- stdin: a pipe on arca repro's stdin is not the stages' stdin --------
# A pipeline cannot declare stdin, so its commands read /dev/null: a pipe
# there neither turns the cache off nor reaches a command.
mkdir stdin && cd stdin || exit 2
cat >arca.yaml <<'EOF'
stages:
  slurp:
    cmd: echo slurp >>count; cat >got.txt
    outs: [got.txt]
EOF
run sh -c "echo piped | timeout 60 '$ARCA' repro"
check_rc "repro__stdin_pipe_first_exit_0" 0
assert_eq "repro__stdin_pipe_not_read" "" "$(cat got.txt)"
assert_not_contains "repro__stdin_pipe_no_notice" "$ERR" "notice: stdin"
assert_eq "repro__stdin_pipe_ran_once" "slurp" "$(ran)"
run sh -c "echo other | timeout 60 '$ARCA' repro"
check_rc "repro__stdin_pipe_second_exit_0" 0
assert_eq "repro__stdin_pipe_second_hits" "" "$(ran)"
cd .. || exit 2

finish
