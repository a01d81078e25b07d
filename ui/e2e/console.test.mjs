// End to end in a real browser: headless Chromium (Debian's) driven by
// playwright-core, against the real `argus-usage serve` over a real store
// with the demo organisation, the console served by the same server.
// Run by scripts/test.sh after the UI build: `node --test e2e/`.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";
import { AxeBuilder } from "@axe-core/playwright";
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

/**
 * Clicks `selector` and saves the `n` downloads it brings into the test's
 * folder: their paths, sorted (a file before its FILE.meta.json, whichever
 * download the browser finished first).
 */
async function downloadsOf(selector, n) {
  const got = [];
  const all = new Promise((ok) => {
    const on = (d) => {
      got.push(d);
      if (got.length === n) {
        page.off("download", on);
        ok();
      }
    };
    page.on("download", on);
  });
  await page.click(selector);
  await all;
  const files = [];
  for (const d of got) {
    const file = join(dir, d.suggestedFilename());
    await d.saveAs(file);
    files.push(file);
  }
  return files.sort();
}

/** An amount as the console shows it in dollars: to the cent, thousands grouped. */
function money2(amount) {
  return "$" + Number(amount).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
}

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
  await page.locator("text=Next →").first().click();
  await page.waitForSelector("text=page 2");
  await page.locator("text=← Previous").last().click();
  await page.waitForSelector("text=page 1");
});

/** The Usage screen's total once it shows `cost`. */
async function totalIs(cost) {
  await page.waitForFunction((c) => document.querySelector("[data-testid=explorer-total]")?.getAttribute("data-exact") === c, cost, { timeout: 10000 });
}

test("the Usage view lives in the URL: a filtered drill-down is shareable, reloads and goes back", async () => {
  await go("explorer");
  const all = cliJson("usage", "summary", "--org", "demo", "--from", `${MONTH}-01`, "--by", "provider");
  await totalIs(all.cost);
  // Drill into a provider: the totals, the grouping and the URL follow.
  const first = all.groups[0].key;
  await page.click(`section[aria-label=groups] button.link:text-is("${first}")`);
  const one = cliJson("usage", "summary", "--org", "demo", "--from", `${MONTH}-01`, "--provider", first, "--by", "model");
  await totalIs(one.cost);
  assert.match(page.url(), new RegExp(`provider=${first}`));
  assert.match(page.url(), /by=model/);
  // The link opens the same view in a fresh tab, once signed in there.
  const again = await page.context().newPage();
  await again.goto(page.url());
  await again.fill("input[name=org]", "demo");
  await again.fill("input[name=token]", token);
  await again.click("button[type=submit]");
  await again.waitForFunction((c) => document.querySelector("[data-testid=explorer-total]")?.getAttribute("data-exact") === c, one.cost, { timeout: 10000 });
  assert.equal(await again.locator("section[aria-label=groups] tbody tr").count(), one.groups.length, "one row per model");
  await again.close();
  // The back button returns to the view before.
  await page.goBack();
  await totalIs(all.cost);
  // Last month, by a preset, with two groupings: each pair of keys is a row.
  await page.selectOption("select[name=preset]", "last_month");
  await page.selectOption("select[name=by]", "investigation");
  await page.selectOption("select[name=then]", "provider");
  await page.click("main button:text('Apply')");
  const prev = cliJson("usage", "summary", "--org", "demo", "--from", "2026-10-01", "--to", "2026-11-01", "--by", "investigation,provider");
  await totalIs(prev.cost);
  assert.equal(await page.locator("section[aria-label=groups] tbody tr").count(), prev.groups.length);
  assert.equal(await page.inputValue("input[name=from]"), "2026-10-01", "the date picker shows the preset's dates");
  // The records below are those of the same period, newest first, then oldest first.
  const newest = await page.locator("table.records tbody tr td").first().textContent();
  await page.selectOption("select[name=order]", "time");
  await page.waitForFunction((n) => document.querySelector("table.records tbody tr td")?.textContent !== n, newest, { timeout: 10000 });
  const oldest = cliJson("usage", "records", "--org", "demo", "--from", "2026-10-01", "--to", "2026-11-01", "--order", "time", "--limit", "1").records[0];
  assert.ok(oldest.occurred_at.startsWith("2026-10"), "the records are last month's");
});

