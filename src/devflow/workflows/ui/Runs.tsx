/** Workflow runs: a project's list (by state) and a run — its phases as lanes with their tasks,
 * approvals waiting for a decision (approve or reject, with a comment), the result, and pause,
 * resume and cancel. Live through `run.*` and `task.*` events.
 *
 * The runs API (src/devflow/workflows/runs/api.py): GET …/runs and …/runs/{n}, POST
 * …/runs/{n}/pause|resume|cancel and …/runs/{n}/approvals/{id}, each answering with the run. */

import { useInfiniteQuery, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Link, Navigate, useParams, useSearchParams } from "react-router-dom";

import {
  api,
  BUTTON,
  Card,
  ConfirmButton,
  EmptyState,
  ErrorMessage,
  formatWhen,
  INPUT,
  Markdown,
  SECONDARY,
  useSession,
  type Page,
} from "@devflow/ui";

import { nextOffset } from "./board";
import { pages, projectPath, runPath, useFollowProject, useWorkflowEvents, workflowsKey } from "./data";
import { TaskBadges } from "./parts";
import { RUN_STATES, type Approval, type Run, type RunPhase, type RunState, type Task } from "./types";

const LINK = "text-indigo-700 underline dark:text-indigo-300";
const RUNS_PAGE = 50;
const ACTIVE: RunState[] = ["pending", "running", "paused", "awaiting_approval"];

const RUN_TONE: Record<RunState, string> = {
  pending: "bg-slate-100 text-slate-800 dark:bg-slate-800 dark:text-slate-200",
  running: "bg-indigo-100 text-indigo-900 dark:bg-indigo-950 dark:text-indigo-200",
  paused: "bg-amber-100 text-amber-900 dark:bg-amber-950 dark:text-amber-200",
  awaiting_approval: "bg-violet-100 text-violet-900 dark:bg-violet-950 dark:text-violet-200",
  succeeded: "bg-emerald-100 text-emerald-900 dark:bg-emerald-950 dark:text-emerald-200",
  failed: "bg-red-100 text-red-900 dark:bg-red-950 dark:text-red-200",
  cancelled: "bg-slate-200 text-slate-800 dark:bg-slate-800 dark:text-slate-200",
};

export function RunStateBadge({ state }: { state: RunState }) {
  return (
    <span className={`rounded px-1.5 py-0.5 text-xs font-medium ${RUN_TONE[state] ?? RUN_TONE.pending}`}>
      {state.replace("_", " ")}
    </span>
  );
}

/** `/runs`: the chosen project's runs, or a choice of project. */
export function RunsHome() {
  const { project, projects } = useSession();
  if (project) return <Navigate to={pages.runs(project)} replace />;
  return (
    <div className="space-y-4">
      <h1 className="text-xl font-semibold">Runs</h1>
      <ul aria-label="Projects' runs" className="list-disc pl-6">
        {projects.map((p) => (
          <li key={p.id}>
            <Link className={LINK} to={pages.runs(p.name)}>
              {p.name}
            </Link>
          </li>
        ))}
      </ul>
    </div>
  );
}

