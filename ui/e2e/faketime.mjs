// Runs the project's binaries at a fixed date, moved from outside the
// process: Debian's libfaketime (package faketime, installed by
// scripts/setup.sh) preloaded with an offset from the real clock, so that
// time still flows and every process started here shares one timeline. The
// binaries have no clock override of their own. No test depends on today's
// date: the demo data, "this month" and the budget month are FAKE_NOW's.
import { existsSync, readdirSync } from "node:fs";

export const FAKE_NOW = "2026-11-27T12:00:00Z";
const offsetS = Math.round((Date.parse(FAKE_NOW) - Date.now()) / 1000);

/** The clock the binaries see now, in milliseconds since the epoch. */
export const fakeNowMs = () => Date.now() + offsetS * 1000;

/** The programs of the desktop app: its binaries and WebKit's page process (the window's JavaScript clock). */
export const APP_CMDS = ["argus-usage", "argus-usage-desktop", "WebKitWebProcess"];

/** `env` with libfaketime preloaded; `onlyCmds` limits it to those programs. */
export function atFakeNow(env, onlyCmds) {
  const lib = readdirSync("/usr/lib")
    .map((d) => `/usr/lib/${d}/faketime/libfaketime.so.1`)
    .find((p) => existsSync(p));
  if (!lib) throw new Error("libfaketime is missing: install Debian's faketime (scripts/setup.sh does)");
  const e = { ...env, LD_PRELOAD: lib, FAKETIME: `${offsetS >= 0 ? "+" : ""}${offsetS}`, FAKETIME_DONT_FAKE_MONOTONIC: "1" };
  if (onlyCmds) e.FAKETIME_ONLY_CMDS = onlyCmds.join(",");
  return e;
}
