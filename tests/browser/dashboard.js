// node dashboard.js URL SCREENSHOT [WAIT_HITS CMD ARG...]: load arca
// serve's dashboard in Debian's chromium (headless, driven by
// playwright-core), wait for its first refresh from /v1/stats, print
// what the DOM shows as one JSON object and save a full-page
// screenshot. With WAIT_HITS: then run CMD (which adds hits to the
// store) and wait, without reloading, until the page shows WAIT_HITS
// hits; the object's "after" is the DOM then.
// tests/cli/test_serve_dashboard.sh reads the JSON.
"use strict";
const { chromium } = require("playwright-core");
const { execFileSync } = require("child_process");

async function main() {
  const [url, shot, waitHits, ...cmd] = process.argv.slice(2);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    // In a container chromium's sandbox needs user name spaces it may
    // not have; the page is our own.
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
    timeout: 30000,
  });
  const requests = [];
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on("request", r => requests.push(r.url()));
    const errors = [];
    page.on("pageerror", e => errors.push(String(e)));
    page.on("console", m => { if (m.type() === "error") errors.push(m.text()); });
    await page.goto(url, { waitUntil: "load", timeout: 20000 });
    await page.waitForFunction(() => Number(document.body.dataset.loaded || 0) >= 1,
      null, { timeout: 20000 });
    const read = () => page.evaluate(() => {
      const text = id => document.getElementById(id).textContent;
      const data = id => document.getElementById(id).dataset.value;
      return {
        hits: text("overall-hits"), misses: text("overall-misses"),
        rate: text("overall-rate"), saved: text("overall-saved"),
        size_used: text("size-used"), size_used_bytes: data("size-used"),
        size_limit_bytes: data("size-limit"), error: text("error"),
        stages: [...document.querySelectorAll("#stages-body tr[data-stage]")].map(tr => ({
          stage: tr.dataset.stage, hits: tr.cells[1].textContent,
          misses: tr.cells[2].textContent, saved: tr.cells[4].textContent })),
        stage_bars: document.querySelectorAll("#stages-chart rect").length,
        day_bars: [...document.querySelectorAll("#days-chart rect")].map(r => ({
          date: r.dataset.date, hits: r.dataset.hits, misses: r.dataset.misses })),
        recent: [...document.querySelectorAll("#recent-body tr[data-key]")].map(tr => ({
          key: tr.dataset.key, stage: tr.dataset.stage })),
        tiers: [...document.querySelectorAll("#tiers-body tr")].map(tr => tr.cells[0].textContent),
        refreshes: Number(document.body.dataset.loaded),
      };
    });
    const dom = await read();
    dom.page_errors = errors;
    dom.foreign_requests = requests.filter(u => !u.startsWith(new URL(url).origin));
    await page.screenshot({ path: shot, fullPage: true });
    if (waitHits) {
      execFileSync(cmd[0], cmd.slice(1), { stdio: "ignore", timeout: 20000 });
      await page.waitForFunction(n => document.getElementById("overall-hits").textContent === n,
        waitHits, { timeout: 20000 });
      dom.after = await read();
    }
    process.stdout.write(JSON.stringify(dom, null, 2) + "\n");
  } finally {
    await browser.close();
  }
}
main().catch(e => { console.error("dashboard.js: " + (e.stack || e)); process.exit(1); });
