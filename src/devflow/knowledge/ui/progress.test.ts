import { describe, expect, it } from "vitest";

import type { Job } from "@devflow/ui";

import { countsLine, isActive, sourceProgress } from "./progress";
import type { Source } from "./types";

const source: Source = {
  id: "s1",
  project_id: "p1",
  name: "docs",
  kind: "web",
  location: "https://docs.example.com",
  settings: {},
  status: "running",
  embed_model: null,
  discovered: 40,
  fetched: 10,
  chunked: 120,
  embedded: 30,
  failed: 0,
  document_count: 10,
  chunk_count: 120,
  job_id: 7,
  last_error: null,
  last_refresh_at: null,
  created_at: "2026-12-04T10:00:00Z",
};

const job: Job = {
  id: 7,
  task: "knowledge:ingest_source",
  status: "doing",
  attempts: 1,
  done: 25,
  total: 100,
  message: "",
  error: null,
  project_id: "p1",
  scheduled_at: null,
  updated_at: null,
  phase: "embed",
  unit: "chunks",
  rate: 12.5,
  eta_seconds: 6,
  actions: [],
};

describe("sourceProgress", () => {
  it("follows the job's current phase with its rate and ETA", () => {
    expect(sourceProgress(source, job)).toEqual({
      label: "docs: embed",
      done: 25,
      total: 100,
      unit: "chunks (embed)",
      rate: 12.5,
      etaSeconds: 6,
    });
  });

  it("falls back to the source's counts before the job is known", () => {
    expect(sourceProgress(source, undefined)).toMatchObject({ done: 10, total: 40, unit: "documents (fetch)" });
    expect(sourceProgress({ ...source, status: "embedding" }, undefined)).toMatchObject({
      done: 30,
      total: 120,
      unit: "chunks (embed)",
    });
  });

  it("has no total while nothing was discovered (an indeterminate bar)", () => {
    expect(sourceProgress({ ...source, discovered: 0 }, undefined).total).toBeNull();
  });

  it("ignores a job that has ended", () => {
    expect(sourceProgress(source, { ...job, status: "succeeded" }).unit).toBe("documents (fetch)");
  });
});

describe("isActive and countsLine", () => {
  it("shows progress only while a job works on the source", () => {
    expect(isActive(source)).toBe(true);
    expect(isActive({ ...source, status: "ready" })).toBe(false);
    expect(isActive({ ...source, job_id: null })).toBe(false);
  });

  it("counts documents, chunks and failures", () => {
    expect(countsLine(source)).toBe("10 documents · 120 chunks");
    expect(countsLine({ ...source, document_count: 1, chunk_count: 1, failed: 2 })).toBe(
      "1 document · 1 chunk · 2 failed",
    );
  });
});
