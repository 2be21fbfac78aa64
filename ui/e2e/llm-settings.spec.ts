/** The LLM page and the Settings page against a real `devflow up`.
 *
 * tests/e2e/test_dashboard_browser.py points the server's LLM provider at a fake gateway that
 * prices its answers, with a key set through the environment (DEVFLOW_E2E_LLM_KEY). The specs
 * make calls with `POST /api/v1/llm/ping` (each alias once, through the server's own client), so
 * the chart has usage to draw; the Settings page must show where that key came from, never it. */
import AxeBuilder from "@axe-core/playwright";
import type { Page } from "@playwright/test";

import { expect, signIn, test } from "./fixtures";

const token = process.env.DEVFLOW_E2E_TOKEN ?? "";
const llmKey = process.env.DEVFLOW_E2E_LLM_KEY ?? "";

/** Make priced LLM calls through the server and wait until its usage report counts them (the
 * rows are written behind the calls). */
async function makeCalls(page: Page): Promise<void> {
  const headers = { Authorization: `Bearer ${token}` };
  const ping = await page.request.post("/api/v1/llm/ping", { headers, data: { aliases: ["chat", "embed"] } });
  expect(ping.status()).toBe(200);
  const results = ((await ping.json()) as { results: { ok: boolean; error: string | null }[] }).results;
  expect(results.map((r) => r.error)).toEqual([null, null]);
  await expect
    .poll(async () => {
      const answer = await page.request.get("/api/v1/llm/usage?by=model&bucket=day", { headers });
      const report = (await answer.json()) as { lines: { key: string }[] };
      return report.lines.map((line) => line.key);
    })
    .toEqual(expect.arrayContaining(["aosentry/fake-chat", "aosentry/fake-embed"]));
}

async function noSeriousViolations(page: Page): Promise<void> {
  const results = await new AxeBuilder({ page }).analyze();
  const serious = results.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => ({ id: v.id, help: v.help, nodes: v.nodes.map((n) => n.target.join(" ")).slice(0, 5) }));
  expect(serious).toEqual([]);
}

test("the LLM page charts cost per model over time, with its numbers as tables", async ({ page }) => {
  await signIn(page);
  await makeCalls(page);
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "LLM" }).click();
  await expect(page.getByRole("heading", { level: 1, name: "LLM usage and budgets" })).toBeVisible();

  const chart = page.getByRole("img", { name: /Cost \(USD\) per day by model, last 7 days/ });
  await expect(chart).toBeVisible();
  await expect(chart.locator("rect").first()).toBeVisible();
  const legend = page.getByRole("list", { name: "Legend" });
  await expect(legend).toContainText("aosentry/fake-chat");
  await expect(legend).toContainText("aosentry/fake-embed");
  const totals = page.getByRole("table", { name: "Totals by model" });
  await expect(totals.getByRole("row").filter({ hasText: "aosentry/fake-chat" })).toContainText("$");

  // The chart's text alternative opens from the keyboard.
  const numbers = page.getByText("Show the chart's numbers as a table");
  await numbers.focus();
  await page.keyboard.press("Enter");
  await expect(page.getByRole("table", { name: /Cost \(USD\) per day, last 7 days/ })).toBeVisible();

  // Another grouping and measure: the URL keeps the view.
  await page.getByLabel("Group by").selectOption("project");
  await page.getByLabel("Show").selectOption("calls");
  await expect(page).toHaveURL(/by=project/);
  await expect(page.getByRole("img", { name: /Calls per day by project/ })).toBeVisible();
  await expect(page.getByRole("table", { name: "Totals by project" })).toContainText("(none)");
  await page.screenshot({ path: test.info().outputPath("llm.png"), fullPage: true });
});

test("a budget is set, changed and removed, and shows what is left", async ({ page }) => {
  await signIn(page);
  await page.goto("/llm");
  const budgets = page.getByRole("region", { name: "Budgets this month" });
  await expect(budgets.getByText("No budgets: LLM spending has no limit")).toBeVisible();

  const form = budgets.getByRole("form", { name: "Set a monthly budget" });
  await form.getByRole("combobox", { name: /^Project/ }).selectOption("default");
  await form.getByRole("textbox", { name: /^Monthly limit/ }).fill("-3");
  await form.getByRole("button", { name: "Set budget" }).click();
  await expect(form.getByRole("alert")).toContainText("Enter the monthly limit in US dollars");
  await form.getByRole("textbox", { name: /^Monthly limit/ }).fill("25");
  await form.getByRole("button", { name: "Set budget" }).click();
  await expect(form.getByRole("status")).toHaveText("The budget of default is now $25.00 a month.");

  const row = budgets.getByRole("row").filter({ hasText: "whole project" });
  await expect(row).toContainText("$25.00");
  await expect(row.getByRole("progressbar", { name: "Budget of default used" })).toBeVisible();
  await expect(row.getByRole("cell").nth(3)).toHaveText("$25.00"); // left: nothing spent in the project

  await row.getByRole("button", { name: "Change the budget of default" }).click();
  const limit = row.getByRole("textbox", { name: "New monthly limit of default, in USD" });
  await expect(limit).toBeFocused();
  await limit.fill("30");
  await limit.press("Enter");
  await expect(row.getByRole("cell").first()).toHaveText("$30.00");

  await row.getByRole("button", { name: "Remove the budget of default" }).click();
  await row.getByRole("group", { name: /Remove the budget of default\?/ }).getByRole("button", { name: "Remove" }).click();
  await expect(budgets.getByText("No budgets: LLM spending has no limit")).toBeVisible();
  await expect(page.getByRole("alert")).toHaveCount(0);
});

