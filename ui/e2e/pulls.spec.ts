/** Pull requests on the Code pages: tests/e2e/test_dashboard_browser.py pushes `feature-e2e`
 * one commit ahead of main in `pulls-e2e`; the spec opens a pull request from it through the
 * form, sees its commits and files, comments (the author cannot approve their own), and merges
 * it by squashing. Its title and body hold markup that must stay text (a dialog fails the
 * test). */
import AxeBuilder from "@axe-core/playwright";
import type { Page } from "@playwright/test";

import { expect, signIn, test } from "./fixtures";

const REPO = "pulls-e2e";
const BRANCH = "feature-e2e";
const HOSTILE = `<img src=x onerror="alert('pull')">`;
const TITLE = `Add notes ${HOSTILE}`;

async function noSeriousViolations(page: Page): Promise<void> {
  const results = await new AxeBuilder({ page }).analyze();
  const serious = results.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => ({ id: v.id, help: v.help, nodes: v.nodes.map((n) => n.target.join(" ")).slice(0, 5) }));
  expect(serious).toEqual([]);
}

test("a pull request opened, discussed and squashed from the dashboard", async ({ page, dialogs }) => {
  void dialogs;
  await signIn(page);
  await page.goto(`/code/default/${REPO}`);
  await page.getByRole("link", { name: "Pull requests" }).click();
  await expect(page.getByRole("heading", { level: 1, name: "Pull requests" })).toBeVisible();
  await expect(page.getByText("No open pull requests")).toBeVisible();

  await page.getByRole("link", { name: "New pull request" }).click();
  const form = page.getByRole("form", { name: "New pull request" });
  await form.getByLabel("Base branch").selectOption("main");
  await form.getByLabel("Head branch").selectOption(BRANCH);
  await form.getByLabel("Title").fill(TITLE);
  await form.getByLabel("Description").fill(`Why: the notes.\n\n${HOSTILE}`);
  await form.getByRole("button", { name: "Create pull request" }).click();

  await expect(page).toHaveURL(new RegExp(`/code/default/${REPO}/pulls/\\d+$`));
  await expect(page.getByRole("heading", { level: 1, name: TITLE })).toBeVisible();
  const description = page.getByRole("region", { name: "Description" });
  await expect(description.getByText("Why: the notes.")).toBeVisible();
  await expect(page.locator("main img")).toHaveCount(0);
  await expect(page.getByText("Merges cleanly into main.")).toBeVisible();
  await noSeriousViolations(page);

  const tabs = page.getByRole("navigation", { name: "Pull request" });
  await tabs.getByRole("link", { name: "Commits" }).click();
  await expect(page.getByRole("list", { name: "Commits" }).getByRole("link", { name: "Add notes" })).toBeVisible();
  await tabs.getByRole("link", { name: "Files changed" }).click();
  await expect(page.getByText("1 file changed")).toBeVisible();
  await expect(page.getByRole("region", { name: "NOTES.md" }).getByText("+Notes from the feature branch.")).toBeVisible();
  await tabs.getByRole("link", { name: "Conversation" }).click();

  const review = page.getByRole("form", { name: "Review" });
  await expect(review.getByRole("radio", { name: "Approve" })).toBeDisabled();
  await review.getByLabel("Add a comment").fill("Looks right to me.");
  await review.getByRole("button", { name: "Comment", exact: true }).click();
  const conversation = page.getByRole("list", { name: "Conversation" });
  await expect(conversation.getByText("Looks right to me.")).toBeVisible();
  await expect(conversation.getByText("commented", { exact: true })).toBeVisible();

  const merge = page.getByRole("form", { name: "Merge" });
  await merge.getByLabel("Merge method").selectOption("squash");
  await merge.getByRole("button", { name: "Merge pull request" }).click();
  await expect(page.getByText(/^Merged by admin/)).toBeVisible();
  await expect(page.getByText("merged", { exact: true })).toBeVisible();
  await expect(page.getByText(/\(squash\)/)).toBeVisible();

  await page.getByRole("link", { name: "pull requests", exact: true }).click();
  await page.getByRole("navigation", { name: "States" }).getByRole("link", { name: "Merged" }).click();
  await expect(page.getByRole("list", { name: "Pull requests" }).getByRole("link", { name: TITLE })).toBeVisible();
});
