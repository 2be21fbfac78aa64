import { describe, expect, it } from "vitest";

import type { DevflowEvent } from "../lib/types";
import { isActivity, mergeNewest, parseEvents } from "./activity";

function event(id: number, type = "project.created"): DevflowEvent {
  return { id, type, project_id: null, actor_id: null, created_at: "", payload: {} };
}

describe("recent activity", () => {
  it("reads the events of a finished stream and skips its comments", () => {
    const body =
      ": connected\n\n" +
      `id: 4\ndata: ${JSON.stringify(event(4))}\n\n` +
      `id: 5\r\ndata: ${JSON.stringify(event(5, "job.cancelled"))}\r\n\r\n` +
      "data: not json\n\n";
    expect(parseEvents(body).map((e) => [e.id, e.type])).toEqual([
      [4, "project.created"],
      [5, "job.cancelled"],
    ]);
    expect(parseEvents("")).toEqual([]);
  });

  it("keeps the newest of the history and the live events, each once", () => {
    const history = [event(1), event(2), event(3)];
    const live = [event(5), event(3)];
    expect(mergeNewest(history, live, 3).map((e) => e.id)).toEqual([5, 3, 2]);
  });

  it("leaves progress reports out", () => {
    expect(isActivity(event(1, "job.progress"))).toBe(false);
    expect(isActivity(event(1, "knowledge.source.progress"))).toBe(false);
    expect(isActivity(event(1, "job.retried"))).toBe(true);
  });
});
