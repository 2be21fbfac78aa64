/** What every browser test shares: a signed-in page and the dashboard's common steps. */
import { expect, test as base, type Page } from "@playwright/test";

const token = process.env.DEVFLOW_E2E_TOKEN ?? "";

/** A one-time sign-in link, minted with the admin token as `devflow signin-link` does. */
export async function signInLink(page: Page): Promise<string> {
  const answer = await page.request.post("/api/v1/signin-links", {
    headers: { Authorization: `Bearer ${token}` },
  });
  expect(answer.status()).toBe(201);
  const { url } = (await answer.json()) as { url: string };
  return url;
}

/** Sign in with a fresh link and wait for the signed-in overview. */
export async function signIn(page: Page, link?: string): Promise<void> {
  await page.goto(link ?? (await signInLink(page)));
  await expect(page.getByRole("heading", { level: 1, name: /^Overview/ })).toBeVisible();
}

export interface File {
  name: string;
  mimeType: string;
  buffer: Buffer;
}

export function markdown(name: string, text: string): File {
  return { name, mimeType: "text/markdown", buffer: Buffer.from(text) };
}

/** Upload files as a new source from the Add source page and wait, on the sources page, until
 * it is ready: the page updates itself (no reload). */
export async function addFiles(page: Page, source: string, files: File[]): Promise<void> {
  await page.goto("/knowledge/add");
  await page.getByRole("radio", { name: "Files or a folder" }).check();
  await page.getByLabel("Or files").setInputFiles(files);
  await page.getByRole("textbox", { name: /^Name\b/ }).fill(source);
  // A mark on this document: it survives client-side navigation and would not survive a reload.
  await page.evaluate(() => document.documentElement.setAttribute("data-e2e-loaded", "add"));
  await page.getByRole("button", { name: "Add source" }).click();
  const uploaded = page.getByRole("status").filter({ hasText: `into ${source}` });
  // An error (a name taken …) fails at once rather than at the timeout.
  await expect(uploaded.or(page.getByRole("alert"))).toBeVisible();
  expect(await page.getByRole("alert").allInnerTexts()).toEqual([]);
  await page.getByRole("link", { name: "See the sources" }).click();
  await expect(sourceItem(page, source).getByText("ready", { exact: true })).toBeVisible();
  await expect(page.locator("html")).toHaveAttribute("data-e2e-loaded", "add");
}

/** A source name of its own for this run: a rerun against the same server adds new sources. */
export function unique(name: string): string {
  return `${name}-${Date.now().toString(36)}`;
}

export function sourceItem(page: Page, source: string) {
  return page.getByRole("list", { name: "Sources" }).getByRole("listitem").filter({ hasText: source });
}

/** A test whose page is signed in, and which fails if any dialog (alert, confirm …) opens. */
export const test = base.extend<{ dialogs: string[] }>({
  dialogs: async ({ page }, use) => {
    const seen: string[] = [];
    page.on("dialog", (dialog) => {
      seen.push(`${dialog.type()}: ${dialog.message()}`);
      void dialog.dismiss();
    });
    await use(seen);
    expect(seen, "no dialog may open").toEqual([]);
  },
});

export { expect };
