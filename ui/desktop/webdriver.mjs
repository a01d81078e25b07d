// A minimal W3C WebDriver client over fetch, for tauri-driver (which hands
// the session to WebKitWebDriver driving the real app window).
import { spawn } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";

const ELEMENT = "element-6066-11e4-a52e-4f735466cecf";

export async function startDriver({ env, port = 4444, nativePort = 4445 }) {
  // A process group of its own: `stopDriver` ends it with WebKitWebDriver and
  // the app, also when closing the session left the app running (it would
  // hold the test's output open, and the test runner would wait forever).
  const driver = spawn("tauri-driver", ["--port", String(port), "--native-port", String(nativePort)], {
    env,
    stdio: ["ignore", "inherit", "inherit"],
    detached: true,
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    try {
      await fetch(`${url}/status`);
      return { driver, url };
    } catch {
      await sleep(100);
    }
  }
  stopDriver(driver);
  throw new Error("tauri-driver did not start; install it with `cargo install tauri-driver --locked`");
}

/** Ends tauri-driver and everything it started (its process group). */
export function stopDriver(driver) {
  if (!driver?.pid) return;
  for (const sig of ["SIGTERM", "SIGKILL"]) {
    try {
      process.kill(-driver.pid, sig);
    } catch {
      return; // the group is gone
    }
  }
}

export class Session {
  static async create(url, application) {
    const r = await fetch(`${url}/session`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ capabilities: { alwaysMatch: { "tauri:options": { application } } } }),
    });
    const j = await r.json();
    if (!j.value?.sessionId) throw new Error(`no session: ${JSON.stringify(j)}`);
    return new Session(url, j.value.sessionId);
  }

  constructor(url, id) {
    this.base = `${url}/session/${id}`;
  }

  async cmd(method, path, body) {
    const r = await fetch(this.base + path, { method, headers: { "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
    const j = await r.json();
    if (j.value && j.value.error) throw new Error(`${path}: ${j.value.error}: ${j.value.message}`);
    return j.value;
  }

  async find(css, timeoutMs = 15000) {
    const end = Date.now() + timeoutMs;
    for (;;) {
      try {
        const v = await this.cmd("POST", "/element", { using: "css selector", value: css });
        return v[ELEMENT];
      } catch (e) {
        if (Date.now() > end) throw new Error(`no element ${css}: ${e.message}`);
        await sleep(100);
      }
    }
  }

  async waitText(css, re, timeoutMs = 15000) {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const t = await this.text(await this.find(css, timeoutMs)).catch(() => "");
      if (re.test(t)) return t;
      if (Date.now() > end) throw new Error(`${css} never matched ${re}: ${t}`);
      await sleep(100);
    }
  }

  text(el) {
    return this.cmd("GET", `/element/${el}/text`);
  }
  attr(el, name) {
    return this.cmd("GET", `/element/${el}/attribute/${name}`);
  }
  click(el) {
    return this.cmd("POST", `/element/${el}/click`, {});
  }
  async type(el, text) {
    await this.cmd("POST", `/element/${el}/clear`, {});
    return this.cmd("POST", `/element/${el}/value`, { text });
  }
  exec(script, args = []) {
    return this.cmd("POST", "/execute/sync", { script, args });
  }
  /** A screenshot after two animation frames (so it shows the current frame). */
  async screenshot() {
    await this.cmd("POST", "/execute/async", { script: "const done = arguments[0]; requestAnimationFrame(() => requestAnimationFrame(() => done()));", args: [] });
    return Buffer.from(await this.cmd("GET", "/screenshot"), "base64");
  }
  close() {
    return fetch(this.base, { method: "DELETE" }).catch(() => {});
  }
}
