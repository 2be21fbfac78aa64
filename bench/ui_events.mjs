// The browser half of bench/ui.py's live-update measurement: Debian's chromium (driven by the
// Playwright that ui/ already installs; no browser is downloaded) holds the signed-in Overview
// open, and a MutationObserver, installed before the app's first script runs, notes when each
// event's line appears in the page: the high-resolution wall clock of the page
// (performance.timeOrigin + performance.now()) when the node is added, and again at the next
// animation frame (the frame that paints it).
//
// bench/ui.py writes the events and speaks to this script in lines:
//   stdout {"ready": true}                  the page is signed in and its event stream is live
//   stdin  clock         -> {"clock": ms}   the page's clock now (to compare with the bench's)
//   stdin  wait <n>      -> {"n", "dom", "frame"} or {"n", "timeout": true}
//   stdin  quit
// Environment: BENCH_URL, BENCH_COOKIE (the session cookie's value), BENCH_CHROMIUM,
// BENCH_MARK (the event type prefix; the number follows it), BENCH_TIMEOUT_MS.
import { createRequire } from "node:module";
import readline from "node:readline";

const require = createRequire(new URL("../ui/package.json", import.meta.url));
const { chromium } = require("playwright-core");

const url = process.env.BENCH_URL;
const mark = process.env.BENCH_MARK ?? "bench.ping.";
const timeout = Number(process.env.BENCH_TIMEOUT_MS ?? "30000");

function send(message) {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

// Runs in the page before any of its scripts.
function observe({ mark, timeout }) {
  const seen = new Map();
  const waiting = new Map();
  const escaped = mark.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const pattern = new RegExp(`${escaped}(\\d+)`, "g");
  const now = () => performance.timeOrigin + performance.now();
  new MutationObserver((records) => {
    const at = now();
    for (const record of records) {
      for (const node of record.addedNodes) {
        for (const match of (node.textContent ?? "").matchAll(pattern)) {
          const n = Number(match[1]);
          if (seen.has(n)) continue;
          const entry = { dom: at, frame: null };
          seen.set(n, entry);
          requestAnimationFrame(() => {
            entry.frame = now();
            waiting.get(n)?.(entry);
          });
        }
      }
    }
  }).observe(document, { childList: true, subtree: true });
  window.__benchWait = (n) =>
    new Promise((resolve) => {
      const entry = seen.get(n);
      if (entry?.frame != null) return resolve(entry);
      waiting.set(n, resolve);
      setTimeout(() => resolve(null), timeout);
    });
}

const browser = await chromium.launch({ executablePath: process.env.BENCH_CHROMIUM });
try {
  const context = await browser.newContext();
  await context.addCookies([
    {
      name: "devflow_session",
      value: process.env.BENCH_COOKIE,
      url,
      httpOnly: true,
      sameSite: "Strict",
    },
  ]);
  await context.addInitScript(observe, { mark, timeout });
  const page = await context.newPage();
  await page.goto(`${url}/`);
  await page.getByRole("heading", { level: 1, name: /^Overview/ }).waitFor({ timeout: 60_000 });
  await page.getByText("Recent activity", { exact: true }).first().waitFor({ timeout: 60_000 });
  // The header's indicator says "live" once the EventSource is open.
  await page.waitForFunction(
    () =>
      [...document.querySelectorAll('[aria-live="polite"]')].some(
        (element) => element.textContent?.trim() === "live",
      ),
    null,
    { timeout: 60_000 },
  );
  send({ ready: true });
  for await (const line of readline.createInterface({ input: process.stdin })) {
    const [command, argument] = line.trim().split(/\s+/);
    if (command === "clock") {
      send({ clock: await page.evaluate(() => performance.timeOrigin + performance.now()) });
    } else if (command === "wait") {
      const n = Number(argument);
      const entry = await page.evaluate((k) => window.__benchWait(k), n);
      send(entry ? { n, ...entry } : { n, timeout: true });
    } else if (command === "quit") {
      break;
    }
  }
} finally {
  await browser.close();
}
