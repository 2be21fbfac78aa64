/** The board's logic without React: filters from the URL, where a dropped card goes (the
 * `before`/`after` the API takes), and the optimistic move of a card between the pages of its
 * columns. */

import type { Query } from "@devflow/ui";

import type { Task } from "./types";

export const FILTER_KEYS = ["q", "assignee", "label", "priority", "type", "run"] as const;
export type FilterKey = (typeof FILTER_KEYS)[number];
export type BoardFilter = Partial<Record<FilterKey, string>>;

/** Tasks per request: a column's first page, and each "load more". */
export const PAGE = 50;

export function filterFrom(params: URLSearchParams): BoardFilter {
  const filter: BoardFilter = {};
  for (const key of FILTER_KEYS) {
    const value = params.get(key)?.trim();
    if (value) filter[key] = value;
  }
  return filter;
}

/** The filters the task listing takes. `priority` is sent too (the listing ignores what it
 * does not know) and applied here as well, by `keeps`; a run that is not a number is left to
 * `keeps` (it matches nothing) rather than refused by the API. */
export function listingQuery(filter: BoardFilter): Query {
  const query: Query = { ...filter };
  if (filter.run !== undefined && !/^[1-9]\d{0,9}$/.test(filter.run)) delete query.run;
  return query;
}

export function hasFilter(filter: BoardFilter): boolean {
  return Object.keys(filter).length > 0;
}

/** Whether a task the API returned passes the filters the listing may not apply itself. */
export function keeps(task: Task, filter: BoardFilter): boolean {
  if (filter.priority && task.priority !== filter.priority) return false;
  if (filter.run && String(task.run ?? "") !== filter.run) return false;
  return true;
}

export interface Placement {
  before?: number;
  after?: number;
}

/** Where a card lands when put at `index` of `tasks` (a column's cards in order, the moving
 * card left out): just before the card now at `index`, or after the last one. */
export function placement(tasks: Task[], index: number): Placement {
  const at = tasks[index];
  if (at) return { before: at.number };
  const last = tasks[tasks.length - 1];
  return last ? { after: last.number } : {};
}

/** The pages of a column as react-query's infinite query keeps them. */
export interface Pages {
  pages: { items: Task[]; total: number }[];
  pageParams: unknown[];
}

/** The offset of a listing's next page, or undefined when every item is loaded. */
export function nextOffset<P extends { items: unknown[]; total: number }>(last: P, all: P[]): number | undefined {
  const loaded = all.reduce((sum, page) => sum + page.items.length, 0);
  return loaded < last.total ? loaded : undefined;
}

export function flatten(data: Pages | undefined): Task[] {
  return data ? data.pages.flatMap((page) => page.items) : [];
}

/** The pages without task `number` (its column's total one less when it was there). */
export function withoutTask(data: Pages, number: number): Pages {
  const found = data.pages.some((page) => page.items.some((t) => t.number === number));
  if (!found) return data;
  return {
    ...data,
    pages: data.pages.map((page) => ({
      items: page.items.filter((t) => t.number !== number),
      total: page.total - 1,
    })),
  };
}

/** The pages with `task` put at flat `index` (the last page takes one past the end). */
export function withTaskAt(data: Pages, task: Task, index: number): Pages {
  let rest = Math.max(0, index);
  let placed = false;
  const pages = data.pages.map((page, i) => {
    const last = i === data.pages.length - 1;
    if (!placed && (rest <= page.items.length && (rest < page.items.length || last))) {
      placed = true;
      const items = [...page.items];
      items.splice(rest, 0, task);
      return { items, total: page.total + 1 };
    }
    if (!placed) rest -= page.items.length;
    return { ...page, total: page.total + 1 };
  });
  if (!placed) pages.push({ items: [task], total: (data.pages[0]?.total ?? 0) + 1 });
  return { ...data, pages };
}

/** The index a card dropped on `target` lands at: above it when dropped on its upper half. */
export function dropIndex(tasks: Task[], target: number, upperHalf: boolean): number {
  const at = tasks.findIndex((t) => t.number === target);
  if (at < 0) return tasks.length;
  return upperHalf ? at : at + 1;
}
