// The window's long jobs, in the real window (Tauri, WebKitGTK) through
// WebDriver under Xvfb: import from the welcome screen, an export cancelled
// half-way (no file left) and one that completes and verifies, a reprice
// applied from the Prices screen, and the desktop notification a budget
// alert raises, read off a private D-Bus session bus with a real
// notification daemon (dunst) and dbus-monitor. Run by scripts/test.sh.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createServer } from "node:http";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import { Session, startDriver, stopDriver } from "./webdriver.mjs";
import { APP_CMDS, atFakeNow } from "../e2e/faketime.mjs";

const TARGET = resolve(process.env.CARGO_TARGET_DIR ?? "../target");
const APP = join(TARGET, "debug", "argus-usage-desktop");
const CLI = join(TARGET, "debug", "argus-usage");
const home = mkdtempSync(join(tmpdir(), "argus-desktop-jobs-"));
const db = join(home, "usage.db");
let env = atFakeNow(
  { ...process.env, HOME: home, ARGUS_USAGE_DB: db, XDG_DATA_HOME: join(home, "data"), XDG_CACHE_HOME: join(home, "cache"), XDG_CONFIG_HOME: join(home, "config") },
  APP_CMDS,
);
const cli = (...a) => execFileSync(CLI, a, { env, encoding: "utf8", maxBuffer: 1 << 26 });
const children = [];
const notifications = [];
let driver, s;

/** `n` calls of organisation acme in October and November 2026, as JSON Lines. */
function lines(prefix, n, provider = "openai", model = "gpt-4o") {
  let out = "";
  for (let i = 0; i < n; i++) {
    const month = i % 2 ? "10" : "11";
    const day = String(1 + (i % 26)).padStart(2, "0");
    out += JSON.stringify({ id: `${prefix}${i}`, org: "acme", provider, model, operation: "chat", input_tokens: 1000 + i, output_tokens: 100, occurred_at: `2026-${month}-${day}T10:00:00Z` }) + "\n";
  }
  return out;
}

/** Clicks the first button whose text contains `text`. */
async function clickButton(text) {
  const ok = await s.exec("const b = [...document.querySelectorAll('button')].find((b) => b.textContent.includes(arguments[0]) && !b.disabled); if (b) b.click(); return !!b;", [text]);
  assert.ok(ok, `a button "${text}"`);
}

