#!/usr/bin/env bash
# arca run and the file system: inputs that are not regular files are
# refused without being opened (a FIFO would hang), stdout/stderr captures
# live in the store's tmp/ (a killed run leaves nothing in $TMPDIR, and
# the next open sweeps tmp/), input names are normalised paths.
. "${ARCA_TEST_LIB:-$(dirname "$0")/../lib.sh}" || exit 2

# ---- a FIFO as --in: refused at once, one line, 125 -------------------
mkfifo fifo
run timeout 10 "$ARCA" run --stage f --in fifo -- cat fifo
check_rc "files__fifo_input_exit_125" 125
assert_eq "files__fifo_input_message" "arca: input 'fifo': not a regular file" "$ERR"
mkdir adir
run timeout 10 "$ARCA" run --stage d --in adir -- true
check_rc "files__directory_input_exit_125" 125
assert_eq "files__directory_input_message" "arca: input 'adir': not a regular file" "$ERR"
run "$ARCA" ls --json
assert_eq "files__refused_inputs_store_nothing" "[]" "$OUT"

# ---- captures: in the store's tmp/, never in $TMPDIR ---------------------
export TMPDIR="$TEST_TMP/private-tmp"
mkdir -p "$TMPDIR"
rm -f started
"$ARCA" run --stage slow -- sh -c 'echo secret-output; echo secret-error >&2; touch started; exec sleep 30' \
	>slow.out 2>slow.err &
holder=$!
for i in $(seq 200); do [ -f started ] && break; sleep 0.05; done
child=$(pgrep -P "$holder" 2>/dev/null | head -1)
caps=$(ls "$ARCA_DIR/tmp" 2>/dev/null | grep -c '^std\(out\|err\)-')
assert_eq "files__captures_in_store_tmp" 2 "$caps"
assert_eq "files__no_capture_in_tmpdir_while_running" "" "$(ls -A "$TMPDIR")"
kill -KILL "$holder"
wait "$holder" 2>/dev/null
[ -n "$child" ] && kill -KILL "$child" 2>/dev/null
assert_eq "files__killed_run_leaves_nothing_in_tmpdir" "" "$(ls -A "$TMPDIR")"
assert_eq "files__no_capture_beside_the_work" "" "$(ls -A | grep -v '^\(fifo\|adir\|started\|slow.out\|slow.err\)$')"
# The next opener of the store sweeps the dead run's captures.
run "$ARCA" ls
check_rc "files__next_open_exit_0" 0
assert_eq "files__next_open_sweeps_tmp" "" "$(ls -A "$ARCA_DIR/tmp")"
# A completed run leaves no capture behind either.
run "$ARCA" run --stage quick -- sh -c 'echo out; echo err >&2'
check_rc "files__quick_exit_0" 0
assert_eq "files__completed_run_leaves_tmp_empty" "" "$(ls -A "$ARCA_DIR/tmp")"
assert_eq "files__completed_run_leaves_tmpdir_empty" "" "$(ls -A "$TMPDIR")"

# ---- input names are normalised paths -------------------------------------
echo data >in.txt
mkdir -p sub
echo nested >sub/n.txt
keyof() { printf '%s\n' "$ERR" | sed -n 's/^arca: \(miss\|hit\) [^ ]* \([0-9a-f]\{8\}\)\( .*\)\{0,1\}$/\2/p' | head -1; }
run "$ARCA" run --stage norm --in ./in.txt --in sub//n.txt -- cat in.txt
assert_contains "files__norm_first_miss" "$ERR" "arca: miss norm "
k1=$(keyof)
run "$ARCA" run --stage norm --in in.txt --in ./sub/./n.txt -- cat in.txt
assert_contains "files__norm_same_input_hits" "$ERR" "arca: hit norm "
assert_eq "files__norm_same_key" "$k1" "$(keyof)"
# ---- arca repro from another directory: stages run in the pipeline's ---
mkdir -p proj/data
echo "from the pipeline dir" >proj/data/in.txt
cat >proj/tool.sh <<'EOS'
#!/bin/sh
mkdir -p out
tr a-z A-Z <"$1" >out/up.txt
EOS
chmod +x proj/tool.sh
cat >proj/arca.yaml <<'EOS'
stages:
  up:
    cmd: ./tool.sh data/in.txt
    deps: [data/in.txt, tool.sh]
    outs: [out/up.txt]
  extra:
    cmd: echo partial >extra.txt; exit 4
    deps: [out/up.txt]
    outs: [extra.txt]
    optional: true
EOS
echo stale >proj/extra.txt
run "$ARCA" repro --store rel-store proj/arca.yaml
check_rc "files__repro_elsewhere_exit_0" 0
assert_eq "files__repro_elsewhere_output_in_pipeline_dir" "FROM THE PIPELINE DIR" "$(cat proj/out/up.txt 2>/dev/null)"
assert_eq "files__repro_elsewhere_nothing_in_cwd" "no" "$([ -e out ] && echo yes || echo no)"
assert_eq "files__repro_elsewhere_relative_store_in_cwd" "yes" "$([ -d rel-store ] && [ ! -e proj/rel-store ] && echo yes || echo no)"
assert_eq "files__repro_elsewhere_degraded_output_removed" "no" "$([ -e proj/extra.txt ] && echo yes || echo no)"
rm proj/out/up.txt
run "$ARCA" status --store rel-store proj/arca.yaml
assert_contains "files__status_elsewhere_up_to_date" "$OUT" "up: up to date"
run "$ARCA" repro --store rel-store proj/arca.yaml up
check_rc "files__repro_elsewhere_hit_exit_0" 0
assert_contains "files__repro_elsewhere_hit" "$ERR" "stage up: hit"
assert_eq "files__repro_elsewhere_restored" "FROM THE PIPELINE DIR" "$(cat proj/out/up.txt 2>/dev/null)"

finish
