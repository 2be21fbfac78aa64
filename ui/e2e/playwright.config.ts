// Browser tests of the dashboard against a running `devflow up`. They are started by
// tests/e2e/test_dashboard_browser.py, which starts the server on a temporary home, publishes a
// package and passes where to find it in DEVFLOW_E2E_URL and DEVFLOW_E2E_TOKEN (an admin token).
// No browser is downloaded: Debian's chromium runs them (DEVFLOW_E2E_CHROMIUM to use another).
import { defineConfig } from "@playwright/test";

export default defineConfig({
  testDir: ".",
  // Screenshots of every test, kept as the run's artifacts (gitignored).
  outputDir: "../test-results",
  // One server, one browser: tests run one after another, each in its own signed-in context.
  workers: 1,
  fullyParallel: false,
  forbidOnly: true,
  retries: 0,
  // Bounds on a wait, not timings: a busy CI box may take a while to embed a few files.
  timeout: 180_000,
  expect: { timeout: 90_000 },
  reporter: [["list"]],
  use: {
    baseURL: process.env.DEVFLOW_E2E_URL ?? "http://127.0.0.1:3737",
    screenshot: "on",
    trace: "retain-on-failure",
    launchOptions: {
      executablePath: process.env.DEVFLOW_E2E_CHROMIUM ?? "/usr/bin/chromium",
    },
  },
});
