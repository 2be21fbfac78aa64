/** The shared pieces every page is built from. */

import type { ReactNode } from "react";

import { ApiError } from "./api";
import { formatCount, formatDuration } from "./format";

export function Card({ title, children, action }: { title: string; children: ReactNode; action?: ReactNode }) {
  return (
    <section
      aria-label={title}
      className="rounded-lg border border-slate-200 bg-white p-4 shadow-sm dark:border-slate-800 dark:bg-slate-900"
    >
      <div className="mb-2 flex items-center justify-between gap-2">
        <h2 className="text-sm font-semibold text-slate-600 dark:text-slate-300">{title}</h2>
        {action}
      </div>
      {children}
    </section>
  );
}

/** A number on the overview: the count, or what to do when there is none. */
export function Stat({
  label,
  value,
  empty,
  loading,
}: {
  label: string;
  value: number | undefined;
  empty?: ReactNode;
  loading?: boolean;
}) {
  return (
    <Card title={label}>
      <p className="text-3xl font-semibold tabular-nums">
        {loading || value === undefined ? "…" : formatCount(value)}
      </p>
      {/* The hint's two lines are kept while the count loads: the card does not grow and push
          the page down when it comes (layout shift, Lighthouse). */}
      {empty ? (
        <p className="mt-1 min-h-10 text-sm text-slate-500 dark:text-slate-400">
          {value === 0 ? empty : null}
        </p>
      ) : null}
    </Card>
  );
}

/** What went wrong, in the API's own words, with a retry where one makes sense. */
export function ErrorMessage({ error, retry }: { error: unknown; retry?: () => void }) {
  const message =
    error instanceof ApiError || error instanceof Error ? error.message : String(error);
  return (
    <div
      role="alert"
      className="rounded-md border border-red-300 bg-red-50 p-3 text-sm text-red-900 dark:border-red-800 dark:bg-red-950 dark:text-red-100"
    >
      <p>{message}</p>
      {retry ? (
        <button type="button" onClick={retry} className="mt-2 underline">
          Try again
        </button>
      ) : null}
    </div>
  );
}

/** Nothing to show yet, and what to do about it. */
export function EmptyState({ title, children }: { title: string; children: ReactNode }) {
  return (
    <div className="rounded-lg border border-dashed border-slate-300 p-6 text-center dark:border-slate-700">
      <p className="font-medium">{title}</p>
      <div className="mt-1 text-sm text-slate-600 dark:text-slate-400">{children}</div>
    </div>
  );
}

export function Code({ children }: { children: ReactNode }) {
  return (
    // Its own text colour: inside faint text (hints), the inherited grey on this shade fails contrast.
    <code className="rounded bg-slate-100 px-1 py-0.5 font-mono text-[0.85em] text-slate-800 dark:bg-slate-800 dark:text-slate-100">
      {children}
    </code>
  );
}

/** A job's or phase's progress: a bar when the total is known, the count and rate and ETA. */
export function ProgressBar({
  label,
  done,
  total,
  unit,
  rate,
  etaSeconds,
}: {
  label: string;
  done: number;
  total: number | null;
  unit?: string | null;
  rate?: number | null;
  etaSeconds?: number | null;
}) {
  const known = total !== null && total > 0;
  const percent = known ? Math.min(100, Math.round((done / total) * 100)) : null;
  const parts = [
    known ? `${formatCount(done)} of ${formatCount(total)}` : formatCount(done),
    unit ?? "",
    rate ? `· ${rate.toFixed(rate < 10 ? 1 : 0)}/s` : "",
    etaSeconds !== null && etaSeconds !== undefined ? `· ${formatDuration(etaSeconds)} left` : "",
  ];
  return (
    <div>
      <div
        role="progressbar"
        aria-label={label}
        aria-valuemin={0}
        aria-valuemax={known ? total : undefined}
        aria-valuenow={known ? done : undefined}
        aria-valuetext={parts.join(" ").trim()}
        className="h-2 overflow-hidden rounded bg-slate-200 dark:bg-slate-800"
      >
        <div
          className={`h-full rounded bg-indigo-500 ${percent === null ? "w-1/3 animate-pulse" : ""}`}
          style={percent === null ? undefined : { width: `${percent}%` }}
        />
      </div>
      <p className="mt-1 text-xs tabular-nums text-slate-600 dark:text-slate-400">
        {parts.join(" ").trim()}
      </p>
    </div>
  );
}

export function StatusBadge({ status }: { status: string }) {
  const working = "bg-indigo-100 text-indigo-900 dark:bg-indigo-950 dark:text-indigo-200";
  const good = "bg-emerald-100 text-emerald-900 dark:bg-emerald-950 dark:text-emerald-200";
  const warn = "bg-amber-100 text-amber-900 dark:bg-amber-950 dark:text-amber-200";
  // Jobs' statuses and knowledge sources' (running, embedding, ready, partial …).
  const tone: Record<string, string> = {
    doing: working,
    running: working,
    embedding: working,
    todo: "bg-slate-100 text-slate-800 dark:bg-slate-800 dark:text-slate-200",
    succeeded: good,
    ready: good,
    partial: warn,
    failed: "bg-red-100 text-red-900 dark:bg-red-950 dark:text-red-200",
  };
  return (
    <span
      className={`rounded px-1.5 py-0.5 text-xs font-medium ${tone[status] ?? tone.todo ?? ""}`}
    >
      {status}
    </span>
  );
}
