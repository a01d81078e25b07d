// The real window links its empty store to a real server through the Sync
// screen and pulls the server's data: what a new desktop user does. The
// token comes from ARGUS_USAGE_TOKEN (no keyring service under Xvfb in CI),
// which takes precedence over what is typed and is then not stored.
// Run by scripts/test.sh.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { Session, startDriver, stopDriver } from "./webdriver.mjs";
import { APP_CMDS, atFakeNow } from "../e2e/faketime.mjs";

const TARGET = resolve(process.env.CARGO_TARGET_DIR ?? "../target");
const APP = join(TARGET, "debug", "argus-usage-desktop");
const CLI = join(TARGET, "debug", "argus-usage");
const home = mkdtempSync(join(tmpdir(), "argus-desktop-sync-"));
const serverDb = join(home, "server.db");
// The server, the CLI and the app run at a fixed date (libfaketime, limited to them).
const fixed = (env) => atFakeNow(env, APP_CMDS);
const cli = (db, ...a) => execFileSync(CLI, a, { env: fixed({ ...process.env, ARGUS_USAGE_DB: db }), encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
let server, driver, s, url;

before(async () => {
  cli(serverDb, "demo");
  const token = cli(serverDb, "token", "create", "--org", "demo", "--role", "admin", "--name", "desktop").trim();
  server = spawn(CLI, ["serve", "--listen", "127.0.0.1:0"], {
    env: fixed({ ...process.env, ARGUS_USAGE_DB: serverDb, ARGUS_USAGE_SERVER_KEY: "desktop-sync-test-key-0123" }),
    stdio: ["ignore", "ignore", "pipe"],
  });
  url = await new Promise((ok) =>
    createInterface({ input: server.stderr }).on("line", (l) => {
      const m = /on (http:\/\/[^/]+)\/api\/v1/.exec(l);
      if (m) ok(m[1]);
    }),
  );
  const env = fixed({
    ...process.env,
    ARGUS_USAGE_DB: join(home, "local.db"),
    ARGUS_USAGE_TOKEN: token,
    XDG_DATA_HOME: join(home, "data"),
    XDG_CACHE_HOME: join(home, "cache"),
    XDG_CONFIG_HOME: join(home, "config"),
  });
  const d = await startDriver({ env, port: 4446, nativePort: 4447 });
  driver = d.driver;
  s = await Session.create(d.url, APP);
});

after(async () => {
  await s?.close();
  stopDriver(driver);
  server?.kill("SIGTERM");
  rmSync(home, { recursive: true, force: true });
});

test("an empty store links to the server from the window, syncs, and shows the server's figures", async () => {
  // The welcome of an empty store offers the link.
  await s.waitText("h1", /Welcome/, 30000);
  await s.click(await s.find(".welcome .card:nth-of-type(2) button"));
  await s.type(await s.find("input[name=server]"), url);
  await s.type(await s.find("input[name=org]"), "demo");
  await s.type(await s.find("input[name=token]"), "typed-but-overridden");
  await s.click(await s.find("form.form button[type=submit]"));
  // Linked: the sync panel, then a sync with its progress.
  await s.waitText("[data-testid=last-synced]", /never/, 20000);
  await s.click(await s.find("[data-testid=sync-now]"));
  await s.waitText("p.ok", /Synced: [\d,]+ new records/, 60000);
  await s.waitText("[data-testid=last-synced]", /just now/);
  // The overview of the linked store shows the server's month-to-date spend, exactly.
  await s.exec("location.hash = '#/overview'");
  const el = await s.find("[data-testid=mtd-spend]", 20000);
  const status = JSON.parse(cli(serverDb, "budget", "status", "--org", "demo", "--json"));
  assert.equal(await s.attr(el, "data-exact"), status.spent);
});
