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
  ["lettre", ["argus-client"], "only the client sends e-mail"],
  ["tauri", ["argus-desktop"], "only the desktop shell uses Tauri"],
  ["tauri-", ["argus-desktop"], "only the desktop shell uses Tauri"],
];

const meta = JSON.parse(execFileSync("cargo", ["metadata", "--format-version", "1", "--no-deps", "--locked"], { encoding: "utf8", maxBuffer: 1 << 26 }));
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

// No module cycles inside the facade and the server: the graph of
// `crate::MODULE` references between top-level modules is acyclic.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

function moduleGraph(src) {
  const graph = new Map();
  const files = (dir) => readdirSync(dir).flatMap((f) => (statSync(join(dir, f)).isDirectory() ? files(join(dir, f)) : [join(dir, f)]));
  for (const file of files(src).filter((f) => f.endsWith(".rs"))) {
    const rel = file.slice(src.length + 1);
    const mod = rel.split("/")[0].replace(/\.rs$/, "");
    if (mod === "lib" || mod === "main") continue;
    const refs = graph.get(mod) ?? new Set();
    for (const m of readFileSync(file, "utf8").matchAll(/crate::([a-z_]+)/g)) if (m[1] !== mod) refs.add(m[1]);
    graph.set(mod, refs);
  }
  return graph;
}

function cycle(graph) {
  const state = new Map();
  const path = [];
  const visit = (m) => {
    if (state.get(m) === "done" || !graph.has(m)) return null;
    if (state.get(m) === "open") return [...path.slice(path.indexOf(m)), m];
    state.set(m, "open");
    path.push(m);
    for (const n of graph.get(m)) {
      const c = visit(n);
      if (c) return c;
    }
    path.pop();
    state.set(m, "done");
    return null;
  };
  for (const m of graph.keys()) {
    const c = visit(m);
    if (c) return c;
  }
  return null;
}

for (const crate of ["crates/ops/src", "crates/server/src"]) {
  const c = cycle(moduleGraph(crate));
  if (c) {
    console.error(`a module cycle in ${crate}: ${c.join(" -> ")}; move what both sides need into a module of its own`);
    process.exit(1);
  }
}
console.log("no module cycles in argus-ops and argus-server");

// Licenses: every crate built for this platform (dependencies included)
// under licenses the project may ship (permissive, or MPL-2.0 file-level
// copyleft). Every identifier of an expression must be allowed, also in an
// `OR`, which is stricter than needed and keeps the rule simple.
const ALLOWED = new Set([
  "MIT", "MIT-0", "Apache-2.0", "LLVM-exception", "BSD-2-Clause", "BSD-3-Clause", "0BSD", "ISC", "Zlib",
  "Unlicense", "CC0-1.0", "BSL-1.0", "Unicode-3.0", "MPL-2.0", "CDLA-Permissive-2.0",
]);
const host = /host: (\S+)/.exec(execFileSync("rustc", ["-vV"], { encoding: "utf8" }))[1];
const full = JSON.parse(
  execFileSync("cargo", ["metadata", "--format-version", "1", "--locked", "--filter-platform", host], {
    encoding: "utf8",
    maxBuffer: 1 << 28,
  }),
);
const used = new Set(full.resolve.nodes.map((n) => n.id));
const badLicenses = [];
for (const p of full.packages.filter((p) => used.has(p.id))) {
  if (!p.license) {
    badLicenses.push(`${p.name} ${p.version}: no license field`);
    continue;
  }
  const ids = p.license.split(/\s+OR\s+|\s+AND\s+|\s+WITH\s+|[()/]/).map((x) => x.trim()).filter(Boolean);
  const unknown = ids.filter((id) => !ALLOWED.has(id));
  if (unknown.length) badLicenses.push(`${p.name} ${p.version}: ${p.license}`);
}
if (badLicenses.length) {
  console.error(`licenses not on the list in scripts/check-deps.mjs:\n  ${badLicenses.join("\n  ")}`);
  process.exit(1);
}
console.log(`licenses allowed for ${used.size} crates`);
