/** axe-core on every page: no serious or critical violation. */
import AxeBuilder from "@axe-core/playwright";

import { expect, signIn, test } from "./fixtures";

const PAGES: [string, string | RegExp][] = [
  ["/", /^Overview/],
  ["/jobs", "Jobs"],
  ["/knowledge", "Knowledge sources"],
  ["/knowledge/add", "Add a source"],
  ["/knowledge/search", "Search"],
  ["/registry", "Package registry"],
  ["/projects", "Projects and people"],
  ["/tokens", "API tokens"],
  ["/agents", "Agents' setup"],
];

for (const colorScheme of ["light", "dark"] as const) {
  test.describe(`${colorScheme} mode`, () => {
    test.use({ colorScheme });
    for (const [path, heading] of PAGES) {
      test(`${path} has no serious accessibility violation`, async ({ page }) => {
    await signIn(page);
    await page.goto(path);
    await expect(page.getByRole("heading", { level: 1, name: heading })).toBeVisible();
    const results = await new AxeBuilder({ page }).analyze();
    const serious = results.violations
      .filter((v) => v.impact === "serious" || v.impact === "critical")
      .map((v) => ({ id: v.id, help: v.help, nodes: v.nodes.map((n) => n.target.join(" ")).slice(0, 5) }));
    expect(serious).toEqual([]);
      });
    }
  });
}