test("the Overview's rows drill down into the Usage screen", async () => {
  await go("overview");
  const p = cliJson("usage", "summary", "--org", "demo", "--from", `${MONTH}-01`, "--by", "provider").groups[0];
  await page.click(`main a:text-is("${p.key}")`);
  const s = cliJson("usage", "summary", "--org", "demo", "--from", `${MONTH}-01`, "--provider", p.key);
  await totalIs(s.cost);
  assert.equal(s.cost, p.cost);
  // The projection says where the month ends against the budget.
  await go("overview");
  const verdict = await page.textContent("[data-testid=projection-verdict]");
  assert.match(verdict, /Projected to end at \$[\d,.]+, \$[\d,.]+ (under|over) budget/);
  // The chart's bars are one tab stop; arrow keys move between them.
  await page.locator("figure.chart g[tabindex='0']").focus();
  const first = await page.textContent("figure.chart figcaption");
  await page.keyboard.press("ArrowRight");
  const second = await page.textContent("figure.chart figcaption");
  assert.notEqual(first, second);
  assert.equal(await page.locator("figure.chart g[tabindex='0']").count(), 1);
});

test("Export this view writes the view's records, with the same filters and period", async () => {
  await go("explorer");
  await page.fill("main input[name=provider]", "openai");
  await page.click("main button:text('Apply')");
  const s = cliJson("usage", "summary", "--org", "demo", "--from", `${MONTH}-01`, "--provider", "openai");
  await totalIs(s.cost);
  // Two downloads: the CSV (header, then rows) and its metadata file.
  const [file, metaFile] = await downloadsOf("form[aria-label='Export this view'] button[type=submit]", 2);
  assert.equal(metaFile, `${file}.meta.json`);
  const v = JSON.parse(cli("export", "verify", file, "--json"));
  assert.equal(v.ok, true);
  const lines = readFileSync(file, "utf8").split("\n").filter((l) => l);
  assert.match(lines[0], /^id,org,provider,/, "the CSV opens on its header");
  assert.equal(lines.length - 1, s.requests, "one row per record of the view");
});

test("a read-only role sees no editing controls, and sign-in errors say what to do", async () => {
  const analyst = cli("token", "create", "--org", "demo", "--role", "analyst", "--name", "e2e-analyst").trim();
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await ctx.clock.setFixedTime(new Date(fakeNowMs()));
  const p = await ctx.newPage();
  await p.goto(base + "/");
  await p.fill("input[name=org]", "demo");
  await p.fill("input[name=token]", "not-a-token");
  await p.click("button[type=submit]");
  await p.waitForSelector("[data-testid=sign-in-error]");
  assert.match(await p.textContent("[data-testid=sign-in-error]"), /did not accept this token for "demo"/);
  await p.fill("input[name=token]", analyst);
  await p.click("button[type=submit]");
  await p.waitForSelector("[data-testid=mtd-spend]");
  assert.equal(await p.locator("nav a:text('Audit log')").count(), 0, "an analyst may not read the audit log: no link to it");
  await p.goto(base + "/#/budgets");
  await p.waitForSelector("main :text('Budgets')");
  assert.equal(await p.locator("text=Save budget").count(), 0);
  assert.equal(await p.locator("button:text('Edit')").count(), 0);
  await p.goto(base + "/#/providers");
  await p.waitForSelector("main :text('Providers, in the order')");
  assert.equal(await p.locator("input[role=switch], input.quota, button[aria-label^='Move']").count(), 0);
  await p.goto(base + "/#/prices");
  await p.waitForSelector("main :text('Price history')");
  assert.equal(await p.locator("text=Add version").count() + (await p.locator("text=Import rates").count()), 0);
  await ctx.close();
});

test("a scoped budget is set in the Budgets screen and shows the scope's spend", async () => {
  await go("budgets");
  const inv = cliJson("usage", "summary", "--org", "demo", "--by", "investigation", "--from", `${MONTH}-01`).groups[0].key;
  await page.selectOption("select[name=scope_kind]", "investigation");
  await page.fill("input[name=scope_value]", inv);
  await page.fill("input[name=scope_amount]", "2");
  await page.fill("input[name=scope_spike]", "5");
  await page.click("form[aria-label='Set a scoped budget'] button[type=submit]");
  await page.waitForSelector(`[data-testid=scoped-budgets] >> text=investigation:${inv}`);
  const status = cliJson("budget", "status", "--org", "demo", "--scope", `investigation:${inv}`);
  assert.equal(status.amount, "2.00");
  const row = await page.locator("[data-testid=scoped-budgets] tbody tr", { hasText: inv }).textContent();
  assert.ok(row.includes(money2(status.spent)), `the row shows the scope's spend ${status.spent}: ${row}`);
  const listed = cliJson("budget", "list", "--org", "demo").budgets.find((b) => b.scope === `investigation:${inv}`);
  assert.equal(listed.spike_factor, "5");
  // Its forecast is among the budgets most at risk on the Overview.
  await go("overview");
  await page.waitForSelector(`[data-testid=budgets-at-risk] >> text=investigation:${inv}`);
});

