/** The dashboard's main actions, in a real browser against a real `devflow up`. */
import { addFiles, expect, markdown, signIn, sourceItem, test, unique } from "./fixtures";

test("a one-time sign-in link lands on the overview, signed in", async ({ page }) => {
  const link = process.env.DEVFLOW_E2E_SIGNIN_LINK;
  expect(link, "DEVFLOW_E2E_SIGNIN_LINK").toBeTruthy();
  await signIn(page, link);
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByRole("button", { name: /sign out/i })).toBeVisible();
  const session = await page.request.get("/api/v1/session");
  expect(session.status()).toBe(200);
});

test("a folder added from the browser becomes ready live", async ({ page, context }) => {
  await signIn(page);
  // A second tab on the sources page, open before the upload and never reloaded: what it shows
  // comes through the live event stream.
  const watcher = await context.newPage();
  await watcher.goto("/knowledge");
  await expect(watcher.getByText("live", { exact: true })).toBeVisible();
  await watcher.evaluate(() => document.documentElement.setAttribute("data-e2e-loaded", "sources"));

  const source = unique("field-notes");
  await addFiles(page, source, [
    markdown("otters.md", "# Otters\n\nOtters hold hands while they sleep in kelp forests.\n"),
    markdown("herons.md", "# Herons\n\nHerons stand still in shallow water to catch fish.\n"),
  ]);
  await expect(sourceItem(watcher, source).getByText("ready", { exact: true })).toBeVisible();
  await expect(sourceItem(watcher, source)).toContainText("2 documents");
  await expect(watcher.locator("html")).toHaveAttribute("data-e2e-loaded", "sources");
  await watcher.screenshot({ path: test.info().outputPath("sources-live.png"), fullPage: true });
});

test("a search finds a word from uploaded files and highlights it", async ({ page }) => {
  await signIn(page);
  await addFiles(page, unique("glossary"), [
    markdown("quokka.md", "# Quokka\n\nThe quokka is a small marsupial that lives on Rottnest Island.\n"),
    markdown("wombat.md", "# Wombat\n\nA wombat digs burrows with its strong claws.\n"),
  ]);
  await page.goto("/knowledge/search");
  await page.getByRole("searchbox").fill("marsupial");
  await page.getByRole("button", { name: "Search" }).click();
  const results = page.getByRole("list", { name: "Results for marsupial" });
  await expect(results.getByRole("link", { name: "Quokka" })).toBeVisible();
  await expect(results.locator("mark").filter({ hasText: /marsupial/i }).first()).toBeVisible();
});

test("a token's secret is shown once, and the token can be revoked", async ({ page }) => {
  await signIn(page);
  await page.goto("/tokens");
  await page.getByRole("textbox", { name: /^Name\b/ }).fill("browser-ci");
  await page.getByRole("button", { name: "Create token" }).click();
  const secret = page.getByRole("region", { name: /Token browser-ci created/ });
  await expect(secret.locator("code")).toHaveText(/^dfl_/);
  await secret.getByRole("button", { name: "I have copied it" }).click();
  await expect(secret).toBeHidden();
  await expect(page.getByText(/^dfl_[\w-]{20,}$/)).toHaveCount(0);

  await page.getByRole("button", { name: "Revoke token browser-ci" }).click();
  await page.getByRole("group", { name: /Revoke browser-ci\?/ }).getByRole("button", { name: "Revoke" }).click();
  await expect(page.getByRole("button", { name: "Revoke token browser-ci" })).toBeHidden();
  const tokens = (await (await page.request.get("/api/v1/tokens")).json()) as {
    items: { name: string; revoked_at: string | null }[];
  };
  expect(tokens.items.find((t) => t.name === "browser-ci")?.revoked_at).toBeTruthy();
});

test("a published package can be browsed", async ({ page }) => {
  await signIn(page);
  await page.goto("/registry");
  await page.getByRole("link", { name: "js", exact: true }).click();
  await page.getByRole("link", { name: "left-pad-e2e" }).click();
  await expect(page.getByRole("heading", { level: 1, name: /left-pad-e2e/ })).toBeVisible();
  await expect(page.getByText("1.0.0").first()).toBeVisible();
});
