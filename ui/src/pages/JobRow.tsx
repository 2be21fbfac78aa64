import { formatWhen } from "../lib/format";
import { ConfirmButton, SECONDARY } from "../lib/confirm";
import { ErrorMessage, ProgressBar, StatusBadge } from "../lib/components";
import type { Job } from "../lib/types";
import { useJobAction } from "./jobs";

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

/** Retry and cancel, as the API allows them to this session for this job; a refusal shows the
 * API's message (it stays when the job's actions change meanwhile). */
function JobActions({ job }: { job: Job }) {
  const action = useJobAction(job.id);
  const busy = action.isPending;
  return (
    <div className="space-y-2">
      <div className="flex flex-wrap gap-2">
        {job.actions.includes("retry") ? (
          <button
            type="button"
            className={SECONDARY}
            disabled={busy}
            aria-label={`Retry job ${job.id}`}
            onClick={() => action.mutate("retry")}
          >
            Retry
          </button>
        ) : null}
        {job.actions.includes("cancel") ? (
          <ConfirmButton
            label={`Cancel job ${job.id}`}
            question={`Cancel job ${job.id}${job.status === "doing" ? " while it runs" : ""}?`}
            confirm="Cancel job"
            dismiss="Keep it"
            busy={busy}
            onConfirm={() => action.mutate("cancel")}
          />
        ) : null}
      </div>
      {action.error ? <ErrorMessage error={action.error} /> : null}
    </div>
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
      <td className="py-2 pr-3 text-xs">{formatWhen(job.updated_at)}</td>
      <td className="py-2">
        <JobActions job={job} />
      </td>
    </tr>
  );
}
