/** The board, a task and a run in a real browser: cards dragged between and within columns and
 * moved from the keyboard (the API agrees each time), another user's move arriving live, a
 * column at its WIP limit refusing a card, a stale move showing the API's message and putting
 * the card back, and a task's comment and stale edit. Each test makes a project of its own with
 * the admin token (a rerun against the same server starts afresh). */
import type { APIResponse, Locator, Page } from "@playwright/test";

import { noSeriousViolations } from "./axe";
import { expect, signIn, test, unique } from "./fixtures";

const token = process.env.DEVFLOW_E2E_TOKEN ?? "";
const headers = { Authorization: `Bearer ${token}` };

interface Task {
  number: number;
  title: string;
  column: string;
  version: number;
}

async function ok<T>(answer: APIResponse): Promise<T> {
  expect(answer.ok(), await answer.text()).toBe(true);
  return (await answer.json()) as T;
}

/** A project of this test's own with `titles` as tasks in its Todo column, in that order. */
async function project(page: Page, titles: string[]): Promise<{ name: string; tasks: Task[] }> {
  const name = unique("flow");
  await ok(await page.request.post("/api/v1/projects", { headers, data: { name } }));
  const tasks: Task[] = [];
  for (const title of titles) {
    const data = { title, column: "Todo", ...(title.startsWith("Fix") ? { priority: "high", labels: ["auth"] } : {}) };
    tasks.push(await ok<Task>(await page.request.post(`/api/v1/projects/${name}/tasks`, { headers, data })));
  }
  return { name, tasks };
}

async function read(page: Page, name: string, number: number): Promise<Task> {
  return ok<Task>(await page.request.get(`/api/v1/projects/${name}/tasks/${number}`, { headers }));
}

async function columnOrder(page: Page, name: string, column: string): Promise<number[]> {
  const answer = await ok<{ items: Task[] }>(
    await page.request.get(`/api/v1/projects/${name}/tasks`, { headers, params: { column } }),
  );
  return answer.items.map((t) => t.number);
}

function column(page: Page, name: string): Locator {
  return page.getByRole("list", { name: `${name} tasks` });
}

function card(page: Page, number: number): Locator {
  return page.getByRole("article", { name: new RegExp(`^#${number} `) });
}