test("alert channels are added and removed in the Budgets screen", async () => {
  await go("budgets");
  await page.selectOption("select[name=channel_kind]", "slack");
  await page.fill("input[name=channel_url]", "https://hooks.example.com/services/T0/B0/e2e-secret-path");
  await page.click("form[aria-label='Add an alert channel'] button[type=submit]");
  await page.waitForSelector("[data-testid=channels] >> text=slack");
  await page.selectOption("select[name=channel_kind]", "email");
  await page.fill("input[name=channel_to]", "budgets@example.com");
  await page.fill("input[name=channel_smtp]", "smtp://mail.example.com:2525");
  await page.fill("input[name=channel_user]", "alerts");
  await page.click("form[aria-label='Add an alert channel'] button[type=submit]");
  await page.waitForSelector("text=The SMTP password is read from ARGUS_USAGE_SMTP_PASSWORD");
  const listed = cliJson("alerts", "channel", "list", "--org", "demo").channels;
  assert.deepEqual(listed.map((c) => c.kind), ["slack", "email"]);
  const table = await page.locator("[data-testid=channels]").textContent();
  assert.ok(!table.includes("e2e-secret-path"), `a Slack URL's secret path is never shown: ${table}`);
  assert.ok(table.includes("budgets@example.com via smtp://mail.example.com:2525"), table);
  await page.click(`button[aria-label^='Remove channel ${listed[0].id} ']`);
  await page.waitForSelector(`text=Removed channel ${listed[0].id}.`);
  assert.deepEqual(cliJson("alerts", "channel", "list", "--org", "demo").channels.map((c) => c.kind), ["email"]);
  assert.equal(await page.locator("[data-testid=channels] tbody tr").count(), 1);
});

test("the audit log shows the newest change first, filtered, field by field", async () => {
  cli("budget", "set", "--org", "demo", "--month", "2027-02", "--amount", "777");
  await go("audit");
  await page.fill("main input[name=action]", "budget");
  await page.click("main button:text('Apply')");
  await page.waitForSelector("table.audit tbody tr");
  const firstRow = await page.locator("table.audit tbody tr").first().textContent();
  assert.match(firstRow, /2027-02/);
  assert.match(firstRow, /amount/);
  assert.match(firstRow, /777/);
  const ids = await page.locator("table.audit tbody tr td:first-child").allTextContents();
  assert.deepEqual([...ids].map(Number), [...ids].map(Number).sort((a, b) => b - a), "newest first");
  // The filtered entries export with their checksum, every page of them.
  const [file] = await downloadsOf("form[aria-label='Export these entries'] button[type=submit]", 2);
  await page.waitForSelector("[data-testid=audit-export-done]");
  const v = JSON.parse(cli("export", "verify", file, "--json"));
  assert.equal(v.ok, true, JSON.stringify(v.problems));
  assert.equal(v.kind, "audit");
  const cliExport = cliJson("export", "--org", "demo", "--kind", "audit", "--action", "budget", "--format", "json", "--out", join(dir, "audit-cli.json"));
  assert.equal(v.record_count, cliExport.meta.record_count, "every budget entry, as the CLI exports them, not only the page shown");
  assert.equal(v.sha256, cliExport.meta.sha256, "the same rows");
});

