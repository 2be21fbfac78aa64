/// <reference types="vitest/config" />
import { fileURLToPath } from "node:url";

import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

const here = (path: string): string => fileURLToPath(new URL(path, import.meta.url));

// Domains' pages live beside their Python code (src/devflow/<domain>/ui/) and import the shell's
// pieces through `@devflow/ui`. Bare imports from those folders (react, the JSX runtime) must
// resolve to this folder's node_modules, hence `dedupe`.
export default defineConfig({
  plugins: [react()],
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
