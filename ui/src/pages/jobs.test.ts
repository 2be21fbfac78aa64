import { describe, expect, it } from "vitest";

import type { DevflowEvent, Job, Page } from "../lib/types";
import { endsAttempt, needsRefetch, pageWithProgress, withProgress } from "./jobs";

function job(overrides: Partial<Job> = {}): Job {
  return {
    id: 7,
    task: "knowledge:ingest_source",
    status: "doing",
    attempts: 1,
    done: 2,
    total: 10,
    message: "fetching",
    error: null,
    project_id: null,
    scheduled_at: null,
    updated_at: "2026-12-05T10:00:00Z",
    phase: "fetch",
    unit: "pages",
    rate: 1,
    eta_seconds: 8,
    actions: ["cancel"],
    ...overrides,
  };
}

function progress(payload: Record<string, unknown>, type = "job.progress"): DevflowEvent {
  return { id: 1, type, project_id: null, actor_id: null, created_at: "", payload };
}

describe("a job.progress event", () => {
  it("moves the job's bar and message, keeping what it does not carry", () => {
    const moved = withProgress(job(), {
      job_id: 7,
      done: 6,
      total: 10,
      message: "fetching: 6 of 10 pages",
      rate: 2.5,
      eta_seconds: 1.6,
      updated_at: "2026-12-05T10:00:02.500000+00:00",
      final: false,
    });
    expect(moved).toMatchObject({ done: 6, message: "fetching: 6 of 10 pages", rate: 2.5, eta_seconds: 1.6 });
    expect(moved).toMatchObject({ status: "doing", actions: ["cancel"], phase: "fetch", unit: "pages" });
  });

  it("older than what the page shows is left out", () => {
    const shown = job({ done: 9, updated_at: "2026-12-05T10:00:05Z" });
    expect(withProgress(shown, { job_id: 7, done: 3, updated_at: "2026-12-05T10:00:01+00:00" })).toBe(shown);
  });

  it("changes only the page that holds its job", () => {
    const page: Page<Job> = { items: [job(), job({ id: 8, done: 0 })], total: 2 };
    const moved = pageWithProgress(page, { job_id: 8, done: 4 });
    expect(moved?.items.map((j) => j.done)).toEqual([2, 4]);
    expect(pageWithProgress(page, { job_id: 99, done: 4 })).toBe(page);
    expect(pageWithProgress(undefined, { job_id: 8 })).toBeUndefined();
  });

  it("asks the API again only when the page cannot tell from it", () => {
    const held = (id: unknown) => id === 7;
    expect(needsRefetch(progress({ job_id: 7, final: false }), held)).toBe(false);
    expect(needsRefetch(progress({ job_id: 8, final: false }), held)).toBe(true); // a new job
    expect(needsRefetch(progress({}, "knowledge.source.ingested"), held)).toBe(true);
    expect(endsAttempt(progress({ job_id: 7, final: true }))).toBe(true); // its status changes
    expect(endsAttempt(progress({ job_id: 7, final: false }))).toBe(false);
  });
});
