import { formatWhen } from "../lib/format";
import { ProgressBar, StatusBadge } from "../lib/components";
import type { Job } from "../lib/types";

export function JobProgress({ job }: { job: Job }) {
  return (
    <ProgressBar
      label={`Job ${job.id} (${job.task})${job.phase ? `, ${job.phase}` : ""}`}
      done={job.done}
      total={job.total}
      unit={job.phase ? `${job.unit ?? ""} (${job.phase})` : job.unit}
      rate={job.rate}
      etaSeconds={job.eta_seconds}
    />
  );
}

export function JobRow({ job }: { job: Job }) {
  return (
    <tr className="border-t border-slate-200 align-top dark:border-slate-800">
      <td className="py-2 pr-3 tabular-nums">{job.id}</td>
      <td className="py-2 pr-3 font-mono text-xs">{job.task}</td>
      <td className="py-2 pr-3">
        <StatusBadge status={job.status} />
      </td>
      <td className="w-2/5 py-2 pr-3">
        {job.status === "doing" ? <JobProgress job={job} /> : null}
        <p className="text-xs text-slate-600 dark:text-slate-400">{job.message}</p>
        {job.error ? (
          <pre className="mt-1 whitespace-pre-wrap break-words text-xs text-red-700 dark:text-red-300">
            {job.error}
          </pre>
        ) : null}
      </td>
      <td className="py-2 pr-3 tabular-nums">{job.attempts}</td>
      <td className="py-2 text-xs">{formatWhen(job.updated_at)}</td>
    </tr>
  );
}
