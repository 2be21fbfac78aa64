/** Hostile documents render as text: no script runs, no dialog opens, no javascript: link. */
import { addFiles, expect, markdown, signIn, test, unique, type File } from "./fixtures";

const HOSTILE = `# Hostile notes

The word zanzibar marks this page. <script>alert("script tag")</script>

<img src="missing.png" onerror="alert('onerror')">

[a markdown link](javascript:alert('markdown link'))

<a href="javascript:alert('html link')">an html link</a> about zanzibar.
`;

const HOSTILE_HTML: File = {
  name: "hostile.html",
  mimeType: "text/html",
  buffer: Buffer.from(
    `<html><head><title>Hostile html</title></head><body><h1>Hostile html</h1>
<p>zanzibar again <img src=x onerror="alert('html onerror')"></p>
<script>alert('html script')</script>
<p><a href="javascript:alert('html page link')">click</a></p></body></html>`,
  ),
};

test("hostile markup in a document and its search result runs nothing", async ({ page, dialogs }) => {
  await signIn(page);
  await addFiles(page, unique("hostile"), [markdown("hostile.md", HOSTILE), HOSTILE_HTML]);

  await page.goto("/knowledge/search?q=zanzibar");
  const results = page.getByRole("list", { name: "Results for zanzibar" });
  await expect(results.getByRole("link", { name: "Hostile notes" })).toBeVisible();
  await expect(results.locator("mark").first()).toBeVisible();
  await page.screenshot({ path: test.info().outputPath("search.png"), fullPage: true });
  await expectNothingExecutable(page);

  await results.getByRole("link", { name: "Hostile notes" }).click();
  await expect(page.getByRole("heading", { level: 1, name: "Hostile notes" })).toBeVisible();
  await expect(page.getByText(/zanzibar marks this page/)).toBeVisible();
  await page.screenshot({ path: test.info().outputPath("document.png"), fullPage: true });
  await expectNothingExecutable(page);

  await page.goto("/knowledge/search?q=zanzibar");
  await results.getByRole("link", { name: "Hostile html" }).click();
  await expect(page.getByRole("heading", { level: 1, name: "Hostile html" })).toBeVisible();
  await expectNothingExecutable(page);
  expect(dialogs).toEqual([]);
});

async function expectNothingExecutable(page: import("@playwright/test").Page): Promise<void> {
  const found = await page.evaluate(() => ({
    javascriptLinks: Array.from(document.querySelectorAll("[href], [src], [action]"))
      .map((el) => el.getAttribute("href") ?? el.getAttribute("src") ?? el.getAttribute("action") ?? "")
      .filter((value) => /^\s*javascript:/i.test(value)),
    handlers: Array.from(document.querySelectorAll("main *")).flatMap((el) =>
      Array.from(el.attributes)
        .map((a) => a.name)
        .filter((name) => name.startsWith("on")),
    ),
    scripts: Array.from(document.querySelectorAll("main script, main img, main iframe")).length,
  }));
  expect(found).toEqual({ javascriptLinks: [], handlers: [], scripts: 0 });
}