test("axe-core finds no serious or critical violation on any screen, light or dark", async () => {
  for (const theme of ["light", "dark"]) {
    await page.evaluate((t) => localStorage.setItem("argus-theme", t), theme);
    for (const screen of ["overview", "explorer", "budgets", "providers", "prices", "reports", "sync", "audit"]) {
      await go(screen);
      await page.waitForSelector("main h1");
      await page.waitForFunction(() => !document.querySelector("main [aria-busy=true]"), null, { timeout: 10000 });
      const r = await new AxeBuilder({ page }).analyze();
      const bad = r.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
      assert.deepEqual(bad.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join(", ")}`), [], `${screen} (${theme})`);
    }
  }
  await page.evaluate(() => localStorage.removeItem("argus-theme"));
  // The sign-in page too.
  const ctx = await browser.newContext();
  const p = await ctx.newPage();
  await p.goto(base + "/");
  await p.waitForSelector("input[name=token]");
  const r = await new AxeBuilder({ page: p }).analyze();
  assert.deepEqual(r.violations.filter((v) => v.impact === "serious" || v.impact === "critical").map((v) => v.id), [], "sign-in");
  await ctx.close();
});

test("a budget edit round-trips", async () => {
  await go("budgets");
  // The form opens with the budget in force this month.
  const status = cliJson("budget", "status", "--org", "demo");
  const month = status.budget_source;
  assert.ok(month, "the demo has a budget in force");
  await page.waitForFunction((m) => document.querySelector("input[name=month]")?.value === m, month);
  assert.equal(await page.inputValue("input[name=amount]"), cliJson("budget", "list", "--org", "demo").budgets.find((x) => x.month === month).amount);
  await page.fill("input[name=amount]", "1234.56");
  await page.fill("input[name=thresholds]", "50, 75, 100");
  await page.click("text=Save budget");
  await page.waitForSelector("text=Saved the budget");
  const b = cliJson("budget", "list", "--org", "demo").budgets.find((x) => x.month === month);
  assert.equal(b.amount, "1234.56");
  assert.deepEqual(b.thresholds, [50, 75, 100]);
  await page.reload();
  // The nav link says "Budgets" before the screen has loaded: wait for the figure itself.
  await page.waitForFunction(() => document.querySelector("main")?.textContent.includes("$1,234.56"), null, { timeout: 10000 });
  // A threshold above 100 % is questioned before it is saved.
  await page.fill("input[name=thresholds]", "80, 150");
  await page.click("text=Save budget");
  await page.waitForSelector("[data-testid=threshold-question]");
  assert.deepEqual(cliJson("budget", "list", "--org", "demo").budgets.find((x) => x.month === month).thresholds, [50, 75, 100], "not saved yet");
  await page.click("text=Change the thresholds");
  await page.fill("input[name=thresholds]", "50, 75, 100");
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

test("a report downloads and verifies, in every format", async () => {
  await go("reports");
  await page.selectOption("select[name=format]", "csv");
  const [file, metaFile] = await downloadsOf("form button[type=submit]", 2);
  await page.waitForSelector("[data-testid=export-done]");
  assert.equal(metaFile, `${file}.meta.json`, "the CSV's metadata comes as a second file");
  assert.match(readFileSync(file, "utf8"), /^id,org,/, "a CSV that opens cleanly: the header first");
  assert.match(cli("export", "verify", file), /^OK/);
  // On request, one CSV with the metadata as # lines.
  await page.selectOption("select[name=format]", "csv_lines");
  const [withLines] = await downloadsOf("form button[type=submit]", 1);
  assert.match(readFileSync(withLines, "utf8"), /^# \{/);
  assert.match(cli("export", "verify", withLines), /^OK/);
  // JSON: one file.
  await page.selectOption("select[name=format]", "json");
  const [json] = await downloadsOf("form button[type=submit]", 1);
  assert.match(cli("export", "verify", json), /^OK/);
  // A PDF, with its metadata file: verified too.
  await page.selectOption("select[name=format]", "pdf");
  await page.selectOption("select[name=kind]", "summary");
  const [pfile, pmeta] = await downloadsOf("form button[type=submit]", 2);
  assert.ok(pfile.endsWith(".pdf") && pmeta === `${pfile}.meta.json`);
  assert.match(cli("export", "verify", pfile), /^OK/);
  // Read back: the PDF's total is the summary's for the same period, to the
  // cent on its first page and exact in its appendix.
  const text = execFileSync("pdftotext", ["-layout", pfile, "-"], { encoding: "utf8" });
  const s = cliJson("usage", "summary", "--org", "demo", "--from", `${MONTH}-01`);
  assert.ok(Number(s.cost) > 0, "the demo has spend this month");
  assert.ok(text.includes(s.cost), `the PDF's appendix shows the exact total ${s.cost}`);
  const cents = Number(s.cost).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  assert.ok(text.includes(`${cents} USD`), `the PDF shows the total to the cent, ${cents}`);
});
