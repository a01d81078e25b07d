// The real window: the desktop app (Tauri, WebKitGTK) opened by tauri-driver
// under Xvfb on a demo store, checked through WebDriver: the overview's
// figures and one edit. Run by scripts/desktop-smoke.sh.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Session, startDriver, stopDriver } from "./webdriver.mjs";
import { APP_CMDS, atFakeNow } from "../e2e/faketime.mjs";

const TARGET = resolve(process.env.CARGO_TARGET_DIR ?? "../target");
const APP = join(TARGET, "debug", "argus-usage-desktop");
const CLI = join(TARGET, "debug", "argus-usage");
const home = mkdtempSync(join(tmpdir(), "argus-desktop-"));
const db = join(home, "usage.db");
// The app and the CLI run at a fixed date (libfaketime, limited to them):
// the demo's month and "this month" do not depend on today's date.
const env = atFakeNow({ ...process.env, ARGUS_USAGE_DB: db, XDG_DATA_HOME: join(home, "data"), XDG_CACHE_HOME: join(home, "cache"), XDG_CONFIG_HOME: join(home, "config") }, APP_CMDS);
const cli = (...a) => JSON.parse(execFileSync(CLI, [...a, "--json"], { env, encoding: "utf8" }));
let driver, s;

before(async () => {
  cli("demo");
  ({ driver } = await startDriver({ env }).then(async (d) => {
    s = await Session.create(d.url, APP);
    return d;
  }));
});

after(async () => {
  await s?.close();
  stopDriver(driver);
  rmSync(home, { recursive: true, force: true });
});

test("the overview in the real window shows the month-to-date spend of `budget status`", async () => {
  const el = await s.find("[data-testid=mtd-spend]", 30000);
  const exact = await s.attr(el, "data-exact");
  assert.equal(exact, cli("budget", "status", "--org", "demo").spent);
  assert.match(await s.text(el), /^\$[\d,]+\.\d\d$/);
});

test("a budget edit in the window is stored", async () => {
  await s.exec("location.hash = '#/budgets'");
  const amount = await s.find("input[name=amount]");
  await s.type(amount, "4321");
  await s.click(await s.find("form.form button[type=submit]"));
  await s.waitText("p.ok", /Saved the budget/);
  // The form opened with the budget in force (the demo's default one).
  const month = cli("budget", "status", "--org", "demo").budget_source;
  const b = cli("budget", "list", "--org", "demo").budgets.find((x) => x.month === month);
  assert.equal(b.amount, "4321.00");
});

test("the Usage screen in the real window shows this month's total, and a provider's", async () => {
  // WebKit's locale data differ from Chromium's: the view's dates must still be this month's.
  await s.exec("location.hash = '#/explorer'");
  const total = await s.find("[data-testid=explorer-total]", 15000);
  const month = cli("budget", "status", "--org", "demo").month;
  assert.equal(await s.attr(total, "data-exact"), cli("usage", "summary", "--org", "demo", "--from", `${month}-01`).cost);
  await s.exec("location.hash = '#/explorer?provider=openai&by=model'");
  const want = cli("usage", "summary", "--org", "demo", "--from", `${month}-01`, "--provider", "openai").cost;
  const deadline = Date.now() + 15000;
  let got = null;
  while (Date.now() < deadline && got !== want) {
    got = await s.exec("return document.querySelector('[data-testid=explorer-total]')?.getAttribute('data-exact') ?? null");
    if (got !== want) await new Promise((r) => setTimeout(r, 200));
  }
  assert.equal(got, want, "the drill-down's total is the CLI's");
  assert.equal(await s.exec("return document.querySelectorAll('.error').length"), 0);
});