async function until(what, fn, timeoutMs = 30000) {
  const end = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

before(async () => {
  // A private session bus with a notification daemon, watched by dbus-monitor.
  const bus = spawn("dbus-daemon", ["--session", "--nofork", "--print-address=1"], { env, stdio: ["ignore", "pipe", "inherit"] });
  children.push(bus);
  const address = await new Promise((ok) => createInterface({ input: bus.stdout }).once("line", ok));
  env = { ...env, DBUS_SESSION_BUS_ADDRESS: address.trim() };
  children.push(spawn("dunst", [], { env, stdio: "ignore" }));
  const monitor = spawn("dbus-monitor", ["--address", address.trim(), "interface='org.freedesktop.Notifications',member='Notify'"], { env, stdio: ["ignore", "pipe", "ignore"] });
  children.push(monitor);
  monitor.stdout.on("data", (d) => notifications.push(d.toString()));
  mkdirSync(join(home, "Downloads"), { recursive: true });
  ({ driver } = await startDriver({ env, port: 4448, nativePort: 4449 }).then(async (d) => {
    s = await Session.create(d.url, APP);
    return d;
  }));
});

after(async () => {
  await s?.close();
  stopDriver(driver);
  for (const c of children) c.kill("SIGTERM");
  rmSync(home, { recursive: true, force: true });
});

test("a JSON Lines file imports from the welcome screen of an empty store", async () => {
  await s.waitText("h1", /Welcome/, 30000);
  await s.type(await s.find("input[name=new_org]"), "acme");
  await s.type(await s.find("input[name=new_timezone]"), "UTC");
  // The file the user picks: set on the file input as a browser would.
  const text = lines("w", 200) + lines("u", 100, "inhouse", "m1");
  await s.exec(
    "const i = document.querySelector('input[type=file]'); const dt = new DataTransfer(); dt.items.add(new File([arguments[0]], 'calls.jsonl')); i.files = dt.files; i.dispatchEvent(new Event('change', { bubbles: true }));",
    [text],
  );
  await s.find("[data-testid=mtd-spend]", 60000);
  const sum = JSON.parse(cli("usage", "summary", "--org", "acme", "--from", "2026-10-01", "--to", "2026-12-01", "--json"));
  assert.equal(sum.requests, 300, "every line was imported");
  assert.equal(sum.unpriced_requests, 100, "the in-house model has no price yet");
});

test("an export cancelled half-way leaves no file; a finished one verifies", async () => {
  // Enough records that the export takes a while in a debug build.
  const big = join(home, "big.jsonl");
  writeFileSync(big, lines("b", 150000));
  cli("ingest", big);
  await s.exec("location.hash = '#/reports'");
  const pick = (format) => s.exec("const f = document.querySelector('select[name=format]'); f.value = arguments[0]; f.dispatchEvent(new Event('change', { bubbles: true }));", [format]);
  await s.find("select[name=format]");
  await pick("json");
  await s.type(await s.find("input[name=from]"), "2026-01-01");
  await s.click(await s.find("form.form button[type=submit]"));
  await s.find(".card button.secondary", 30000);
  await clickButton("Cancel");
  await s.waitText("[role=status]", /Cancelled: no file was written/, 60000);
  const files = () => [home, join(home, "Downloads")].flatMap((d) => readdirSync(d).filter((f) => f.startsWith("argus-usage-")).map((f) => join(d, f)));
  assert.deepEqual(files(), [], "a cancelled export leaves no file, not even a partial one");

  await pick("csv");
  await s.type(await s.find("input[name=provider]"), "inhouse");
  await s.click(await s.find("form.form button[type=submit]"));
  const done = await s.waitText("[data-testid=export-done]", /Wrote/, 60000);
  const [file] = files();
  assert.ok(file && done.includes(file), `the file written is the one shown: ${done}`);
  assert.match(cli("export", "verify", file), /^OK/);
});

test("a reprice applies from the Prices screen after a new price version", async () => {
  await s.exec("location.hash = '#/prices'");
  for (const [k, v] of Object.entries({ provider: "inhouse", model: "m1", effective_from: "2026-01-01", input_per_mtok: "1", output_per_mtok: "2" })) {
    await s.type(await s.find(`input[name=${k}]`), v);
  }
  await clickButton("Add version");
  await s.waitText("main", /Added a new price version/);
  await clickButton("Preview");
  await s.waitText("[data-testid=reprice-preview]", /100/);
  await clickButton("Apply the reprice");
  await until("the reprice to apply", () => JSON.parse(cli("usage", "summary", "--org", "acme", "--from", "2026-10-01", "--to", "2026-12-01", "--json")).unpriced_requests === 0, 60000);
});

test("a budget lowered below the month's spend raises desktop notifications, and the window sends them to Slack", async () => {
  // A Slack-compatible receiver on loopback: a solo store has no server, so
  // the running window delivers its alerts to the channel.
  const slack = [];
  const receiver = createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      slack.push(JSON.parse(body).text);
      res.end("ok");
    });
  });
  await new Promise((ok) => receiver.listen(0, "127.0.0.1", ok));
  const url = `http://127.0.0.1:${receiver.address().port}/services/T0/B0/x`;
  // Added in the window (the channel_add command), as its user would.
  await s.exec("location.hash = '#/budgets'");
  await s.type(await s.find("input[name=channel_url]"), url);
  await clickButton("Add channel");
  await s.waitText("main", /Added channel \d+: slack/);
  assert.ok(JSON.parse(cli("alerts", "channel", "list", "--org", "acme", "--json")).channels.some((c) => c.kind === "slack"));
  await s.type(await s.find("input[name=amount]"), "0.01");
  await s.click(await s.find("form.form button[type=submit]"));
  await s.waitText("p.ok", /Saved the budget/);
  const fired = JSON.parse(cli("alerts", "list", "--org", "acme", "--json")).alerts;
  assert.ok(fired.length >= 1, "the lowered budget fired its thresholds");
  for (const a of fired) {
    await until(`a Notify call on the session bus for ${a.threshold}%`, () => notifications.join("").includes(`Budget alert: acme reached ${a.threshold}%`));
    await until(`a Slack message for ${a.threshold}%`, () => slack.some((t) => t.startsWith(`Budget alert: acme reached ${a.threshold}%`)));
  }
  await sleep(3000); // two more polls of the outbox: nothing is sent twice
  assert.equal(slack.length, fired.length, `one message an alert: ${JSON.stringify(slack)}`);
  receiver.close();
});
