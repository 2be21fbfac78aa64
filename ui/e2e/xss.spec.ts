/** Hostile documents run nothing: the document view renders Markdown, sanitized (no raw HTML is
 * interpreted, links only http(s) and mailto, no image loaded), and search shows text. */
import { addFiles, expect, markdown, signIn, test, unique, type File } from "./fixtures";

const HOSTILE = `# Hostile notes

The word zanzibar marks this page. <script>alert("script tag")</script>

<img src="missing.png" onerror="alert('onerror')">

[a markdown link](javascript:alert('markdown-link'))
[a mixed-case link](JaVaScRiPt:alert('mixed-case'))
[an entity-encoded link](&#106;avascript:alert('entity'))
[a hex-encoded link](&#x6A;avascript:alert('hex-entity'))
[a data link](data:text/html;base64,PHNjcmlwdD5hbGVydCgnZGF0YScpPC9zY3JpcHQ+)
[a safe link](https://example.com/safe)
<JaVaScRiPt:alert('autolink')>

<a href="javascript:alert('html link')">an html link</a> about zanzibar.

<iframe src="javascript:alert('iframe')"></iframe>
<iframe srcdoc="<script>alert('srcdoc')</script>"></iframe>

![a tracking pixel](https://tracker.example/pixel.gif)

## Still Markdown

- a **bold** item
- an item with \`code\`
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
  await expect(results.getByRole("link", { name: "Hostile notes", exact: true })).toBeVisible();
  await expect(results.locator("mark").first()).toBeVisible();
  await page.screenshot({ path: test.info().outputPath("search.png"), fullPage: true });
  await expectNothingExecutable(page);

  await results.getByRole("link", { name: "Hostile notes", exact: true }).click();
  await expect(page.getByRole("heading", { level: 1, name: "Hostile notes" })).toBeVisible();
  const body = page.getByRole("article", { name: "Document" });
  await expect(body.getByText(/zanzibar marks this page/)).toBeVisible();
  // Rendered as Markdown: the document's headings, lists and emphasis are elements.
  await expect(body.getByRole("heading", { level: 3, name: "Still Markdown" })).toBeVisible();
  await expect(body.locator("li strong")).toHaveText("bold");
  // Raw HTML is shown as the characters it is, never interpreted.
  await expect(body.getByText(/<script>alert\("script tag"\)<\/script>/)).toBeVisible();
  await expect(body.getByText(/<iframe srcdoc=/)).toBeVisible();
  // Refused links are their text; the safe one opens apart, with no opener and no referrer.
  for (const name of ["a markdown link", "a mixed-case link", "an entity-encoded link", "a hex-encoded link", "a data link"]) {
    await expect(body.getByText(name, { exact: true })).toBeVisible();
    await expect(body.getByRole("link", { name })).toHaveCount(0);
  }
  const safe = body.getByRole("link", { name: "a safe link" });
  await expect(safe).toHaveAttribute("href", "https://example.com/safe");
  await expect(safe).toHaveAttribute("target", "_blank");
  await expect(safe).toHaveAttribute("rel", /\bnoopener\b.*\bnoreferrer\b/);
  // An image is a link to it, never loaded.
  await expect(body.getByRole("link", { name: "[image: a tracking pixel]" })).toBeVisible();
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
    unsafeAddresses: Array.from(document.querySelectorAll("[href], [src], [action], [formaction]"))
      .flatMap((el) => ["href", "src", "action", "formaction"].map((name) => el.getAttribute(name) ?? ""))
      .filter((value) => /^\s*(javascript|data|vbscript):/i.test(value) && value !== "data:,"),
    handlers: Array.from(document.querySelectorAll("main *")).flatMap((el) =>
      Array.from(el.attributes)
        .map((a) => a.name)
        .filter((name) => name.startsWith("on") || name === "srcdoc"),
    ),
    elements: Array.from(document.querySelectorAll("main script, main img, main iframe, main object, main embed")).length,
    styled: Array.from(document.querySelectorAll("article [style]")).length,
  }));
  expect(found).toEqual({ unsafeAddresses: [], handlers: [], elements: 0, styled: 0 });
}
