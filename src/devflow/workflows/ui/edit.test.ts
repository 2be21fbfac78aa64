import { describe, expect, it } from "vitest";

import { changes, draftOf, parseLabels, parseNumbers, shown } from "./edit";
import type { TaskDetail } from "./types";

const task: TaskDetail = {
  number: 4,
  title: "Fix login",
  type: "bug",
  priority: "high",
  labels: ["auth", "web"],
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
  version: 3,
  created_at: "2026-01-01T00:00:00Z",
  updated_at: "2026-01-01T00:00:00Z",
  closed_at: null,
  body: "text",
  done_definition: "",
  links: [],
  children: [],
  created_by: "admin",
  comment_count: 0,
};

describe("changes", () => {
  it("is empty for an untouched draft", () => {
    expect(changes(task, draftOf(task))).toEqual({});
  });
  it("holds only the changed fields", () => {
    const draft = { ...draftOf(task), title: " Fix the login ", labels: "auth, web, auth , ui", assignee: "ann" };
    expect(changes(task, draft)).toEqual({ title: "Fix the login", labels: ["auth", "web", "ui"], assignee: "ann" });
  });
  it("clears a field with an empty string", () => {
    const assigned = { ...task, assignee: "ann", milestone: "v1" };
    expect(changes(assigned, { ...draftOf(assigned), assignee: "", milestone: "" })).toEqual({ assignee: "", milestone: "" });
  });
});

describe("blockers and parent", () => {
  it("reads task numbers with or without #", () => {
    expect(parseNumbers("#3, 7 #3  9")).toEqual([3, 7, 9]);
    expect(parseNumbers("")).toEqual([]);
    expect(parseNumbers("3, x")).toBeNull();
    expect(parseNumbers("#0")).toBeNull();
  });
  it("sends blockers as numbers and an emptied parent as 0", () => {
    const child = { ...task, parent: 2, blocked_by: [5] };
    expect(draftOf(child).blocked_by).toBe("#5");
    expect(changes(child, { ...draftOf(child), blocked_by: "#5, 6", parent: "" })).toEqual({ blocked_by: [5, 6], parent: 0 });
    expect(changes(child, { ...draftOf(child), blocked_by: "" })).toEqual({ blocked_by: [] });
    expect(changes(child, { ...draftOf(child), blocked_by: "5", parent: "2" })).toEqual({});
  });
  it("refuses what is not task numbers, naming the field", () => {
    expect(() => changes(task, { ...draftOf(task), blocked_by: "soon" })).toThrow(/^Blocked by: /);
    expect(() => changes(task, { ...draftOf(task), parent: "#2 #3" })).toThrow(/^Parent: /);
  });
});

describe("labels and history values", () => {
  it("splits labels on commas without blanks or repeats", () => {
    expect(parseLabels(" a, ,b,a ")).toEqual(["a", "b"]);
  });
  it("shows nothing as a dash and lists joined", () => {
    expect(shown(null)).toBe("—");
    expect(shown([])).toBe("—");
    expect(shown(["a", "b"])).toBe("a, b");
    expect(shown(3)).toBe("3");
  });
});
