// Screenshots of every screen of the real window, light and dark, at 1440
// and 900 px wide, plus a filtered drill-down and an error state, into
// docs/screenshots/. Run by scripts/screenshots.sh (under Xvfb). The app runs
// at the tests' fixed date (libfaketime), so the demo shows a month of data
// whatever the day the screenshots are taken.
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Session, startDriver, stopDriver } from "./webdriver.mjs";
import { APP_CMDS, atFakeNow } from "../e2e/faketime.mjs";

const TARGET = resolve(process.env.CARGO_TARGET_DIR ?? "../target");
const OUT = resolve("../docs/screenshots");
const home = mkdtempSync(join(tmpdir(), "argus-shots-"));
// WebKitWebDriver's screenshot hangs on some screens under Xvfb when the app
// turns WebKitGTK's DMA-BUF renderer off (its default): keep it on here.
const env = atFakeNow(
  { ...process.env, WEBKIT_DISABLE_DMABUF_RENDERER: "0", ARGUS_USAGE_DB: join(home, "usage.db"), XDG_DATA_HOME: join(home, "data"), XDG_CACHE_HOME: join(home, "cache"), XDG_CONFIG_HOME: join(home, "config") },
  APP_CMDS,
);
execFileSync(join(TARGET, "debug", "argus-usage"), ["demo"], { env });
const { driver, url } = await startDriver({ env, port: 4450, nativePort: 4451 });
const s = await Session.create(url, join(TARGET, "debug", "argus-usage-desktop"));
const shot = async (name) => {
  const file = join(OUT, `${name}.png`);
  writeFileSync(file, await s.screenshot());
  console.log(`wrote ${file}`);
};
try {
  await s.find("[data-testid=mtd-spend]", 30000);
  for (const width of [1440, 900]) {
    await s.cmd("POST", "/window/rect", { width, height: 900 });
    for (const theme of ["light", "dark"]) {
      await s.exec(`localStorage.setItem('argus-theme', '${theme}'); document.documentElement.setAttribute('data-theme', '${theme}');`);
      for (const screen of ["overview", "explorer", "budgets", "providers", "prices", "reports", "sync", "audit"]) {
        await s.exec(`location.hash = '#/${screen}'`);
        await sleep(900);
        await shot(width === 1440 ? `console-${screen}-${theme}` : `console-${screen}-${theme}-900`);
      }
    }
    await s.exec(`localStorage.setItem('argus-theme', 'light'); document.documentElement.setAttribute('data-theme', 'light');`);
    // A drill-down: one provider's spend this month by model, as its link opens it.
    await s.exec(`location.hash = '#/explorer?provider=openai&by=model'`);
    await sleep(1200);
    await shot(`console-usage-drilldown-${width}`);
    // An error state: a custom period whose date does not exist.
    await s.exec(`location.hash = '#/explorer?preset=custom&from=2026-02-30&to=2026-03-01'`);
    await sleep(1200);
    await shot(`console-usage-error-${width}`);
  }
} finally {
  await s.close();
  stopDriver(driver);
  rmSync(home, { recursive: true, force: true });
}