test("the Settings page shows each value's source and never the provider's key", async ({ page }) => {
  expect(llmKey, "DEVFLOW_E2E_LLM_KEY").toBeTruthy();
  await signIn(page);
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Settings" }).click();
  await expect(page.getByRole("heading", { level: 1, name: "Settings" })).toBeVisible();

  const llm = page.getByRole("region", { name: "llm", exact: true });
  const providers = llm.getByRole("row").filter({ hasText: "llm.providers" });
  await expect(providers).toContainText("DEVFLOW_LLM__PROVIDERS");
  await expect(providers).toContainText('"api_key": "***"');
  await expect(providers).toContainText("holds a secret: masked, never sent");
  await expect(providers.getByText("environment", { exact: true })).toBeVisible();
  const port = page.getByRole("row").filter({ hasText: "server.port" });
  await expect(port).toContainText("set at start");

  await page.getByRole("searchbox", { name: "Filter" }).fill("DEVFLOW_SERVER__PORT");
  await expect(page.getByRole("row").filter({ hasText: "server.port" })).toBeVisible();
  await expect(llm).toBeHidden();
  await page.getByRole("searchbox", { name: "Filter" }).fill("no-such-setting-anywhere");
  await expect(page.getByText("No setting matches")).toBeVisible();

  expect(await page.content()).not.toContain(llmKey);
  const answer = await page.request.get("/api/v1/settings");
  expect(answer.status()).toBe(200);
  expect(await answer.text()).not.toContain(llmKey);
});

test("a session restricted to a project is shown the API's refusal on the Settings page", async ({ page }) => {
  await signIn(page);
  const minted = await page.request.post("/api/v1/tokens", {
    headers: { Authorization: `Bearer ${token}` },
    data: { name: "settings-e2e", scopes: ["admin"], project: "default" },
  });
  expect(minted.status()).toBe(201);
  const restricted = ((await minted.json()) as { token: string }).token;
  // Paste it as the sign-in page does: the cookie now carries the restricted token's powers.
  const session = await page.request.post("/api/v1/session", {
    headers: { "X-DevFlow-Request": "1" },
    data: { token: restricted },
  });
  expect(session.ok()).toBe(true);
  await page.goto("/settings");
  await expect(page.getByRole("heading", { level: 1, name: "Settings" })).toBeVisible();
  await expect(page.getByRole("alert")).toContainText("only an instance admin");
  await expect(page.getByText("only an instance admin signed in with an unrestricted admin token")).toBeVisible();
  await expect(page.getByRole("row")).toHaveCount(0);
  expect(await page.content()).not.toContain(llmKey);
});

for (const colorScheme of ["light", "dark"] as const) {
  test.describe(`${colorScheme} mode`, () => {
    test.use({ colorScheme });

    test(`/llm has no serious accessibility violation`, async ({ page }) => {
      await signIn(page);
      await makeCalls(page);
      await page.goto("/llm");
      await expect(page.getByRole("heading", { level: 1, name: "LLM usage and budgets" })).toBeVisible();
      await expect(page.getByRole("img", { name: /per day by model/ })).toBeVisible();
      await expect(page.getByRole("region", { name: "Budgets this month" }).getByText(/No budgets|whole project/).first()).toBeVisible();
      await page.getByText("Show the chart's numbers as a table").click();
      await noSeriousViolations(page);
    });

    test(`/settings has no serious accessibility violation`, async ({ page }) => {
      await signIn(page);
      await page.goto("/settings");
      await expect(page.getByRole("heading", { level: 1, name: "Settings" })).toBeVisible();
      await expect(page.getByRole("row").filter({ hasText: "llm.providers" })).toBeVisible();
      await noSeriousViolations(page);
    });
  });
}
