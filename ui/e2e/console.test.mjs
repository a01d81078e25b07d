// End to end in a real browser: headless Chromium (Debian's) driven by
// playwright-core, against the real `argus-usage serve` over a real store
// with the demo organisation, the console served by the same server.
// Run by scripts/test.sh after the UI build: `node --test e2e/`.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";
import { FAKE_NOW, atFakeNow, fakeNowMs } from "./faketime.mjs";

const BIN = resolve(process.env.ARGUS_BIN ?? "../target/debug/argus-usage");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const dir = mkdtempSync(join(tmpdir(), "argus-e2e-"));
const db = join(dir, "server.db");
// The server and the CLI run at FAKE_NOW (libfaketime), the page's clock too.
const env = atFakeNow({ ...process.env, ARGUS_USAGE_DB: db, ARGUS_USAGE_SERVER_KEY: "e2e-server-key-0123456789" });
const MONTH = FAKE_NOW.slice(0, 7);
const cli = (...args) => execFileSync(BIN, args, { env, encoding: "utf8" });
const cliJson = (...args) => JSON.parse(cli(...args, "--json"));

let server, base, browser, page, token;

before(async () => {
  cli("demo");
  token = cli("token", "create", "--org", "demo", "--role", "admin", "--name", "e2e").trim();
  server = spawn(BIN, ["serve", "--listen", "127.0.0.1:0", "--ui", resolve("dist")], { env, stdio: ["ignore", "ignore", "pipe"] });
  base = await new Promise((ok, fail) => {
    const rl = createInterface({ input: server.stderr });
    rl.on("line", (l) => {
      const m = /serving .* on (http:\/\/[^/]+)\/api\/v1/.exec(l);
      if (m) ok(m[1]);
    });
    server.on("exit", (c) => fail(new Error(`serve exited ${c}`)));
  });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 900 } });
  await context.clock.setFixedTime(new Date(fakeNowMs()));
  page = await context.newPage();
  page.on("pageerror", (e) => console.error("page error:", e));
  await page.goto(base + "/");
  await page.fill("input[name=org]", "demo");
  await page.fill("input[name=token]", token);
  await page.click("button[type=submit]");
  await page.waitForSelector("[data-testid=mtd-spend]");
});

after(async () => {
  await browser?.close();
  server?.kill("SIGTERM");
  rmSync(dir, { recursive: true, force: true });
});

async function go(screen) {
  await page.goto(`${base}/#/${screen}`);
  await page.waitForLoadState("networkidle");
}

test("the overview's month-to-date spend equals `budget status`", async () => {
  await go("overview");
  const shown = await page.getAttribute("[data-testid=mtd-spend]", "data-exact");
  const status = cliJson("budget", "status", "--org", "demo");
  assert.equal(shown, status.spent);
  assert.ok(Number(status.spent) > 0, "the demo has spend this month");
  const text = await page.textContent("[data-testid=mtd-spend]");
  assert.match(text, /^\$[\d,]+\.\d\d$/, "money is shown in the organisation's currency");
  await page.waitForSelector("figure.chart svg g");
  // The demo's calls were not made through the gateway: its card says how to start.
  await page.waitForSelector("main :text('No calls through the gateway today')");
});

test("each screen loads with its figures and without an error", async () => {
  const expect = {
    overview: "Spend in",
    explorer: "Records",
    budgets: "Budgets",
    providers: "Providers, in the order",
    prices: "Price history",
    reports: "Export",
    sync: "Appearance",
    audit: "demo",
  };
  for (const [screen, text] of Object.entries(expect)) {
    await go(screen);
    await page.waitForSelector(`main :text("${text}")`);
    assert.equal(await page.locator(".error").count(), 0, `${screen} shows no error`);
  }
  // The price check names the demo's model without a price, as the CLI does.
  await go("prices");
  await page.waitForSelector("[data-testid=price-check] :text('mistral-ocr-latest')");
  const check = cliJson("prices", "check", "--org", "demo");
  assert.ok(check.findings.some((f) => f.model === "mistral-ocr-latest" && f.problem === "unpriced"));
  // The explorer's total is the summary's.
  await go("explorer");
  const total = await page.getAttribute("[data-testid=explorer-total]", "data-exact");
  const s = cliJson("usage", "summary", "--org", "demo", "--from", `${MONTH}-01`);
  assert.equal(total, s.cost);
  // A filter narrows the totals and the groups too, to the figure `usage summary` gives with the same filter.
  await page.fill("main input[name=provider]", "openai");
  await page.click("main button:text('Apply')");
  const filtered = cliJson("usage", "summary", "--org", "demo", "--from", `${MONTH}-01`, "--provider", "openai");
  assert.notEqual(filtered.cost, s.cost, "the demo has other providers");
  await page.waitForFunction((c) => document.querySelector("[data-testid=explorer-total]")?.getAttribute("data-exact") === c, filtered.cost, { timeout: 10000 });
  await page.click("main button:text('Reset')");
  // The search box: a part of the investigation's name, in any case.
  await page.fill("main input[name=investigation_contains]", "payroll");
  await page.click("main button:text('Apply')");
  const searched = cliJson("usage", "summary", "--org", "demo", "--from", `${MONTH}-01`, "--investigation-contains", "payroll");
  assert.ok(searched.requests > 0 && searched.requests < s.requests, "the demo has a payroll case among others");
  await page.waitForFunction((c) => document.querySelector("[data-testid=explorer-total]")?.getAttribute("data-exact") === c, searched.cost, { timeout: 10000 });
  await page.click("main button:text('Reset')");
  // Paging through records forward and back.
  await page.click("text=Next →");
  await page.waitForSelector("text=Records (page 2)");
  await page.click("text=← Previous");
  await page.waitForSelector("text=Records (page 1)");
});

