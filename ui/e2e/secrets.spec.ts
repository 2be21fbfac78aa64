/** The Secrets page: set a project secret through the form, find it listed at version 1 with
 * its value nowhere in the page until Reveal, reveal it (masked until Show, forgotten on
 * Close), update it to version 2, roll back from the history drawer, see which provider wins
 * for a name an environment variable shadows, and the admins' audit log and keys.
 *
 * tests/e2e/test_dashboard_browser.py starts the server with DEVFLOW_SECRET_DEFAULT__E2E_SHADOWED
 * set: the project default's E2E_SHADOWED comes from the environment, not from the store. */
import AxeBuilder from "@axe-core/playwright";
import type { Page } from "@playwright/test";

import { expect, signIn, test } from "./fixtures";

const token = process.env.DEVFLOW_E2E_TOKEN ?? "";
const SHADOWED = "E2E_SHADOWED";

async function noSeriousViolations(page: Page): Promise<void> {
  const results = await new AxeBuilder({ page }).analyze();
  const serious = results.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => ({ id: v.id, help: v.help, nodes: v.nodes.map((n) => n.target.join(" ")).slice(0, 5) }));
  expect(serious).toEqual([]);
}

test("a secret is set, listed without its value, revealed on request, updated and rolled back", async ({ page, dialogs }) => {
  void dialogs;
  const stamp = Date.now().toString(36).toUpperCase();
  const name = `E2E_${stamp}`;
  const first = `first-value-${stamp}`;
  const second = `second-value-${stamp}`;
  const shadowed = await page.request.put(`/api/v1/projects/default/secrets/${SHADOWED}`, {
    headers: { Authorization: `Bearer ${token}` },
    data: { value: `stored-${stamp}`, environment: "development" },
  });
  expect(shadowed.status()).toBe(200);
  await signIn(page);

  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Secrets" }).click();
  await expect(page.getByRole("heading", { level: 1, name: "Secrets" })).toBeVisible();
  const which = page.getByRole("group", { name: "Which secrets" });
  await which.getByRole("combobox", { name: "Scope" }).selectOption("project:default");
  await which.getByRole("combobox", { name: "Environment" }).selectOption("development");

  const form = page.getByRole("form", { name: "Set a secret" });
  await form.getByRole("textbox", { name: /^Name/ }).fill(name);
  await form.getByRole("textbox", { name: /^Value\b/ }).fill(first);
  await form.getByRole("textbox", { name: "Description" }).fill("made by the browser test");
  await form.getByRole("button", { name: "Set secret" }).click();
  await expect(page.getByRole("status").filter({ hasText: `${name} (development) is now at version 1.` })).toBeVisible();

  const table = page.getByRole("table", { name: "Secrets" });
  const row = table.getByRole("row").filter({ hasText: name });
  await expect(row.getByRole("cell").nth(2)).toHaveText("1");
  await expect(row).toContainText("project · DevFlow store");
  await expect(form.getByRole("textbox", { name: /^Value\b/ })).toHaveValue("");
  expect(await page.content()).not.toContain(first);
  // The environment variable wins over the stored value: the page says so.
  await expect(table.getByRole("row").filter({ hasText: SHADOWED })).toContainText("project · environment variable");
  await expect(table.getByRole("row").filter({ hasText: SHADOWED })).toContainText("shadowed");
  await noSeriousViolations(page);

  await row.getByRole("button", { name: `Reveal ${name}` }).click();
  const revealed = page.getByRole("group", { name: `Value of ${name}` });
  await expect(revealed).toBeVisible();
  expect(await page.content()).not.toContain(first);
  await revealed.getByRole("button", { name: "Show" }).click();
  await expect(revealed.getByText(first, { exact: true })).toBeVisible();
  await revealed.getByRole("button", { name: "Close" }).click();
  await expect(revealed).toHaveCount(0);
  expect(await page.content()).not.toContain(first);

  await row.getByRole("button", { name: `Update ${name}` }).click();
  const update = page.getByRole("form", { name: `Update ${name}` });
  await update.getByRole("textbox", { name: /^Value\b/ }).fill(second);
  await update.getByRole("button", { name: "Save new version" }).click();
  await expect(page.getByRole("status").filter({ hasText: `${name} (development) is now at version 2.` })).toBeVisible();
  await expect(row.getByRole("cell").nth(2)).toHaveText("2");
  expect(await page.content()).not.toContain(second);

  await row.getByRole("button", { name: `History of ${name}` }).click();
  const drawer = page.getByRole("dialog", { name: `History of ${name} (development)` });
  const versions = drawer.getByRole("list", { name: "Versions" }).getByRole("listitem");
  await expect(versions).toHaveCount(2);
  await expect(versions.first()).toContainText("current");
  await noSeriousViolations(page);
  await drawer.getByRole("button", { name: `Roll back ${name} to version 1` }).click();
  await drawer.getByRole("button", { name: "Roll back", exact: true }).click();
  await expect(versions).toHaveCount(3);
  await expect(versions.first()).toContainText("Version 3");
  await expect(row.getByRole("cell").nth(2)).toHaveText("3");
  await drawer.getByRole("button", { name: "Close" }).click();
  await expect(drawer).toHaveCount(0);

  // Version 3 holds version 1's value again.
  await row.getByRole("button", { name: `Reveal ${name}` }).click();
  await revealed.getByRole("button", { name: "Show" }).click();
  await expect(revealed.getByText(first, { exact: true })).toBeVisible();
  await revealed.getByRole("button", { name: "Close" }).click();

  // Admins: every reveal is in the audit log, whose chain holds; the keys show ids, not keys.
  await page.getByRole("navigation", { name: "Secrets sections" }).getByRole("link", { name: "Audit log" }).click();
  await page.getByRole("textbox", { name: "Name" }).fill(name);
  await page.getByRole("combobox", { name: "Action" }).selectOption("read");
  const audit = page.getByRole("table", { name: "Audit log" });
  await expect(audit.getByRole("row").filter({ hasText: "revealed in the dashboard" })).toHaveCount(2);
  await page.getByRole("button", { name: "Verify chain" }).click();
  await expect(page.getByRole("status").filter({ hasText: "The chain is intact" })).toBeVisible();
  await page.getByRole("navigation", { name: "Secrets sections" }).getByRole("link", { name: "Keys" }).click();
  await expect(page.getByRole("table", { name: "Keys" }).getByText("active")).toBeVisible();

  await page.getByRole("navigation", { name: "Secrets sections" }).getByRole("link", { name: "Secrets" }).click();
  await row.getByRole("button", { name: `Delete ${name}` }).click();
  await row.getByRole("button", { name: "Delete", exact: true }).click();
  await expect(row).toHaveCount(0);
});
