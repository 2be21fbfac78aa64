/** What a source's row says about its ingestion. */

import type { Job } from "@devflow/ui";

import type { Source } from "./types";

/** Statuses after which nothing more happens until a refresh. */
export const FINAL_STATUSES = new Set(["ready", "partial", "failed", "empty"]);

/** The source is being read or embedded (its job's progress is worth showing). */
export function isActive(source: Source): boolean {
  return !FINAL_STATUSES.has(source.status) && source.job_id !== null;
}

export interface Progress {
  label: string;
  done: number;
  total: number | null;
  unit: string | null;
  rate: number | null;
  etaSeconds: number | null;
}

/** The bar of a source's ingestion: its job's current phase when the job is known (fetch in
 * pages or files, then embed in chunks), else the source's own counts. */
export function sourceProgress(source: Source, job: Job | undefined): Progress {
  if (job && job.status === "doing") {
    const unit = job.unit ?? "";
    return {
      label: `${source.name}: ${job.phase ?? "working"}`,
      done: job.done,
      total: job.total,
      unit: job.phase ? `${unit} (${job.phase})`.trim() : unit || null,
      rate: job.rate,
      etaSeconds: job.eta_seconds,
    };
  }
  const embedding = source.status === "embedding";
  return {
    label: `${source.name}: ${source.status}`,
    done: embedding ? source.embedded : source.fetched,
    total: embedding ? source.chunked || null : source.discovered || null,
    unit: embedding ? "chunks (embed)" : "documents (fetch)",
    rate: null,
    etaSeconds: null,
  };
}

/** "12 documents · 340 chunks · 2 failed" */
export function countsLine(source: Source): string {
  const parts = [
    plural(source.document_count, "document"),
    plural(source.chunk_count, "chunk"),
  ];
  if (source.failed) parts.push(`${source.failed} failed`);
  return parts.join(" · ");
}

export function plural(count: number, noun: string): string {
  return `${new Intl.NumberFormat("en").format(count)} ${noun}${count === 1 ? "" : "s"}`;
}
