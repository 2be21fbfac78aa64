/** The run page on a real run: a workflow of one phase that waits for approval is applied to a
 * project of the test's own, a run of it started with the admin token; the page shows the
 * phase's lane with the run's first task, the approval waiting, and takes an approval with a
 * comment (the API agrees), then is paused, resumed and cancelled; axe-core on the page. A worker (`devflow up` runs one) gives the
 * run its first task. */
import type { APIResponse } from "@playwright/test";

import { noSeriousViolations } from "./axe";
import { expect, signIn, test, unique } from "./fixtures";

const token = process.env.DEVFLOW_E2E_TOKEN ?? "";
const headers = { Authorization: `Bearer ${token}` };

const WORKFLOW = `name: e2e-gated
description: One phase a person lets the work into.
phases:
  - id: plan
    name: Plan
    description: Write the plan down.
    done_definition: A plan in a comment.
    approval:
      required: true
`;

interface Run {
  number: number;
  state: string;
  approvals: { id: number; state: string; comment: string | null }[];
}

async function ok<T>(answer: APIResponse): Promise<T> {
  expect(answer.ok(), await answer.text()).toBe(true);
  return (await answer.json()) as T;
}

test("a run shows its phases and the approval it waits for, and takes an approval", async ({ page }) => {
  await signIn(page);
  const name = unique("runs");
  await ok(await page.request.post("/api/v1/projects", { headers, data: { name } }));
  await ok(
    await page.request.post(`/api/v1/projects/${name}/workflows`, {
      headers: { ...headers, "Content-Type": "application/yaml" },
      data: WORKFLOW,
    }),
  );
  const run = await ok<Run>(
    await page.request.post(`/api/v1/projects/${name}/runs`, { headers, data: { workflow: "e2e-gated", goal: "Plan the **launch**" } }),
  );

  await page.goto(`/runs/${name}`);
  await page.getByRole("link", { name: `Run ${run.number}`, exact: true }).click();
  await expect(page.getByRole("heading", { level: 1, name: `Run ${run.number}` })).toBeVisible();
  await expect(page.locator("main strong").filter({ hasText: "launch" })).toBeVisible(); // the goal's Markdown
  await expect(page.getByRole("region", { name: "Phase Plan" })).toBeVisible();
  // The engine gives the run its first task and asks for the phase's approval; the page hears
  // of it through the event stream.
  const waiting = page.getByRole("region", { name: "Approvals waiting" });
  await expect(waiting.getByRole("button", { name: "Approve" })).toBeVisible();
  await expect(page.getByRole("region", { name: "Phase Plan" }).getByRole("link")).toHaveCount(1);
  await noSeriousViolations(page);

  await waiting.getByLabel("Comment").fill("Go ahead");
  await waiting.getByRole("button", { name: "Approve" }).click();
  await expect(page.getByRole("region", { name: "Approvals waiting" })).toHaveCount(0);
  await expect(page.getByRole("region", { name: "Decisions" })).toContainText("approved");
  await expect(page.getByRole("region", { name: "Decisions" })).toContainText("Go ahead");
  const after = await ok<Run>(await page.request.get(`/api/v1/projects/${name}/runs/${run.number}`, { headers }));
  expect(after.approvals.map((a) => [a.state, a.comment])).toEqual([["approved", "Go ahead"]]);
  await page.screenshot({ path: test.info().outputPath("run.png"), fullPage: true });

  // Paused, resumed, then cancelled after a confirmation: each time the page shows the API's state.
  await page.getByRole("button", { name: "Pause" }).click();
  await expect(page.getByText("paused", { exact: true })).toBeVisible();
  await page.getByRole("button", { name: "Resume" }).click();
  await expect(page.getByText("running", { exact: true })).toBeVisible();
  await page.getByRole("button", { name: `Cancel run ${run.number}` }).click();
  await page.getByRole("group", { name: `Cancel run ${run.number}?` }).getByRole("button", { name: "Cancel run" }).click();
  await expect(page.getByText("cancelled", { exact: true })).toBeVisible();
  await expect(page.getByRole("button", { name: "Pause" })).toHaveCount(0);
});
