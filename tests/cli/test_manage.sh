#!/usr/bin/env bash
# arca ls / info / stats / rm / clear: listings, JSON, invalidation.
. "${ARCA_TEST_LIB:-$(dirname "$0")/../lib.sh}" || exit 2

echo "audio one" >a.wav
echo "audio two" >b.wav

json_len() { python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
json_stages() { python3 -c 'import json,sys; print(" ".join(sorted(e["stage"] for e in json.load(sys.stdin))))'; }

# Four actions: two stages, two inputs.
for f in a b; do
	check "manage__setup_transcode_$f" "$ARCA" run --stage transcode --in $f.wav --out $f.flac -- sh -c "cp $f.wav $f.flac"
	check "manage__setup_transcribe_$f" "$ARCA" run --stage transcribe --in $f.wav --out $f.txt -- sh -c "cat $f.wav >$f.txt"
done
# One hit, to have something to count.
check "manage__setup_hit" "$ARCA" run --stage transcode --in a.wav --out a.flac -- sh -c "cp a.wav a.flac"

# ---- ls --------------------------------------------------------------------
run "$ARCA" ls
check_rc "ls__exit_0" 0
assert_eq "ls__header_plus_4_lines" 5 "$(printf '%s\n' "$OUT" | wc -l | tr -d ' ')"
assert_contains "ls__header" "$(printf '%s\n' "$OUT" | head -1)" "KEY"
line=$(printf '%s\n' "$OUT" | sed -n 2p)
if printf '%s\n' "$line" | grep -Eq '^[0-9a-f]{12}  trans[a-z]+ +[0-9.]+ (B|KiB|MiB)  [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}  [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}  [0-9]+$'; then
	pass "ls__line_format"
else
	fail "ls__line_format" "$line"
fi
run "$ARCA" ls --json
check_rc "ls__json_exit_0" 0
if printf '%s' "$OUT" | is_json; then pass "ls__json_parses"; else fail "ls__json_parses" "$OUT"; fi
assert_eq "ls__json_4_entries" 4 "$(printf '%s' "$OUT" | json_len)"
fields=$(printf '%s' "$OUT" | python3 -c '
import json, sys
e = json.load(sys.stdin)[0]
ok = (len(e["key"]) == 64 and isinstance(e["size"], int) and isinstance(e["created"], int)
      and isinstance(e["last_access"], int) and isinstance(e["hits"], int)
      and isinstance(e["duration_ms"], int) and isinstance(e["stage"], str))
print(" ".join(sorted(e)) if ok else "bad types")')
assert_eq "ls__json_fields" "created duration_ms hits key last_access size stage" "$fields"
hits=$(printf '%s' "$OUT" | python3 -c 'import json,sys; print(sum(e["hits"] for e in json.load(sys.stdin)))')
assert_eq "ls__json_hits_counted" 1 "$hits"
run "$ARCA" ls --stage transcribe --json
assert_eq "ls__stage_filter" "transcribe transcribe" "$(printf '%s' "$OUT" | json_stages)"
run "$ARCA" ls --stage nosuch
assert_eq "ls__stage_filter_empty_header_only" 1 "$(printf '%s\n' "$OUT" | wc -l | tr -d ' ')"
run "$ARCA" ls extra
check_rc "ls__extra_argument_exit_2" 2

# ---- info ---------------------------------------------------------------------
run "$ARCA" info
check_rc "info__exit_0" 0
assert_contains "info__location" "$OUT" "location:          $ARCA_DIR"
assert_contains "info__actions" "$OUT" "actions:           4"
run "$ARCA" info --json
if printf '%s' "$OUT" | is_json; then pass "info__json_parses"; else fail "info__json_parses" "$OUT"; fi
got=$(printf '%s' "$OUT" | python3 -c '
import json, sys
i = json.load(sys.stdin)
assert i["inline"]["count"] + i["files"]["count"] == i["blobs"]
assert i["inline"]["bytes"] + i["files"]["bytes"] == i["bytes_total"]
print(i["actions"], i["inline_threshold"], i["quarantined"], i["location"])')
assert_eq "info__json_values" "4 102400 0 $ARCA_DIR" "$got"

# ---- stats ---------------------------------------------------------------------
run "$ARCA" stats
check_rc "stats__exit_0" 0
assert_contains "stats__overall_row" "$OUT" "overall"
assert_contains "stats__stage_row" "$OUT" "transcode"
run "$ARCA" stats --json
if printf '%s' "$OUT" | is_json; then pass "stats__json_parses"; else fail "stats__json_parses" "$OUT"; fi
got=$(printf '%s' "$OUT" | python3 -c '
import json, sys
s = json.load(sys.stdin)
o = s["overall"]
t = [x for x in s["stages"] if x["stage"] == "transcode"][0]
print(o["hits"], o["misses"], t["hits"], t["misses"], round(t["hit_rate"], 3))')
assert_eq "stats__json_counts" "1 4 1 2 0.333" "$got"

# ---- rm -------------------------------------------------------------------------
run "$ARCA" ls --stage transcribe --json
key=$(printf '%s' "$OUT" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["key"])')
run "$ARCA" rm "${key:0:8}"
check_rc "rm__prefix_exit_0" 0
assert_eq "rm__prints_full_key" "removed $key" "$OUT"
run "$ARCA" ls --json
assert_eq "rm__removed_one" 3 "$(printf '%s' "$OUT" | json_len)"
assert_not_contains "rm__key_gone" "$OUT" "$key"
run "$ARCA" rm "${key:0:8}"
check_rc "rm__again_not_found_3" 3
run "$ARCA" rm 12
check_rc "rm__short_prefix_2" 2
run "$ARCA" rm xyzw
check_rc "rm__not_hex_2" 2
run "$ARCA" rm
check_rc "rm__no_key_2" 2
# One bad key among good ones leaves the store unchanged.
run "$ARCA" ls --json
good=$(printf '%s' "$OUT" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["key"])')
run "$ARCA" rm "${good:0:10}" "${key:0:10}"
check_rc "rm__mixed_not_found_3" 3
run "$ARCA" ls --json
assert_eq "rm__mixed_removes_nothing" 3 "$(printf '%s' "$OUT" | json_len)"

# An ambiguous prefix: make actions until two keys share 4 hex characters.
fresh_store
amb=
for batch in $(seq 0 19); do
	for i in $(seq $((batch * 100 + 1)) $((batch * 100 + 100))); do
		"$ARCA" run --stage amb --tool-version 1 --param i=$i -- true 2>/dev/null
	done
	amb=$("$ARCA" ls --json | python3 -c '
import json, sys, collections
c = collections.Counter(e["key"][:4] for e in json.load(sys.stdin))
d = [k for k, n in c.items() if n > 1]
print(d[0] if d else "")')
	[ -n "$amb" ] && break
done
if [ -n "$amb" ]; then
	run "$ARCA" ls --json
	before=$(printf '%s' "$OUT" | json_len)
	run "$ARCA" rm "$amb"
	check_rc "rm__ambiguous_exit_2" 2
	assert_contains "rm__ambiguous_message" "$ERR" "ambiguous"
	run "$ARCA" ls --json
	assert_eq "rm__ambiguous_removes_nothing" "$before" "$(printf '%s' "$OUT" | json_len)"
else
	fail "rm__ambiguous_exit_2" "no two keys shared a 4-hex prefix"
fi

# ---- clear ----------------------------------------------------------------------
fresh_store
for f in a b; do
	"$ARCA" run --stage transcode --in $f.wav --out $f.flac -- sh -c "cp $f.wav $f.flac" 2>/dev/null
	"$ARCA" run --stage transcribe --in $f.wav --out $f.txt -- sh -c "cat $f.wav >$f.txt" 2>/dev/null
done
# The input is matched by content, not by name.
cp a.wav renamed.wav
run "$ARCA" clear --input renamed.wav
check_rc "clear__input_exit_0" 0
assert_contains "clear__input_reports_count" "$OUT" "removed 2 entries"
run "$ARCA" ls --json
assert_eq "clear__input_removes_only_its_actions" 2 "$(printf '%s' "$OUT" | json_len)"
run "$ARCA" run --stage transcode --in b.wav --out b.flac -- sh -c "cp b.wav b.flac"
assert_contains "clear__input_other_still_hits" "$ERR" "arca: hit transcode"
run "$ARCA" run --stage transcode --in a.wav --out a.flac -- sh -c "cp a.wav a.flac"
assert_contains "clear__input_cleared_misses" "$ERR" "arca: miss transcode"

run "$ARCA" clear --stage transcribe
check_rc "clear__stage_exit_0" 0
assert_contains "clear__stage_reports_count" "$OUT" "removed 1 entry"
run "$ARCA" ls --json
assert_eq "clear__stage_leaves_others" "transcode transcode" "$(printf '%s' "$OUT" | json_stages)"

run "$ARCA" clear
check_rc "clear__no_criterion_exit_2" 2
run "$ARCA" clear --all --stage transcode
check_rc "clear__two_criteria_exit_2" 2
run "$ARCA" clear --input no-such.wav
check_rc "clear__input_missing_file_exit_3" 3
run "$ARCA" ls --json
assert_eq "clear__bad_usage_store_unchanged" 2 "$(printf '%s' "$OUT" | json_len)"

"$ARCA" put a.wav >/dev/null
run "$ARCA" clear --all
check_rc "clear__all_exit_0" 0
assert_contains "clear__all_reports_count" "$OUT" "removed 2 entries"
run "$ARCA" ls --json
assert_eq "clear__all_empties_ls" "[]" "$OUT"
run "$ARCA" info --json
assert_eq "clear__all_removes_blobs" 0 "$(printf '%s' "$OUT" | python3 -c 'import json,sys; print(json.load(sys.stdin)["blobs"])')"

finish
