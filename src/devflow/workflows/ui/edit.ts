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
    body: task.body,
    done_definition: task.done_definition,
  };
}

export function parseLabels(text: string): string[] {
  return [...new Set(text.split(",").map((label) => label.trim()).filter(Boolean))];
}

/** The fields `draft` changes from `base` (`""` unassigns and clears the milestone, as the API
 * takes them). */
export function changes(base: TaskDetail, draft: Draft): Record<string, unknown> {
  const was = draftOf(base);
  const body: Record<string, unknown> = {};
  for (const key of Object.keys(draft) as (keyof Draft)[]) {
    if (key === "labels") {
      const labels = parseLabels(draft.labels);
      if (labels.join("\u0000") !== base.labels.join("\u0000")) body.labels = labels;
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
