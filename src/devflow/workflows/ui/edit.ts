/** A task's edit form without React: its draft from a task, and the PATCH body of what the
 * user changed (only those fields, with the version the draft was made from). */

import type { Priority, TaskDetail, TaskType } from "./types";

export interface Draft {
  title: string;
  type: TaskType;
  priority: Priority;
  labels: string;
  assignee: string;
  milestone: string;
  /** Task numbers, "#3, 7" or "3 7". */
  blocked_by: string;
  /** A task number; empty: no parent. */
  parent: string;
  body: string;
  done_definition: string;
}

export function draftOf(task: TaskDetail): Draft {
  return {
    title: task.title,
    type: task.type,
    priority: task.priority,
    labels: task.labels.join(", "),
    assignee: task.assignee ?? "",
    milestone: task.milestone ?? "",
    blocked_by: task.blocked_by.map((n) => `#${n}`).join(", "),
    parent: task.parent === null ? "" : `#${task.parent}`,
    body: task.body,
    done_definition: task.done_definition,
  };
}

export function parseLabels(text: string): string[] {
  return [...new Set(text.split(",").map((label) => label.trim()).filter(Boolean))];
}

/** Task numbers in text such as "#3, 7 #9", in order, without repeats; null when some part is
 * not a number. */
export function parseNumbers(text: string): number[] | null {
  const parts = text.split(/[\s,]+/).filter(Boolean);
  const numbers = parts.map((part) => (/^#?[1-9]\d{0,9}$/.test(part) ? Number(part.replace("#", "")) : NaN));
  if (numbers.some((n) => Number.isNaN(n))) return null;
  return [...new Set(numbers)];
}

/** The fields `draft` changes from `base` (`""` unassigns and clears the milestone, parent 0
 * removes the parent, as the API takes them).
 *
 * Throws: an Error saying which field is not task numbers. */
export function changes(base: TaskDetail, draft: Draft): Record<string, unknown> {
  const was = draftOf(base);
  const body: Record<string, unknown> = {};
  for (const key of Object.keys(draft) as (keyof Draft)[]) {
    if (key === "labels") {
      const labels = parseLabels(draft.labels);
      if (labels.join("\u0000") !== base.labels.join("\u0000")) body.labels = labels;
    } else if (key === "blocked_by" || key === "parent") {
      if (draft[key].trim() === was[key]) continue;
      const numbers = parseNumbers(draft[key]);
      if (numbers === null || (key === "parent" && numbers.length > 1)) {
        throw new Error(
          key === "parent"
            ? `Parent: give one task number such as #3, or nothing (not ${JSON.stringify(draft.parent)})`
            : `Blocked by: give task numbers such as #3, #7 (not ${JSON.stringify(draft.blocked_by)})`,
        );
      }
      if (key === "parent" && (numbers[0] ?? null) !== base.parent) body.parent = numbers[0] ?? 0;
      if (key === "blocked_by" && numbers.join() !== base.blocked_by.join()) body.blocked_by = numbers;
    } else if (draft[key] !== was[key]) {
      body[key] = key === "title" ? draft.title.trim() : draft[key];
    }
  }
  return body;
}

/** A history value as text: lists joined, nothing as a dash. */
export function shown(value: unknown): string {
  if (value === null || value === undefined || value === "") return "—";
  if (Array.isArray(value)) return value.length ? value.map((v) => shown(v)).join(", ") : "—";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}
