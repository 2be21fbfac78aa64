/** Browsing a repository on the Code pages: the file list and README at the default branch, a
 * file with line numbers, the history and a commit's diff. The repository is made here with a
 * README commit (the API's `readme`); its description, which the README repeats, holds markup
 * that must stay text (a dialog fails the test). */
import AxeBuilder from "@axe-core/playwright";
import type { Page } from "@playwright/test";

import { expect, signIn, test, unique } from "./fixtures";

const token = process.env.DEVFLOW_E2E_TOKEN ?? "";
const HOSTILE = `<img src=x onerror="alert('readme')">`;

async function noSeriousViolations(page: Page): Promise<void> {
  const results = await new AxeBuilder({ page }).analyze();
  const serious = results.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => ({ id: v.id, help: v.help, nodes: v.nodes.map((n) => n.target.join(" ")).slice(0, 5) }));
  expect(serious).toEqual([]);
}

test("a repository's files, README, history and a commit", async ({ page, dialogs }) => {
  void dialogs;
  const name = unique("browse");
  const made = await page.request.post("/api/v1/projects/default/repos", {
    headers: { Authorization: `Bearer ${token}` },
    data: { name, readme: true, description: HOSTILE },
  });
  expect(made.status()).toBe(201);
  await signIn(page);

  await page.getByRole("link", { name: "Code", exact: true }).click();
  await page.getByRole("link", { name, exact: true }).click();
  const files = page.getByRole("table", { name: "Files" });
  await expect(files.getByRole("link", { name: "README.md" })).toBeVisible();
  const readme = page.getByRole("region", { name: "README" });
  await expect(readme.getByRole("heading", { name })).toBeVisible();
  await expect(readme.locator("img")).toHaveCount(0);
  await expect(page.getByLabel("Branch or tag")).toHaveValue("main");
  await noSeriousViolations(page);

  await files.getByRole("link", { name: "README.md" }).click();
  const file = page.getByRole("region", { name: "File" });
  await expect(file.getByText(`# ${name}`)).toBeVisible();
  await expect(file.getByText(HOSTILE)).toBeVisible();
  const raw = await page.request.get(await file.getByRole("link", { name: "Raw" }).getAttribute("href") ?? "");
  expect(raw.headers()["content-type"]).toBe("text/plain; charset=utf-8");

  await file.getByRole("link", { name: "Blame" }).click();
  const blame = page.getByRole("table", { name: "Blame" });
  await expect(blame.getByText(`# ${name}`)).toBeVisible();
  await expect(blame.getByRole("link", { name: /admin/ })).toHaveAttribute("title", "Initial commit");
  await page.goBack();

  await page.getByRole("link", { name: "History of this file" }).click();
  await page.getByRole("list", { name: "Commits" }).getByRole("link", { name: "Initial commit" }).click();
  await expect(page.getByRole("heading", { name: "Initial commit" })).toBeVisible();
  await expect(page.getByText("1 file changed")).toBeVisible();
  await expect(page.getByRole("region", { name: "README.md" }).getByText(`+# ${name}`)).toBeVisible();
  await noSeriousViolations(page);

  await page.getByRole("link", { name, exact: true }).click();
  await page.getByRole("link", { name: "Compare" }).click();
  await expect(page.getByText("main is 0 commits ahead of and 0 behind main.")).toBeVisible();
});
