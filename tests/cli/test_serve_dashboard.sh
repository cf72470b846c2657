#!/usr/bin/env bash
# arca serve's dashboard (GET /, docs/server.md "Dashboard") in a real
# browser: Debian's chromium, headless, driven by playwright-core
# (tests/browser/dashboard.js; npm ci by scripts/bootstrap). A store with
# known contents (stage compile: 1 miss then 2 hits; link: 1 miss), the
# page loaded: the DOM shows those hits, misses, stage names, the store's
# size, the recent actions, today's bar; after one more hit the page
# shows it without being reloaded (its own refresh). A screenshot is
# saved as $ARCA_ARTIFACTS/dashboard.png (ctest: BUILD/test-artifacts/).
# Skipped, saying so, when /usr/bin/chromium is missing.
START_DIR=$PWD
SERVE_LIB=$(cd "$(dirname "$0")/.." && pwd)/serve_lib.sh
BROWSER_DIR=$(cd "$(dirname "$0")/../browser" && pwd)
. "${ARCA_TEST_LIB:-$(dirname "$0")/../lib.sh}"
. "$SERVE_LIB"

CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$CHROMIUM" ]; then
	echo "SKIP - $CHROMIUM not installed (scripts/bootstrap installs Debian's chromium)"
	echo "0 passed, 0 failed, 1 skipped"
	exit 0
fi
export CHROMIUM
if [ ! -d "$BROWSER_DIR/node_modules/playwright-core" ]; then
	fail "playwright_core_installed" "run scripts/bootstrap (npm ci in tests/browser)"
	finish
fi
command -v curl >/dev/null || { fail "curl_installed"; finish; }
ART=${ARCA_ARTIFACTS:-$START_DIR}
mkdir -p "$ART"
SHOT="$ART/dashboard.png"
rm -f "$SHOT"
j() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }

# ---- known contents -------------------------------------------------------------
echo input >in.txt
for i in 1 2 3; do
	"$ARCA" run --stage compile --in in.txt --out o.txt -- \
		sh -c 'sleep 0.2; cp in.txt o.txt' >/dev/null 2>&1
done
"$ARCA" run --stage link --in in.txt --out p.txt -- \
	sh -c 'cp in.txt p.txt' >/dev/null 2>&1
size=$("$ARCA" info --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["bytes_total"])')
n_actions=$("$ARCA" info --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["actions"])')

start_server dash --store "$ARCA_DIR" --max-size 64M || { fail "started"; finish; }

# The page is self-contained: nothing but our own origin is referenced.
curl -s --max-time 10 "$SRV_URL/" >page.html
assert_contains "page__is_html" "$(head -c 200 page.html)" "<!DOCTYPE html>"
if grep -Eq '(src|href)="(https?:)?//' page.html || grep -q '@import' page.html; then
	fail "page__no_external_resources" "$(grep -Eo '(src|href)="[^"]*"' page.html)"
else
	pass "page__no_external_resources"
fi

# ---- in the browser ---------------------------------------------------------------
if timeout 90 node "$BROWSER_DIR/dashboard.js" "$SRV_URL/" "$SHOT" >dom.json 2>browser.err; then
	pass "browser__loaded"
else
	fail "browser__loaded" "$(tail -n 20 browser.err)"
	finish
fi
assert_eq "dom__no_error" "" "$(j dom.json 'd["error"]')"
assert_eq "dom__no_page_errors" "[]" "$(j dom.json 'd["page_errors"]')"
assert_eq "dom__no_foreign_requests" "[]" "$(j dom.json 'd["foreign_requests"]')"
assert_eq "dom__hits" 2 "$(j dom.json 'd["hits"]')"
assert_eq "dom__misses" 2 "$(j dom.json 'd["misses"]')"
assert_eq "dom__hit_rate" "50.0%" "$(j dom.json 'd["rate"]')"
assert_eq "dom__stage_names" "compile link" "$(j dom.json '" ".join(s["stage"] for s in d["stages"])')"
assert_eq "dom__compile_hits" 2 "$(j dom.json 'd["stages"][0]["hits"]')"
assert_eq "dom__link_misses" 1 "$(j dom.json 'd["stages"][1]["misses"]')"
assert_eq "dom__stage_bars" 2 "$(j dom.json 'd["stage_bars"]')"
assert_eq "dom__size_bytes" "$size" "$(j dom.json 'd["size_used_bytes"]')"
assert_eq "dom__limit_bytes" 67108864 "$(j dom.json 'd["size_limit_bytes"]')"
assert_eq "dom__recent_actions" "$n_actions" "$(j dom.json 'len(d["recent"])')"
assert_eq "dom__recent_stages" "compile link" "$(j dom.json '" ".join(sorted(r["stage"] for r in d["recent"]))')"
today=$(date -u +%Y-%m-%d)
assert_eq "dom__30_day_bars" 30 "$(j dom.json 'len(d["day_bars"])')"
# The last bar is today's, as the page's clock says: the same UTC date
# unless the test straddles midnight, where the day before is accepted.
last=$(j dom.json 'd["day_bars"][-1]["date"]')
case "$last" in
"$today" | "$(date -u -d yesterday +%Y-%m-%d)") pass "dom__last_bar_is_today" ;;
*) fail "dom__last_bar_is_today" "last bar $last, today $today" ;;
esac
assert_eq "dom__today_hits" 2 "$(j dom.json 'sum(int(b["hits"]) for b in d["day_bars"])')"
assert_eq "dom__tiers_local" "local store" "$(j dom.json 'd["tiers"][0]')"
if [ -s "$SHOT" ] && [ "$(head -c 8 "$SHOT" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ]; then
	pass "screenshot__saved_png"
	echo "# screenshot: $SHOT"
else
	fail "screenshot__saved_png" "$SHOT"
fi

# ---- the page refreshes itself: a hit while it is open shows without a reload --
if timeout 90 node "$BROWSER_DIR/dashboard.js" "$SRV_URL/" "$ART/dashboard-refresh.png" 3 \
		"$ARCA" run --stage compile --in in.txt --out o.txt -- \
		sh -c 'sleep 0.2; cp in.txt o.txt' >dom2.json 2>browser.err; then
	assert_eq "refresh__hits_before" 2 "$(j dom2.json 'd["hits"]')"
	assert_eq "refresh__hits_after" 3 "$(j dom2.json 'd["after"]["hits"]')"
	assert_eq "refresh__compile_hits_after" 3 "$(j dom2.json 'd["after"]["stages"][0]["hits"]')"
	r=$(j dom2.json 'd["after"]["refreshes"] > d["refreshes"]')
	assert_eq "refresh__by_the_page_itself" True "$r"
else
	fail "refresh__loaded" "$(tail -n 20 browser.err)"
fi
stop_server TERM
finish