test("a task made on the board moves by drag and drop and from the keyboard, live, within WIP limits", async ({ page }) => {
  await signIn(page);
  const { name } = await project(page, ["Write the spec", "Fix login", "Ship it"]);
  await page.goto(`/board/${name}`);
  await expect(page.getByRole("heading", { level: 1, name: `Board · ${name}` })).toBeVisible();
  await expect(column(page, "Todo").getByRole("article")).toHaveCount(3);
  // A mark on this document: a reload would lose it.
  await page.evaluate(() => document.documentElement.setAttribute("data-e2e-loaded", "board"));

  // A new task from the board lands in the column chosen.
  await page.getByRole("button", { name: "New task" }).click();
  const form = page.getByRole("form", { name: "New task" });
  await form.getByLabel("Title").fill("Write the docs");
  await form.getByLabel("Column").selectOption("Backlog");
  await form.getByRole("button", { name: "Create" }).click();
  await expect(page.getByRole("status").filter({ hasText: "Created #4 Write the docs in Backlog" })).toBeVisible();
  await expect(column(page, "Backlog").getByRole("article", { name: /^#4 Write the docs/ })).toBeVisible();

  // Between columns: the API moves it too.
  await card(page, 1).dragTo(column(page, "In progress"));
  await expect(column(page, "In progress").getByRole("article", { name: /^#1 / })).toBeVisible();
  await expect.poll(async () => (await read(page, name, 1)).column).toBe("In progress");

  // Within a column: #3 dropped on the upper half of #2 goes before it.
  await card(page, 3).dragTo(card(page, 2), { targetPosition: { x: 20, y: 3 } });
  await expect(column(page, "Todo").getByRole("article")).toHaveText([/^#3 /, /^#2 /]);
  await expect.poll(() => columnOrder(page, name, "Todo")).toEqual([3, 2]);

  // From the keyboard: Alt+→ takes #2 to the next column, and the focus goes with it.
  await card(page, 2).getByRole("link").focus();
  await page.keyboard.press("Alt+ArrowRight");
  await expect(column(page, "In progress").getByRole("article")).toHaveText([/^#1 /, /^#2 /]);
  await expect(card(page, 2).getByRole("link")).toBeFocused();
  await expect.poll(() => columnOrder(page, name, "In progress")).toEqual([1, 2]);

  // Another user's move arrives through the event stream.
  const one = await read(page, name, 1);
  await ok(await page.request.patch(`/api/v1/projects/${name}/tasks/1`, { headers, data: { version: one.version, column: "Done" } }));
  await expect(column(page, "Done").getByRole("article", { name: /^#1 / })).toBeVisible();

  // A WIP limit reached shows on its column, and a card dropped there comes back with the reason.
  await ok(await page.request.patch(`/api/v1/projects/${name}/board/columns/Done`, { headers, data: { wip_limit: 1 } }));
  await expect(page.getByLabel("1 tasks, WIP limit 1, at its limit")).toBeVisible();
  await card(page, 3).dragTo(column(page, "Done"));
  await expect(page.getByRole("alert")).toContainText("#3 was not moved: column 'Done' is at its WIP limit of 1");
  await expect(column(page, "Todo").getByRole("article", { name: /^#3 / })).toBeVisible();
  expect((await read(page, name, 3)).column).toBe("Todo");

  // Filters narrow every column.
  await page.getByRole("search").getByLabel("Priority").selectOption("high");
  await expect(page.getByRole("article")).toHaveText([/^#2 Fix login/]);
  await expect(page.locator("html")).toHaveAttribute("data-e2e-loaded", "board");
  await card(page, 2).getByRole("button", { name: "Move #2" }).click();
  await expect(card(page, 2).getByRole("button", { name: "Move #2 to the previous column" })).toBeVisible();
  await noSeriousViolations(page);
  await page.screenshot({ path: test.info().outputPath("board.png"), fullPage: true });

  // The header's project switcher takes the page to that project's board.
  await page.getByRole("banner").getByLabel("Project").selectOption("default");
  await expect(page.getByRole("heading", { level: 1, name: "Board · default" })).toBeVisible();
});

test("a move from a stale board shows the API's message and puts the card back", async ({ page }) => {
  await signIn(page);
  const { name } = await project(page, ["Stale card"]);
  // No event stream: the board cannot hear of the change made below.
  await page.route("**/api/v1/events**", (route) => route.abort());
  await page.goto(`/board/${name}`);
  await expect(card(page, 1)).toBeVisible();
  await ok(await page.request.patch(`/api/v1/projects/${name}/tasks/1`, { headers, data: { version: 1, title: "Renamed elsewhere" } }));

  await card(page, 1).dragTo(column(page, "In review"));
  await expect(page.getByRole("alert")).toContainText(
    "#1 was not moved: task #1 changed since version 1: it is at version 2 now",
  );
  await expect(column(page, "Todo").getByRole("article", { name: /^#1 / })).toBeVisible();
  expect((await read(page, name, 1)).column).toBe("Todo");
});

test("a task shows its text and links, takes a comment, and a stale edit offers a reload", async ({ page }) => {
  await signIn(page);
  const { name } = await project(page, ["Blocker"]);
  const data = {
    title: "Fix the docs",
    body: "Some **bold** words\n\n- one\n- two",
    done_definition: "The page builds",
    blocked_by: [1],
    column: "Todo",
  };
  const task = await ok<Task>(await page.request.post(`/api/v1/projects/${name}/tasks`, { headers, data }));
  await page.goto(`/board/${name}/tasks/${task.number}`);
  await expect(page.getByRole("heading", { level: 1, name: `#${task.number} Fix the docs` })).toBeVisible();
  await expect(page.getByRole("region", { name: "Description" }).locator("strong")).toHaveText("bold");
  await expect(page.getByRole("region", { name: "Done when" })).toContainText("The page builds");
  await page.getByRole("link", { name: "#1", exact: true }).click();
  await expect(page.getByRole("heading", { level: 1, name: "#1 Blocker" })).toBeVisible();
  await page.goBack();

  await page.getByLabel("Add a comment").fill("Looks *good*");
  await page.getByRole("button", { name: "Comment", exact: true }).click();
  await expect(page.getByRole("list", { name: "Comments" }).locator("em")).toHaveText("good");
  const comments = await ok<{ total: number }>(
    await page.request.get(`/api/v1/projects/${name}/tasks/${task.number}/comments`, { headers }),
  );
  expect(comments.total).toBe(1);

  // Someone else edits while this page does: saving is refused with the current version.
  await page.getByRole("button", { name: "Edit" }).click();
  const form = page.getByRole("form", { name: `Edit #${task.number}` });
  await form.getByLabel("Title").fill("Fix the docs now");
  await ok(await page.request.patch(`/api/v1/projects/${name}/tasks/${task.number}`, { headers, data: { version: task.version, priority: "urgent" } }));
  await form.getByRole("button", { name: "Save" }).click();
  await expect(form.getByRole("alert")).toContainText(`changed since version ${task.version}`);
  await expect(form).toContainText(`The task is at version ${task.version + 1} now`);
  await form.getByRole("button", { name: /^Reload the task/ }).click();
  await expect(form.getByLabel("Priority")).toHaveValue("urgent");
  await form.getByLabel("Title").fill("Fix the docs now");
  await form.getByRole("button", { name: "Save" }).click();
  await expect(page.getByRole("heading", { level: 1, name: `#${task.number} Fix the docs now` })).toBeVisible();
  expect((await read(page, name, task.number)).title).toBe("Fix the docs now");
  await expect(page.getByRole("list", { name: "History" })).toContainText("from Fix the docs to Fix the docs now");
  await noSeriousViolations(page);
  await page.screenshot({ path: test.info().outputPath("task.png"), fullPage: true });
});