export function RunList() {
  const project = useParams().project ?? "";
  const [params, setParams] = useSearchParams();
  const state = params.get("state") ?? "";
  const runs = useInfiniteQuery({
    queryKey: [...workflowsKey(project), "runs", state],
    queryFn: ({ pageParam, signal }) =>
      api.get<Page<Run>>(`${projectPath(project)}/runs`, { state, offset: pageParam, limit: RUNS_PAGE }, signal),
    initialPageParam: 0,
    getNextPageParam: nextOffset,
  });
  useWorkflowEvents(project, ["run."]);
  useFollowProject(project, pages.runs);
  const items = runs.data?.pages.flatMap((page) => page.items) ?? [];
  return (
    <div className="space-y-4">
      <div className="flex flex-wrap items-baseline gap-x-4">
        <h1 className="text-xl font-semibold">Runs · {project}</h1>
        <Link className={`${LINK} text-sm`} to={pages.board(project)}>
          Board
        </Link>
      </div>
      <label className="text-sm">
        <span className="mr-1">State</span>
        <select
          className="rounded border border-slate-300 bg-white px-1 py-0.5 dark:border-slate-700 dark:bg-slate-900"
          value={state}
          onChange={(event) => {
            const next = new URLSearchParams(params);
            if (event.target.value) next.set("state", event.target.value);
            else next.delete("state");
            setParams(next, { replace: true });
          }}
        >
          <option value="">any</option>
          {RUN_STATES.map((s) => (
            <option key={s} value={s}>
              {s.replace("_", " ")}
            </option>
          ))}
        </select>
      </label>
      {runs.error ? <ErrorMessage error={runs.error} retry={() => void runs.refetch()} /> : null}
      {runs.isSuccess && items.length === 0 ? (
        <EmptyState title="No runs">A run starts a workflow on a goal; its tasks appear on the board.</EmptyState>
      ) : null}
      {items.length ? (
        <table className="w-full text-left text-sm">
          <caption className="sr-only">Runs</caption>
          <thead>
            <tr className="border-b border-slate-200 dark:border-slate-800">
              <th className="py-1 pr-3">Run</th>
              <th className="py-1 pr-3">Workflow</th>
              <th className="py-1 pr-3">Goal</th>
              <th className="py-1 pr-3">State</th>
              <th className="py-1 pr-3">Started</th>
              <th className="py-1">Finished</th>
            </tr>
          </thead>
          <tbody>
            {items.map((run) => (
              <tr key={run.number} className="border-b border-slate-100 dark:border-slate-800">
                <td className="py-1 pr-3">
                  <Link className={LINK} to={pages.run(project, run.number)}>
                    Run {run.number}
                  </Link>
                </td>
                <td className="py-1 pr-3">{run.workflow}</td>
                <td className="max-w-md truncate py-1 pr-3" title={run.goal}>
                  {run.goal}
                </td>
                <td className="py-1 pr-3">
                  <RunStateBadge state={run.state} />
                </td>
                <td className="py-1 pr-3">{formatWhen(run.created_at)}</td>
                <td className="py-1">{formatWhen(run.finished_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {runs.hasNextPage ? (
        <button type="button" className={SECONDARY} onClick={() => void runs.fetchNextPage()}>
          Load more runs
        </button>
      ) : null}
    </div>
  );
}

export function RunView() {
  const params = useParams();
  const project = params.project ?? "";
  const number = Number(params.number);
  const { canWrite } = useSession();
  const client = useQueryClient();
  const run = useQuery({
    queryKey: [...workflowsKey(project), "run", number],
    queryFn: () => api.get<Run>(runPath(project, number)),
  });
  const tasks = useQuery({
    queryKey: [...workflowsKey(project), "run", number, "tasks"],
    queryFn: () => api.get<Page<Task>>(`${projectPath(project)}/tasks`, { run: number, limit: 500 }),
  });
  useWorkflowEvents(project, ["run.", "task."]);
  const [acting, setActing] = useState(false);
  const [error, setError] = useState<unknown>(null);

  async function act(action: "pause" | "resume" | "cancel"): Promise<void> {
    setActing(true);
    setError(null);
    try {
      const changed = await api.post<Run>(`${runPath(project, number)}/${action}`);
      client.setQueryData([...workflowsKey(project), "run", number], changed);
    } catch (caught) {
      setError(caught);
    } finally {
      setActing(false);
      void client.invalidateQueries({ queryKey: workflowsKey(project) });
    }
  }

  if (run.error) return <ErrorMessage error={run.error} retry={() => void run.refetch()} />;
  if (!run.data) return <p className="text-sm text-slate-500">Loading run {number}…</p>;
  const r = run.data;
  // The listing may not filter by run yet: keep this run's tasks only.
  const mine = (tasks.data?.items ?? []).filter((t) => t.run === number);
  const phases = r.phases ?? [];
  const known = new Set(phases.map((p) => p.id));
  const elsewhere = mine.filter((t) => !t.phase || !known.has(t.phase));
  const waiting = (r.approvals ?? []).filter((a) => a.state === "pending");
  const decided = (r.approvals ?? []).filter((a) => a.state !== "pending");
  return (
    <div className="space-y-4">
      <nav aria-label="Breadcrumb" className="text-sm">
        <Link className={LINK} to={pages.runs(project)}>
          Runs · {project}
        </Link>
      </nav>
      <div className="flex flex-wrap items-center gap-3">
        <h1 className="text-xl font-semibold">Run {r.number}</h1>
        <RunStateBadge state={r.state} />
        <span className="text-sm text-slate-600 dark:text-slate-400">
          {r.workflow}
          {r.workflow_version !== null ? ` v${r.workflow_version}` : ""} · started {formatWhen(r.created_at)}
          {r.finished_at ? ` · finished ${formatWhen(r.finished_at)}` : ""}
        </span>
      </div>
      <Markdown text={r.goal} />
      {canWrite && ACTIVE.includes(r.state) ? (
        <div className="flex flex-wrap items-center gap-2">
          {r.state === "paused" ? (
            <button type="button" className={SECONDARY} disabled={acting} onClick={() => void act("resume")}>
              Resume
            </button>
          ) : (
            <button type="button" className={SECONDARY} disabled={acting} onClick={() => void act("pause")}>
              Pause
            </button>
          )}
          <ConfirmButton
            label={`Cancel run ${r.number}`}
            question={`Cancel run ${r.number}?`}
            confirm="Cancel run"
            dismiss="Keep it"
            busy={acting}
            onConfirm={() => void act("cancel")}
          />
        </div>
      ) : null}
      {error ? <ErrorMessage error={error} /> : null}
      {r.outcome ? (
        <p className="text-sm">
          <strong>Outcome:</strong> {r.outcome}
        </p>
      ) : null}
      {waiting.length ? (
        <section aria-label="Approvals waiting" className="space-y-2">
          <h2 className="text-lg font-semibold">Waiting for approval</h2>
          {waiting.map((approval) => (
            <ApprovalForm key={approval.id} project={project} run={r.number} approval={approval} canWrite={canWrite} />
          ))}
        </section>
      ) : null}
      <section aria-label="Phases" className="space-y-2">
        <h2 className="text-lg font-semibold">Phases</h2>
        {tasks.error ? <ErrorMessage error={tasks.error} /> : null}
        <div className="flex gap-3 overflow-x-auto pb-2">
          {phases.map((phase) => (
            <PhaseLane key={phase.id} project={project} phase={phase} tasks={mine.filter((t) => t.phase === phase.id)} />
          ))}
          {elsewhere.length ? (
            <PhaseLane
              project={project}
              phase={{ id: "", name: "No phase", description: "", max_agents: null, approval: false, tasks: {} }}
              tasks={elsewhere}
            />
          ) : null}
        </div>
      </section>
      {r.result ? (
        <Card title="Result">
          <Markdown text={r.result} />
        </Card>
      ) : null}
      {decided.length ? (
        <Card title="Decisions">
          <ul className="space-y-1 text-sm">
            {decided.map((a) => (
              <li key={a.id}>
                <strong>{a.state}</strong> · {approvalSubject(a)}
                {a.decided_by ? ` by ${a.decided_by}` : ""} · {formatWhen(a.decided_at ?? a.requested_at)}
                {a.comment ? ` — ${a.comment}` : ""}
              </li>
            ))}
          </ul>
        </Card>
      ) : null}
    </div>
  );
}

function approvalSubject(approval: Approval): string {
  if (approval.kind === "result") return "the run's result";
  if (approval.kind === "review") return `review of #${approval.task ?? "?"}`;
  return `phase ${approval.phase ?? "?"}`;
}

function PhaseLane({ project, phase, tasks }: { project: string; phase: RunPhase; tasks: Task[] }) {
  const counts = phase.tasks;
  const summary = (["open", "in_progress", "review", "done"] as const)
    .map((s) => `${counts[s] ?? 0} ${s.replace("_", " ")}`)
    .join(" · ");
  return (
    <section
      aria-label={`Phase ${phase.name}`}
      className="w-72 shrink-0 rounded-lg border border-slate-200 bg-slate-50 p-2 dark:border-slate-800 dark:bg-slate-900"
    >
      <h3 className="text-sm font-semibold">
        {phase.name}
        {phase.approval ? <span className="ml-2 text-xs font-normal text-violet-800 dark:text-violet-300">needs approval</span> : null}
      </h3>
      {phase.description ? <p className="text-xs text-slate-600 dark:text-slate-400">{phase.description}</p> : null}
      {phase.id ? <p className="mb-2 text-xs tabular-nums text-slate-600 dark:text-slate-400">{summary}</p> : null}
      <ul className="space-y-2">
        {tasks.map((task) => (
          <li key={task.number} className="rounded-md border border-slate-200 bg-white p-2 text-sm dark:border-slate-800 dark:bg-slate-950">
            <Link className="font-medium hover:underline" to={pages.task(project, task.number)}>
              <span className="tabular-nums text-slate-600 dark:text-slate-400">#{task.number}</span>{" "}
              {task.title}
            </Link>
            <p className="text-xs text-slate-600 dark:text-slate-400">{task.column}</p>
            <TaskBadges task={task} />
          </li>
        ))}
      </ul>
      {tasks.length === 0 ? <p className="text-xs text-slate-600 dark:text-slate-400">No tasks</p> : null}
    </section>
  );
}

function ApprovalForm({
  project,
  run,
  approval,
  canWrite,
}: {
  project: string;
  run: number;
  approval: Approval;
  canWrite: boolean;
}) {
  const client = useQueryClient();
  const [comment, setComment] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const subject = approvalSubject(approval);

  async function decide(decision: "approve" | "reject"): Promise<void> {
    setBusy(true);
    setError(null);
    try {
      const changed = await api.post<Run>(`${runPath(project, run)}/approvals/${approval.id}`, { decision, comment });
      client.setQueryData([...workflowsKey(project), "run", run], changed);
      setComment("");
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
      void client.invalidateQueries({ queryKey: workflowsKey(project) });
    }
  }

  return (
    <form
      aria-label={`Approve ${subject}`}
      className="space-y-2 rounded-lg border border-violet-300 p-3 dark:border-violet-800"
      onSubmit={(event) => event.preventDefault()}
    >
      <p className="text-sm">
        <strong>{subject}</strong> · asked {formatWhen(approval.requested_at)}
        {approval.due_at ? ` · due ${formatWhen(approval.due_at)}` : ""}
        {approval.task !== null ? (
          <>
            {" · "}
            <Link className={LINK} to={pages.task(project, approval.task)}>
              #{approval.task}
            </Link>
          </>
        ) : null}
      </p>
      {canWrite ? (
        <>
          <label className="block text-sm">
            <span className="font-medium">Comment</span>
            <textarea className={INPUT} rows={2} value={comment} onChange={(event) => setComment(event.target.value)} />
          </label>
          {error ? <ErrorMessage error={error} /> : null}
          <div className="flex gap-2">
            <button type="button" className={BUTTON} disabled={busy} onClick={() => void decide("approve")}>
              Approve
            </button>
            <button type="button" className={SECONDARY} disabled={busy} onClick={() => void decide("reject")}>
              Reject
            </button>
          </div>
        </>
      ) : null}
    </form>
  );
}
