/** The document view and the Ask page: a search hit or a citation opens its document as Markdown,
 * scrolled to its passage and marked; axe-core finds no serious violation on either page, in
 * light and dark mode. The document is long, so the passage is far below the fold, and every
 * section before it holds emoji: the API counts code points, the page UTF-16 units, and a range
 * not converted would mark another section. */
import AxeBuilder from "@axe-core/playwright";
import { request as playwrightRequest, type APIRequestContext, type Page } from "@playwright/test";

import { expect, signIn, test, unique } from "./fixtures";

const SECTIONS = 40;
const TARGET = 33;

function section(n: number): string {
  const words =
    n === TARGET
      ? "The quetzalcoatl is a **feathered** serpent; it lives in the old temple, see `temple.md`."
      : `Paragraph of section ${n}: ordinary snakes 🐍🐍🐍🐍🐍 basking on warm stones in the afternoon sun.`;
  return `## Section ${n}\n\n${words}\n\nSecond paragraph of section ${n}, with a little more to read.\n`;
}

const GUIDE = `# Field guide 🐍\n\nA guide to every snake in the garden 🐍🐍🐍.\n\n${Array.from(
  { length: SECTIONS },
  (_, i) => section(i + 1),
).join("\n")}\n| name | length |\n|:--|--:|\n| python | 6 m |\n`;

const SOURCE = unique("guide");
let api: APIRequestContext;
let sourceId = "";

test.beforeAll(async () => {
  api = await playwrightRequest.newContext({
    baseURL: process.env.DEVFLOW_E2E_URL ?? "http://127.0.0.1:3737",
    extraHTTPHeaders: { Authorization: `Bearer ${process.env.DEVFLOW_E2E_TOKEN ?? ""}` },
  });
  const created = await api.post("/api/v1/knowledge/sources", { data: { location: "upload", name: SOURCE } });
  expect(created.status()).toBe(201);
  const { id } = (await created.json()) as { id: string };
  sourceId = id;
  const uploaded = await api.post(`/api/v1/knowledge/sources/${id}/files`, {
    multipart: { files: { name: "field-guide.md", mimeType: "text/markdown", buffer: Buffer.from(GUIDE) } },
  });
  expect(uploaded.ok()).toBe(true);
  await expect
    .poll(async () => ((await (await api.get(`/api/v1/knowledge/sources/${id}`)).json()) as { status: string }).status)
    .toBe("ready");
});

test.afterAll(async () => {
  await api.dispose();
});

/** The passage's marked blocks: both paragraphs of the target section, and nothing else. */
async function expectPassageShown(page: Page): Promise<void> {
  const marked = page.getByRole("article", { name: "Document" }).locator("[data-passage]");
  await expect(marked).toHaveCount(2);
  await expect(marked.first()).toContainText("quetzalcoatl");
  await expect(marked.nth(1)).toContainText(`Second paragraph of section ${TARGET},`);
  await expect(marked.first()).toBeInViewport();
  await expect(marked.first()).toBeFocused();
  await expect(page.getByRole("heading", { name: "Section 1", exact: true })).not.toBeInViewport();
}

async function openFromSearch(page: Page): Promise<void> {
  // This run's source only: a test that failed restarts the worker, which uploads the guide again.
  await page.goto(`/knowledge/search?q=quetzalcoatl&mode=keyword&source=${sourceId}`);
  const results = page.getByRole("list", { name: "Results for quetzalcoatl" });
  await results.getByRole("link", { name: "Field guide 🐍" }).click();
  await expect(page.getByRole("heading", { level: 1, name: "Field guide 🐍" })).toBeVisible();
}

async function ask(page: Page): Promise<void> {
  await page.goto("/knowledge/ask");
  await expect(page.getByRole("heading", { level: 1, name: "Ask" })).toBeVisible();
  await page.getByRole("textbox", { name: /^Question/ }).fill("Where does the quetzalcoatl live?");
  await page.getByRole("combobox", { name: "Source" }).selectOption({ label: SOURCE });
  await page.getByRole("button", { name: "Ask" }).click();
  await expect(page.getByRole("region", { name: "Answer" })).toHaveAttribute("aria-busy", "false");
  expect(await page.getByRole("alert").allInnerTexts()).toEqual([]);
}

test("a search hit opens its document as Markdown, scrolled to its passage and marked", async ({ page }) => {
  await signIn(page);
  await openFromSearch(page);
  await expect(page).toHaveURL(/\/knowledge\/documents\/[\w-]+\?start=\d+&end=\d+$/);
  await expectPassageShown(page);
  const body = page.getByRole("article", { name: "Document" });
  await expect(body.getByRole("heading", { level: 3, name: `Section ${TARGET}` })).toBeVisible();
  await expect(body.locator("strong", { hasText: "feathered" })).toBeVisible();
  await expect(body.getByRole("table")).toBeVisible();
  await page.screenshot({ path: test.info().outputPath("passage.png") });

  // Away from the passage and back.
  await page.getByRole("heading", { level: 1 }).scrollIntoViewIfNeeded();
  await expect(body.locator("[data-passage]").first()).not.toBeInViewport();
  await page.getByRole("button", { name: "Go to the passage" }).click();
  await expect(body.locator("[data-passage]").first()).toBeInViewport();

  // The address holds the passage: a reload (or a shared link) shows it again.
  await page.reload();
  await expectPassageShown(page);
});

test("an answer's citation opens the cited passage, and its [n] link to the citation", async ({ page }) => {
  await signIn(page);
  await ask(page);
  const answer = page.getByRole("region", { name: "Answer" });
  // The answer is Markdown (the fake model quotes the passage it was given: its bold stays bold).
  await expect(answer.locator("strong", { hasText: "feathered" }).first()).toBeVisible();
  await expect(answer.locator('a[data-reference="1"]').first()).toHaveAttribute("href", "#citation-1");
  const citations = answer.getByRole("list", { name: "Citations" });
  await citations.getByRole("link", { name: new RegExp(`Section ${TARGET}`) }).click();
  await expect(page.getByRole("heading", { level: 1, name: "Field guide 🐍" })).toBeVisible();
  await expectPassageShown(page);
});

for (const colorScheme of ["light", "dark"] as const) {
  test.describe(`${colorScheme} mode`, () => {
    test.use({ colorScheme });

    test("the document view at a passage has no serious accessibility violation", async ({ page }) => {
      await signIn(page);
      await openFromSearch(page);
      await expect(page.locator("[data-passage]").first()).toBeInViewport();
      await expectNoSeriousViolation(page);
    });

    test("the Ask page with an answer has no serious accessibility violation", async ({ page }) => {
      await signIn(page);
      await ask(page);
      await expect(page.getByRole("list", { name: "Citations" })).toBeVisible();
      await expectNoSeriousViolation(page);
    });
  });
}

async function expectNoSeriousViolation(page: Page): Promise<void> {
  const results = await new AxeBuilder({ page }).analyze();
  const serious = results.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => ({ id: v.id, help: v.help, nodes: v.nodes.map((n) => n.target.join(" ")).slice(0, 5) }));
  expect(serious).toEqual([]);
}
