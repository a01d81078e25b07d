// The dependency rules of ARCHITECTURE.md, kept by a tool: which crates
// may depend (directly, in any kind: normal, build or dev) on the crates
// that carry a side effect. Reads `cargo metadata`; exits 1 naming each
// crate that breaks a rule. Run by scripts/test.sh.
import { execFileSync } from "node:child_process";

// dependency (or a prefix ending in "-") -> the workspace crates allowed to use it, and why.
const RULES = [
  ["rusqlite", ["argus-store", "argus-bench"], "only the store touches SQLite (and the benchmark's plain-insert baseline)"],
  ["postgres", ["argus-store"], "only the store touches a database driver"],
  ["tokio-postgres", ["argus-store"], "only the store touches a database driver"],
  ["sqlx", ["argus-store"], "only the store touches a database driver"],
  ["reqwest", ["argus-client"], "only the client makes outbound HTTP calls"],
  ["keyring", ["argus-client"], "only the client reads the OS keyring"],
  ["tauri", ["argus-desktop"], "only the desktop shell uses Tauri"],
  ["tauri-", ["argus-desktop"], "only the desktop shell uses Tauri"],
];

const meta = JSON.parse(execFileSync("cargo", ["metadata", "--format-version", "1", "--no-deps", "--locked", "--offline"], { encoding: "utf8", maxBuffer: 1 << 26 }));
const broken = [];
for (const pkg of meta.packages) {
  for (const dep of pkg.dependencies) {
    for (const [name, allowed, why] of RULES) {
      const hit = name.endsWith("-") ? dep.name.startsWith(name) : dep.name === name;
      if (hit && !allowed.includes(pkg.name)) broken.push(`${pkg.name} depends on ${dep.name}${dep.kind ? ` (${dep.kind})` : ""}: ${why}; allowed: ${allowed.join(", ")}`);
    }
  }
}
if (broken.length) {
  console.error(`dependency rules broken (ARCHITECTURE.md, "Invariants"):\n  ${broken.join("\n  ")}`);
  process.exit(1);
}
console.log(`dependency rules hold for ${meta.packages.length} crates`);