test("a budget edit round-trips", async () => {
  await go("budgets");
  await page.fill("input[name=amount]", "1234.56");
  await page.fill("input[name=thresholds]", "50, 75, 100");
  await page.click("text=Save budget");
  await page.waitForSelector("text=Saved the budget");
  const month = cliJson("budget", "status", "--org", "demo").month;
  const b = cliJson("budget", "list", "--org", "demo").budgets.find((x) => x.month === month);
  assert.equal(b.amount, "1234.56");
  assert.deepEqual(b.thresholds, [50, 75, 100]);
  await page.reload();
  // The nav link says "Budgets" before the screen has loaded: wait for the figure itself.
  await page.waitForFunction(() => document.querySelector("main")?.textContent.includes("$1,234.56"), null, { timeout: 10000 });
  // A stale edit is refused, not silently applied: another admin changed it meanwhile.
  cli("budget", "set", "--org", "demo", "--month", month, "--amount", "2000");
  await page.fill("input[name=amount]", "999");
  await page.click("text=Save budget");
  await page.waitForSelector(".error");
  assert.match(await page.textContent(".error"), /version/);
});

test("a provider toggle changes what `route` chooses", async () => {
  await go("providers");
  await page.click("text=Check routing");
  await page.waitForSelector("[data-testid=route-chosen] strong");
  const before = (await page.textContent("[data-testid=route-chosen] strong")).trim();
  assert.equal(cliJson("route", "--org", "demo", "--dry-run").chosen, before);
  await page.click(`input[aria-label="${before} enabled"]`);
  await page.waitForFunction((p) => !document.querySelector(`input[aria-label="${p} enabled"]`)?.checked, before);
  await page.click("text=Check routing");
  await page.waitForSelector("[data-testid=route-chosen] strong");
  const after = (await page.textContent("[data-testid=route-chosen] strong")).trim();
  assert.notEqual(after, before);
  assert.equal(cliJson("route", "--org", "demo", "--dry-run").chosen, after);
  const p = cliJson("provider", "list", "--org", "demo").providers.find((x) => x.provider === before);
  assert.equal(p.enabled, false);
});

test("the gateway's upstreams and aliases are set from the Providers screen", async () => {
  await go("providers");
  const row = page.locator('[data-testid=upstreams] tr[data-provider="openai"]');
  await row.locator('input[name=base_url]').fill("https://api.openai.com/v1");
  await row.locator('input[name=api_key_env]').fill("OPENAI_API_KEY");
  await row.locator("button[type=submit]").click();
  await page.waitForSelector("text=openai: upstream saved");
  const up = cliJson("provider", "list", "--org", "demo").providers.find((x) => x.provider === "openai").upstream;
  assert.equal(up.base_url, "https://api.openai.com/v1");
  assert.equal(up.api, "openai");
  assert.equal(up.api_key_env, "OPENAI_API_KEY");
  await page.fill('input[aria-label="alias name"]', "smart");
  await page.fill('input[aria-label="alias targets"]', "openai/gpt-4o, anthropic/claude-sonnet-4-5");
  await page.click("text=Save alias");
  await page.waitForSelector("[data-testid=aliases] >> text=smart");
  const alias = cliJson("alias", "list", "--org", "demo").aliases.find((a) => a.name === "smart");
  assert.deepEqual(alias.targets, ["openai/gpt-4o", "anthropic/claude-sonnet-4-5"]);
});

test("a report downloads and verifies", async () => {
  await go("reports");
  await page.selectOption("select[name=format]", "csv");
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("form button[type=submit]")]);
  const file = join(dir, download.suggestedFilename());
  await download.saveAs(file);
  await page.waitForSelector("[data-testid=export-done]");
  const out = cli("export", "verify", file);
  assert.match(out, /^OK/);
  // A PDF too.
  await page.selectOption("select[name=format]", "pdf");
  const [pdf] = await Promise.all([page.waitForEvent("download"), page.click("form button[type=submit]")]);
  const pfile = join(dir, pdf.suggestedFilename());
  await pdf.saveAs(pfile);
  assert.ok(pfile.endsWith(".pdf"));
  // Read back: the PDF's total is the summary's for the same period.
  const text = execFileSync("pdftotext", ["-layout", pfile, "-"], { encoding: "utf8" });
  const s = cliJson("usage", "summary", "--org", "demo", "--from", `${MONTH}-01`);
  assert.ok(Number(s.cost) > 0, "the demo has spend this month");
  assert.ok(text.includes(s.cost), `the PDF shows the total ${s.cost}`);
});
