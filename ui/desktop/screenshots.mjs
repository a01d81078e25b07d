// Screenshots of every screen of the real window, light and dark, into
// docs/screenshots/. Run by scripts/screenshots.sh (under Xvfb).
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Session, startDriver, stopDriver } from "./webdriver.mjs";

const TARGET = resolve(process.env.CARGO_TARGET_DIR ?? "../target");
const OUT = resolve("../docs/screenshots");
const home = mkdtempSync(join(tmpdir(), "argus-shots-"));
// WebKitWebDriver's screenshot hangs on some screens under Xvfb when the app
// turns WebKitGTK's DMA-BUF renderer off (its default): keep it on here.
const env = { ...process.env, WEBKIT_DISABLE_DMABUF_RENDERER: "0", ARGUS_USAGE_DB: join(home, "usage.db"), XDG_DATA_HOME: join(home, "data"), XDG_CACHE_HOME: join(home, "cache"), XDG_CONFIG_HOME: join(home, "config") };
execFileSync(join(TARGET, "debug", "argus-usage"), ["demo"], { env });
const { driver, url } = await startDriver({ env, port: 4450, nativePort: 4451 });
const s = await Session.create(url, join(TARGET, "debug", "argus-usage-desktop"));
try {
  await s.find("[data-testid=mtd-spend]", 30000);
  for (const theme of ["light", "dark"]) {
    await s.exec(`localStorage.setItem('argus-theme', '${theme}'); document.documentElement.setAttribute('data-theme', '${theme}');`);
    for (const screen of ["overview", "explorer", "budgets", "providers", "prices", "reports", "sync", "audit"]) {
      await s.exec(`location.hash = '#/${screen}'`);
      await sleep(900);
      const file = join(OUT, `console-${screen}-${theme}.png`);
      writeFileSync(file, await s.screenshot());
      console.log(`wrote ${file}`);
    }
  }
} finally {
  await s.close();
  stopDriver(driver);
  rmSync(home, { recursive: true, force: true });
}
