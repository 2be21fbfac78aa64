import { useSearchParams } from "react-router-dom";

import { Code, EmptyState, ErrorMessage } from "../lib/components";
import { JobRow } from "./JobRow";
import { useJobs, type JobFilter } from "./jobs";

const STATUSES = ["", "todo", "doing", "succeeded", "failed", "cancelled", "aborting", "aborted"];

export function Jobs() {
  const [params, setParams] = useSearchParams();
  const filter: JobFilter = {};
  const status = params.get("status");
  const task = params.get("task");
  if (status) filter.status = status;
  if (task) filter.task = task;
  const jobs = useJobs(filter);

  function update(key: string, value: string): void {
    const next = new URLSearchParams(params);
    if (value) next.set(key, value);
    else next.delete(key);
    setParams(next, { replace: true });
  }

  return (
    <div className="space-y-4">
      <h1 className="text-xl font-semibold">Jobs</h1>
      <form className="flex flex-wrap gap-4 text-sm" onSubmit={(event) => event.preventDefault()}>
        <label>
          <span className="mr-1">Status</span>
          <select
            value={status ?? ""}
            onChange={(event) => update("status", event.target.value)}
            className="rounded border border-slate-300 bg-white px-1 py-0.5 dark:border-slate-700 dark:bg-slate-900"
          >
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s || "any"}
              </option>
            ))}
          </select>
        </label>
        <label>
          <span className="mr-1">Task</span>
          <input
            type="search"
            placeholder="knowledge:*"
            defaultValue={task ?? ""}
            onChange={(event) => update("task", event.target.value.trim())}
            className="rounded border border-slate-300 bg-white px-1 py-0.5 font-mono dark:border-slate-700 dark:bg-slate-900"
          />
        </label>
      </form>
      {jobs.error ? <ErrorMessage error={jobs.error} retry={() => void jobs.refetch()} /> : null}
      {jobs.isSuccess && jobs.items.length === 0 ? (
        <EmptyState title="No jobs match">
          Jobs appear when DevFlow works in the background: add a knowledge source (
          <Code>devflow knowledge add ./docs</Code>) or run a registry clean-up. Clear the filters
          to see every job.
        </EmptyState>
      ) : null}
      {jobs.items.length > 0 ? (
        <table className="w-full text-left text-sm">
          <caption className="sr-only">Jobs, newest first</caption>
          <thead className="text-xs uppercase text-slate-500 dark:text-slate-400">
            <tr>
              <th scope="col" className="py-1 pr-3">Id</th>
              <th scope="col" className="py-1 pr-3">Task</th>
              <th scope="col" className="py-1 pr-3">Status</th>
              <th scope="col" className="py-1 pr-3">Progress</th>
              <th scope="col" className="py-1 pr-3">Attempts</th>
              <th scope="col" className="py-1 pr-3">Updated</th>
              <th scope="col" className="py-1">Actions</th>
            </tr>
          </thead>
          <tbody>
            {jobs.items.map((job) => (
              <JobRow key={job.id} job={job} />
            ))}
          </tbody>
        </table>
      ) : null}
    </div>
  );
}
