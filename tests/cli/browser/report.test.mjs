// report.test.mjs - opens a `dptrace report` page in headless Chromium (playwright-core,
// the system's /usr/bin/chromium) and checks what a user would: it loads without console
// errors or network requests, lists every trace with all its spans, opens span details on
// click, follows a link to another trace, filters, and shows hostile text as plain text.
// Env: DPTRACE (binary), DATA (tests/cli/data), WORK (scratch dir), DPTRACE_SCREENSHOT (optional
// extra path for the picture, e.g. docs/img/report.png), CHROMIUM (default /usr/bin/chromium).
import { chromium } from "playwright-core";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, copyFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { tmpdir } from "node:os";
import assert from "node:assert/strict";

const { DPTRACE, DATA, WORK } = process.env;
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
if (!DPTRACE || !DATA || !WORK) throw new Error("DPTRACE, DATA and WORK must be set");
rmSync(WORK, { recursive: true, force: true });
mkdirSync(WORK, { recursive: true });

// The oracle: spans per trace counted straight from the file, independently of dptrace.
const sample = join(DATA, "sample.jsonl");
const expected = new Map();
for (const line of readFileSync(sample, "utf8").split("\n")) {
  if (!line.trim()) continue;
  for (const rs of JSON.parse(line).resourceSpans)
    for (const ss of rs.scopeSpans || rs.instrumentationLibrarySpans)
      for (const s of ss.spans) expected.set(s.traceId, (expected.get(s.traceId) || 0) + 1);
}
const totalSpans = [...expected.values()].reduce((a, b) => a + b, 0);

const html = join(WORK, "report.html");
execFileSync(DPTRACE, ["report", sample, "-o", html], { stdio: "inherit" });

const results = [];
async function check(name, fn) {
  try {
    await fn();
    results.push([name, true]);
    console.log("ok   " + name);
  } catch (e) {
    results.push([name, false]);
    console.log("FAIL " + name + "\n     " + String(e && e.message || e).split("\n").join("\n     "));
  }
}

const userDataDir = mkdtempSync(join(tmpdir(), "dptrace-chromium-"));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: CHROMIUM,
  headless: true,
  viewport: { width: 1400, height: 860 },
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const page = context.pages()[0] || (await context.newPage());
const consoleErrors = [], requests = [], dialogs = [];
page.on("console", (m) => { if (m.type() === "error") consoleErrors.push(m.text()); });
page.on("pageerror", (e) => consoleErrors.push("pageerror: " + e.message));
page.on("request", (r) => { if (!/^(file|data|about):/.test(r.url())) requests.push(r.url()); });
page.on("dialog", async (d) => { dialogs.push(d.message()); await d.dismiss(); });

try {
  await page.goto("file://" + html);
  await page.waitForSelector(".trace-item");

  await check("lists every trace of the file", async () => {
    assert.equal(await page.locator(".trace-item").count(), expected.size);
    const ids = await page.locator(".trace-item").evaluateAll((els) => els.map((e) => e.dataset.traceId));
    assert.deepEqual(new Set(ids), new Set(expected.keys()));
  });

  await check("each trace's waterfall has all its spans", async () => {
    let sum = 0;
    for (const [id, n] of expected) {
      await page.locator(`.trace-item[data-trace-id="${id}"]`).click();
      await page.waitForFunction((want) => document.querySelector("#trace-head .meta")?.textContent.includes(want), id);
      const rows = await page.locator(".span-row").count();
      assert.equal(rows, n, `trace ${id}`);
      sum += rows;
    }
    assert.equal(sum, totalSpans);
  });

  await check("clicking a span opens its details", async () => {
    await page.locator('.trace-item[data-trace-id="0af7651916cd43dd8448eb211c80319c"]').click();
    assert.equal(await page.locator("#details").isVisible(), false);
    await page.locator('.span-row[data-span-id="b5b5b5b5b5b5b5b5"]').click();
    const details = page.locator("#details");
    await details.waitFor({ state: "visible" });
    const text = await details.innerText();
    for (const want of ["POST /charge", "ERROR: card declined", "http.response.status_code", "402",
                        "exception", "PaymentDeclined", "service.name", "payments", "b4b4b4b4b4b4b4b4"])
      assert.ok(text.includes(want), `details lack "${want}"`);
    assert.equal(await page.locator('.span-row[data-span-id="b5b5b5b5b5b5b5b5"]').getAttribute("aria-selected"), "true");
  });

  await check("a link opens the linked span in its trace", async () => {
    await page.locator('.trace-item[data-trace-id="6e0c63257de34c926f9efcd03927272e"]').click();
    await page.locator('.span-row[data-span-id="c1c1c1c1c1c1c1c1"]').click();
    await page.locator("#details .link-go").click();
    await page.waitForFunction(() => document.querySelector("#trace-head .meta").textContent.includes("4bf92f3577b34da6a3ce929d0e0e4736"));
    assert.equal(await page.locator('.span-row[data-span-id="a9a9a9a9a9a9a9a9"]').getAttribute("aria-selected"), "true");
    assert.ok((await page.locator("#details").innerText()).includes("orders.queue publish"));
  });

  await check("filters narrow the trace list", async () => {
    await page.fill("#filter", "payments");
    assert.equal(await page.locator(".trace-item").count(), 2);
    await page.check("#errors-only");
    assert.equal(await page.locator(".trace-item").count(), 1);
    await page.uncheck("#errors-only");
    await page.fill("#filter", "");
    assert.equal(await page.locator(".trace-item").count(), expected.size);
  });

  await check("hostile text from the file stays text", async () => {
    await page.locator('.trace-item[data-trace-id="a3ce929d0e0e47364bf92f3577b34da6"]').click();
    await page.locator('.span-row[data-span-id="e1e1e1e1e1e1e1e1"]').click();
    assert.equal(await page.locator("img").count(), 0, "an <img> from the file became markup");
    assert.equal(await page.locator("main b").count(), 0, "a <b> from the file became markup");
    const name = await page.locator('.span-row[data-span-id="e1e1e1e1e1e1e1e1"] .sname').textContent();
    assert.ok(name.startsWith("<img src=x onerror=alert(1)>"), name);
    assert.ok((await page.locator("#details").innerText()).includes("</script><script>alert(2)</script>"));
    assert.deepEqual(dialogs, []);
  });

  // The picture for docs: the slowest trace with a span's details open.
  await page.locator('.trace-item[data-trace-id="4bf92f3577b34da6a3ce929d0e0e4736"]').click();
  await page.locator('.span-row[data-span-id="a5a5a5a5a5a5a5a5"]').click();
  const shot = join(WORK, "report.png");
  await page.screenshot({ path: shot });
  if (process.env.DPTRACE_SCREENSHOT) {
    mkdirSync(dirname(process.env.DPTRACE_SCREENSHOT), { recursive: true });
    copyFileSync(shot, process.env.DPTRACE_SCREENSHOT);
  }

  await check("no console errors and no network requests", async () => {
    assert.deepEqual(consoleErrors, []);
    assert.deepEqual(requests, []);
  });
} finally {
  await context.close();
  rmSync(userDataDir, { recursive: true, force: true });
}

const failed = results.filter((r) => !r[1]).length;
console.log(`${results.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
