import { defineConfig } from "vite";

// Plain Vite with esbuild's JSX for Preact: no plugin needed.
export default defineConfig({
  root: ".",
  base: "./",
  esbuild: { jsx: "automatic", jsxImportSource: "preact" },
  build: { outDir: "dist", emptyOutDir: true, target: "es2021", sourcemap: false },
  test: { include: ["test/**/*.test.ts"], environment: "node" },
} as any);
