/** An image's tags and manifest on the Registry page, a member removed on the Projects and people
 * page, and axe-core on the repository, manifest, package and project pages in light and dark
 * mode. The server pushed `default/web-e2e` (tags v1 and old) and published `left-pad-e2e` to
 * `js` (tests/e2e/test_dashboard_browser.py). */
import AxeBuilder from "@axe-core/playwright";
import type { Page } from "@playwright/test";

import { expect, signIn, test, unique } from "./fixtures";

const token = process.env.DEVFLOW_E2E_TOKEN ?? "";
const IMAGE = "default/web-e2e";

/** Make a user and give them a role in a project, with the admin token (as the CLI would). */
async function addMember(page: Page, project: string, role: string): Promise<string> {
  const username = unique("leaver");
  const headers = { Authorization: `Bearer ${token}` };
  const made = await page.request.post("/api/v1/users", { headers, data: { username } });
  expect(made.status()).toBe(201);
  const set = await page.request.put(`/api/v1/projects/${project}/members`, { headers, data: { username, role } });
  expect(set.status()).toBe(204);
  return username;
}

async function noSeriousViolations(page: Page): Promise<void> {
  const results = await new AxeBuilder({ page }).analyze();
  const serious = results.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => ({ id: v.id, help: v.help, nodes: v.nodes.map((n) => n.target.join(" ")).slice(0, 5) }));
  expect(serious).toEqual([]);
}

test("an image's tags and manifest can be browsed, with pull commands for this host", async ({ page }) => {
  await signIn(page);
  await page.goto("/registry");
  await page.getByRole("link", { name: IMAGE, exact: true }).click();
  await expect(page.getByRole("heading", { level: 1, name: IMAGE })).toBeVisible();
  const tags = page.getByRole("list", { name: "Tags" });
  const v1 = tags.getByRole("listitem").filter({ has: page.getByRole("link", { name: "v1", exact: true }) });
  await expect(v1.getByText(/^sha256:[0-9a-f]{12}…[0-9a-f]{4}$/)).toBeVisible();
  await expect(v1.getByText(/^\d+(\.\d)? (B|KiB)$/)).toBeVisible();

  await v1.getByRole("link", { name: "v1", exact: true }).click();
  await expect(page.getByRole("heading", { level: 1, name: `${IMAGE}:v1` })).toBeVisible();
  await expect(page.getByRole("heading", { name: /^Layers \(1, / })).toBeVisible();
  await expect(page.getByRole("heading", { name: /^Config \(1, / })).toBeVisible();
  await expect(page.getByText("linux/amd64")).toBeVisible();
  const host = new URL(page.url()).host;
  const pull = page.getByRole("region", { name: "Pull" });
  await expect(pull.getByText(new RegExp(`docker pull ${host.replace(/\./g, "\\.")}/${IMAGE}@sha256:[0-9a-f]{64}`))).toBeVisible();
  await expect(pull.getByText(new RegExp(`skopeo copy .*docker://${host.replace(/\./g, "\\.")}/${IMAGE}@sha256:`))).toBeVisible();
  await page.screenshot({ path: test.info().outputPath("manifest.png"), fullPage: true });
});

test("a project admin removes a tag; the image stays", async ({ page }) => {
  await signIn(page);
  await page.goto(`/registry/repositories/${IMAGE}`);
  const tags = page.getByRole("list", { name: "Tags" });
  await expect(tags.getByRole("link", { name: "old", exact: true })).toBeVisible();
  await page.getByRole("button", { name: "Remove tag old" }).click();
  await page.getByRole("group", { name: /Remove tag old\?/ }).getByRole("button", { name: "Remove tag" }).click();
  await expect(tags.getByRole("link", { name: "old", exact: true })).toBeHidden();
  await expect(tags.getByRole("link", { name: "v1", exact: true })).toBeVisible();
});

test("a member is removed from a project, and the last owner is kept with a clear reason", async ({ page }) => {
  const leaver = await addMember(page, "default", "read");
  await signIn(page);
  await page.goto("/projects/default");
  await expect(page.getByRole("heading", { level: 1, name: "default" })).toBeVisible();
  const members = page.getByRole("region", { name: "Members" });
  await expect(members.getByText(leaver, { exact: true })).toBeVisible();
  await page.getByRole("button", { name: `Remove ${leaver} from default` }).click();
  await page.getByRole("group", { name: `Remove ${leaver} from default?` }).getByRole("button", { name: "Remove" }).click();
  await expect(members.getByText(leaver, { exact: true })).toBeHidden();
  const project = (await (await page.request.get("/api/v1/projects/default")).json()) as { members: { username: string }[] };
  expect(project.members.map((m) => m.username)).not.toContain(leaver);

  await page.getByRole("button", { name: "Remove admin from default" }).click();
  await page.getByRole("group", { name: "Remove admin from default?" }).getByRole("button", { name: "Remove" }).click();
  await expect(page.getByRole("alert")).toContainText("'admin' is the last owner of 'default'");
  await expect(page.getByRole("alert")).toContainText("--role owner");
  await expect(members.getByRole("combobox", { name: "Role of admin" })).toHaveValue("owner");
});

const PAGES: [string, string | RegExp][] = [
  [`/registry/repositories/${IMAGE}`, IMAGE],
  [`/registry/repositories/${IMAGE}/-/manifests/v1`, `${IMAGE}:v1`],
  ["/registry/repositories/js/-/packages/left-pad-e2e", /left-pad-e2e/],
  ["/projects/default", "default"],
];

for (const colorScheme of ["light", "dark"] as const) {
  test.describe(`${colorScheme} mode`, () => {
    test.use({ colorScheme });
    for (const [path, heading] of PAGES) {
      test(`${path} has no serious accessibility violation`, async ({ page }) => {
        await signIn(page);
        await page.goto(path);
        await expect(page.getByRole("heading", { level: 1, name: heading })).toBeVisible();
        await noSeriousViolations(page);
      });
    }
  });
}
