/// <reference types="vitest/config" />
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";

import react from "@vitejs/plugin-react";
import { defineConfig, type Plugin } from "vite";

const here = (path: string): string => fileURLToPath(new URL(path, import.meta.url));

// Each built asset also as .br and .gz beside it, compressed once at build time at the highest
// levels; DevFlow serves the one the browser accepts (web/routes/dashboard.py). Compressing per
// request would cost the server CPU on every first visit, and serving them uncompressed cost a
// phone on a slow link over a second (bench/ui.py, Lighthouse's mobile preset).
function precompress(): Plugin {
  let outDir = "";
  return {
    name: "devflow-precompress",
    apply: "build",
    configResolved(config) {
      outDir = config.build.outDir;
    },
    closeBundle() {
      const assets = join(outDir, "assets");
      for (const name of readdirSync(assets)) {
        if (!/\.(js|css|svg|json)$/.test(name)) continue;
        const body = readFileSync(join(assets, name));
        if (body.length < 1024) continue;
        writeFileSync(join(assets, `${name}.gz`), gzipSync(body, { level: 9 }));
        writeFileSync(
          join(assets, `${name}.br`),
          brotliCompressSync(body, {
            params: { [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY },
          }),
        );
      }
    },
  };
}

// Domains' pages live beside their Python code (src/devflow/<domain>/ui/) and import the shell's
// pieces through `@devflow/ui`. Bare imports from those folders (react, the JSX runtime) must
// resolve to this folder's node_modules, hence `dedupe`.
export default defineConfig({
  plugins: [react(), precompress()],
  resolve: {
    alias: { "@devflow/ui": here("./src/lib/index.ts") },
    dedupe: ["react", "react-dom", "react-router-dom", "@tanstack/react-query"],
  },
  build: {
    outDir: here("../src/devflow/web/ui_dist"),
    emptyOutDir: true,
    assetsDir: "assets",
    // The preload polyfill is the one piece Vite may inline; the CSP forbids inline script.
    modulePreload: { polyfill: false },
    sourcemap: false,
  },
  server: {
    fs: { allow: [here("..")] },
    // `npm run dev` next to a running `devflow up`: the API stays same-origin through the proxy.
    proxy: Object.fromEntries(
      ["/api", "/auth"].map((path) => [path, { target: "http://127.0.0.1:3737" }]),
    ),
  },
  test: {
    dir: here(".."),
    include: ["ui/src/**/*.test.{ts,tsx}", "src/devflow/*/ui/**/*.test.{ts,tsx}"],
    // Playwright's browser tests (ui/e2e/*.spec.ts) run against a live server, not here.
    exclude: ["**/node_modules/**", "ui/e2e/**"],
    environment: "node",
  },
});
