import { describe, expect, it } from "vitest";

import { dropIndex, filterFrom, flatten, keeps, listingQuery, nextOffset, placement, withoutTask, withTaskAt, type Pages } from "./board";
import type { Task } from "./types";

function task(number: number, extra: Partial<Task> = {}): Task {
  return {
    number,
    title: `task ${number}`,
    type: "task",
    priority: "medium",
    labels: [],
    state: "open",
    column: "Todo",
    assignee: null,
    assignee_kind: null,
    lease_expires_at: null,
    parent: null,
    blocked_by: [],
    blocked: false,
    milestone: null,
    run: null,
    phase: null,
    gate: null,
    version: 1,
    created_at: "2026-01-01T00:00:00Z",
    updated_at: "2026-01-01T00:00:00Z",
    closed_at: null,
    ...extra,
  };
}

function pages(...lists: number[][]): Pages {
  const total = lists.flat().length;
  return { pages: lists.map((l) => ({ items: l.map((n) => task(n)), total })), pageParams: lists.map((_, i) => i) };
}

describe("placement", () => {
  const column = [task(1), task(2), task(3)];
  it("puts a card before the one at its index", () => {
    expect(placement(column, 0)).toEqual({ before: 1 });
    expect(placement(column, 2)).toEqual({ before: 3 });
  });
  it("puts a card after the last one past the end, and nowhere in particular in an empty column", () => {
    expect(placement(column, 3)).toEqual({ after: 3 });
    expect(placement([], 0)).toEqual({});
  });
});

describe("dropIndex", () => {
  const column = [task(1), task(2)];
  it("lands above the card on its upper half and below it on its lower half", () => {
    expect(dropIndex(column, 2, true)).toBe(1);
    expect(dropIndex(column, 2, false)).toBe(2);
    expect(dropIndex(column, 9, true)).toBe(2);
  });
});

describe("optimistic moves", () => {
  it("takes a card out of every page and lowers the total", () => {
    const left = withoutTask(pages([1, 2], [3]), 2);
    expect(flatten(left).map((t) => t.number)).toEqual([1, 3]);
    expect(left.pages[0]?.total).toBe(2);
  });
  it("leaves pages without the card as they were", () => {
    const data = pages([1]);
    expect(withoutTask(data, 7)).toBe(data);
  });
  it("puts a card at a flat index across pages", () => {
    expect(flatten(withTaskAt(pages([1, 2], [3]), task(9), 2)).map((t) => t.number)).toEqual([1, 2, 9, 3]);
    expect(flatten(withTaskAt(pages([1, 2], [3]), task(9), 3)).map((t) => t.number)).toEqual([1, 2, 3, 9]);
    expect(flatten(withTaskAt(pages([]), task(9), 0)).map((t) => t.number)).toEqual([9]);
    expect(flatten(withTaskAt({ pages: [], pageParams: [] }, task(9), 0)).map((t) => t.number)).toEqual([9]);
  });
});

describe("filters", () => {
  it("sends a run only when it is a number", () => {
    expect(listingQuery({ run: "12", q: "x" })).toEqual({ run: "12", q: "x" });
    expect(listingQuery({ run: "twelve" })).toEqual({});
  });
  it("reads the filters from the address, leaving out empty ones", () => {
    expect(filterFrom(new URLSearchParams("q=%20login%20&assignee=&priority=high"))).toEqual({ q: "login", priority: "high" });
  });
  it("keeps a task by priority and run, which the listing may not filter", () => {
    expect(keeps(task(1, { priority: "high" }), { priority: "high" })).toBe(true);
    expect(keeps(task(1), { priority: "high" })).toBe(false);
    expect(keeps(task(1, { run: 3 }), { run: "3" })).toBe(true);
    expect(keeps(task(1), { run: "3" })).toBe(false);
  });
});

describe("nextOffset", () => {
  it("asks for the next page until every item is loaded", () => {
    const page = (n: number) => ({ items: Array.from({ length: n }), total: 120 });
    expect(nextOffset(page(50), [page(50)])).toBe(50);
    expect(nextOffset(page(50), [page(50), page(50)])).toBe(100);
    expect(nextOffset(page(20), [page(50), page(50), page(20)])).toBeUndefined();
    expect(nextOffset({ items: [], total: 0 }, [{ items: [], total: 0 }])).toBeUndefined();
  });
});
