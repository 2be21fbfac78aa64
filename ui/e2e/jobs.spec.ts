/** The Jobs page on real jobs: a failed one retried and followed live, a queued one cancelled
 * after a confirmation (and a stale page shown the API's refusal), the overview's recent
 * activity after a reload, and axe-core on the page with its actions in light and dark mode.
 *
 * tests/e2e/test_dashboard_browser.py queues the jobs (tasks of tests/jobs_plugin.py): one that
 * fails at once and one held in the queue for a day. */
import AxeBuilder from "@axe-core/playwright";
import type { Page } from "@playwright/test";

import { expect, signIn, test } from "./fixtures";

const FAILING = "tests:fail_for_good";
const QUEUED = "tests:count_to";

/** The row of the one job of `task`, and its cells by column. */
function jobRow(page: Page, task: string) {
  const row = page.getByRole("row").filter({ hasText: task });
  const cell = (column: number) => row.getByRole("cell").nth(column);
  return { row, id: cell(0), status: cell(2), attempts: cell(4) };
}

test("a failed job is retried, and the page follows it live to its end", async ({ page }) => {
  await signIn(page);
  await page.goto(`/jobs?task=${FAILING}`);
  const job = jobRow(page, FAILING);
  await expect(job.status).toHaveText("failed");
  await expect(job.row).toContainText("the e2e job fails on purpose");
  const id = await job.id.innerText();
  const attempts = Number(await job.attempts.innerText());
  // A mark on this document: a reload would lose it.
  await page.evaluate(() => document.documentElement.setAttribute("data-e2e-loaded", "jobs"));

  await job.row.getByRole("button", { name: `Retry job ${id}` }).click();
  // It runs again and fails again; the page hears of it through the event stream alone.
  await expect(job.attempts).not.toHaveText(String(attempts));
  await expect(job.status).toHaveText("failed");
  expect(Number(await job.attempts.innerText())).toBeGreaterThan(attempts);
  await expect(job.row.getByRole("button", { name: `Retry job ${id}` })).toBeVisible();
  await expect(page.getByRole("alert")).toHaveCount(0);
  await expect(page.locator("html")).toHaveAttribute("data-e2e-loaded", "jobs");
});

test("a queued job is cancelled after a confirmation; the overview lists it after a reload", async ({
  page,
  context,
}) => {
  await signIn(page);
  // A second tab whose event stream is cut: it still offers to cancel once the job has ended.
  const stale = await context.newPage();
  await stale.route("**/api/v1/events**", (route) => route.abort());
  await stale.goto(`/jobs?task=${QUEUED}`);
  const staleJob = jobRow(stale, QUEUED);
  await expect(staleJob.status).toHaveText("todo");

  await page.goto(`/jobs?task=${QUEUED}`);
  const job = jobRow(page, QUEUED);
  await expect(job.status).toHaveText("todo");
  const id = await job.id.innerText();
  await job.row.getByRole("button", { name: `Cancel job ${id}` }).click();
  const ask = job.row.getByRole("group", { name: `Cancel job ${id}?` });
  await expect(ask.getByRole("button", { name: "Keep it" })).toBeFocused();
  await ask.getByRole("button", { name: "Cancel job" }).click();
  await expect(job.status).toHaveText("cancelled");
  await expect(job.row).toContainText("cancelled before it ran");
  await expect(job.row.getByRole("button")).toHaveCount(0);

  // The stale tab's cancel reaches the API, which refuses it; the page says why in its words.
  await staleJob.row.getByRole("button", { name: `Cancel job ${id}` }).click();
  await staleJob.row.getByRole("group", { name: `Cancel job ${id}?` }).getByRole("button", { name: "Cancel job" }).click();
  await expect(staleJob.row.getByRole("alert")).toHaveText(
    `job ${id} already ended (cancelled); only a queued or running job can be cancelled`,
  );

  await page.goto("/");
  await page.reload(); // nothing of this page was open when the job was cancelled
  const activity = page.getByRole("list", { name: "Recent activity" });
  await expect(activity.getByRole("listitem").filter({ hasText: "job.cancelled" })).toBeVisible();
  await expect(activity.getByRole("listitem").filter({ hasText: "job.progress" })).toHaveCount(0);
  await page.screenshot({ path: test.info().outputPath("recent-activity.png"), fullPage: true });
});

for (const colorScheme of ["light", "dark"] as const) {
  test.describe(`${colorScheme} mode`, () => {
    test.use({ colorScheme });
    test("the Jobs page with its actions has no serious accessibility violation", async ({ page }) => {
      await signIn(page);
      await page.goto("/jobs?task=tests:*");
      await expect(page.getByRole("heading", { level: 1, name: "Jobs" })).toBeVisible();
      const job = jobRow(page, FAILING);
      await expect(job.status).toHaveText("failed");
      await expect(job.row.getByRole("button", { name: /^Retry job \d+$/ })).toBeVisible();
      const results = await new AxeBuilder({ page }).analyze();
      const serious = results.violations
        .filter((v) => v.impact === "serious" || v.impact === "critical")
        .map((v) => ({ id: v.id, help: v.help, nodes: v.nodes.map((n) => n.target.join(" ")).slice(0, 5) }));
      expect(serious).toEqual([]);
      await page.screenshot({ path: test.info().outputPath(`jobs-${colorScheme}.png`), fullPage: true });
    });
  });
}
