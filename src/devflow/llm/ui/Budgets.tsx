/** Monthly budgets with what is spent, held by calls in flight and left; set, changed and
 * removed by the project's admins (the API decides; the page offers only what it would allow). */

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";

import {
  api,
  BUTTON,
  Code,
  ConfirmButton,
  EmptyState,
  ErrorMessage,
  Field,
  INPUT,
  SECONDARY,
  useSession,
  type Page,
} from "@devflow/ui";

import { budgetPath, formatMoney, leftOf, parseLimit } from "./series";
import type { Budget } from "./types";

interface ProjectDetail {
  name: string;
  your_role: string | null;
}

/** Whether the session may set budgets of `project`: an admin token of an instance admin, or
 * a writing token of the project's owner or admin (as `require_project(role=ADMIN)` decides). */
function useManages(project: string): boolean {
  const { session, canWrite } = useSession();
  const instanceAdmin = session.user.is_admin && session.scopes.includes("admin");
  const detail = useQuery({
    queryKey: ["project", project],
    queryFn: () => api.get<ProjectDetail>(`/api/v1/projects/${encodeURIComponent(project)}`),
    enabled: canWrite && !instanceAdmin && project !== "",
  });
  if (!canWrite) return false;
  if (instanceAdmin) return true;
  return detail.data?.your_role === "owner" || detail.data?.your_role === "admin";
}

function useSetBudget(onDone?: (budget: Budget) => void) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: ({ project, workflow, limit }: { project: string; workflow: string | null; limit: string }) =>
      api.request<Budget>("PUT", budgetPath(project, workflow), { body: { monthly_usd: limit } }),
    onSuccess: async (budget) => {
      onDone?.(budget);
      await client.invalidateQueries({ queryKey: ["llm", "budgets"] });
    },
  });
}

function ownerOf(budget: { project: string; workflow: string | null }): string {
  return budget.workflow ? `${budget.project}/${budget.workflow}` : budget.project;
}

function SpendBar({ budget }: { budget: Budget }) {
  const limit = Number(budget.monthly_usd);
  const spent = Number(budget.spent);
  const reserved = Number(budget.reserved);
  const pct = (value: number) => (limit > 0 ? Math.min(100, (value / limit) * 100) : 100);
  const over = limit === 0 || spent >= limit;
  const text = `${formatMoney(spent)} spent${reserved > 0 ? `, ${formatMoney(reserved)} reserved` : ""} of ${formatMoney(limit)} (${Math.round(budget.used_pct)}%)`;
  return (
    <div
      role="progressbar"
      aria-label={`Budget of ${ownerOf(budget)} used`}
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={Math.round(pct(spent))}
      aria-valuetext={text}
      title={text}
      className="flex h-2 w-32 overflow-hidden rounded bg-slate-200 dark:bg-slate-700"
    >
      <div className={over ? "bg-red-600" : budget.used_pct >= 80 ? "bg-amber-500" : "bg-indigo-500"} style={{ width: `${pct(spent)}%` }} />
      <div className="bg-indigo-300 dark:bg-indigo-700" style={{ width: `${Math.max(0, pct(spent + reserved) - pct(spent))}%` }} />
    </div>
  );
}

function ChangeLimit({ budget, onClose }: { budget: Budget; onClose: () => void }) {
  const [text, setText] = useState(budget.monthly_usd);
  const [problem, setProblem] = useState<string | null>(null);
  const change = useSetBudget(onClose);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const parsed = parseLimit(text);
    if ("error" in parsed) {
      setProblem(parsed.error);
      return;
    }
    setProblem(null);
    change.mutate({ project: budget.project, workflow: budget.workflow, limit: parsed.value });
  };
  return (
    <form onSubmit={submit} className="flex flex-wrap items-center gap-2">
      <label className="text-sm">
        <span className="sr-only">New monthly limit of {ownerOf(budget)}, in USD</span>
        <input
          className={`${INPUT} w-28`}
          inputMode="decimal"
          autoFocus
          value={text}
          onChange={(e) => setText(e.target.value)}
          aria-invalid={problem !== null}
        />
      </label>
      <button type="submit" className={BUTTON} disabled={change.isPending}>
        Save
      </button>
      <button type="button" className={SECONDARY} onClick={onClose}>
        Cancel
      </button>
      {problem ? <ErrorMessage error={problem} /> : null}
      {change.error ? <ErrorMessage error={change.error} /> : null}
    </form>
  );
}

function BudgetRow({ budget }: { budget: Budget }) {
  const client = useQueryClient();
  const manages = useManages(budget.project);
  const [editing, setEditing] = useState(false);
  const remove = useMutation({
    mutationFn: () => api.delete<undefined>(budgetPath(budget.project, budget.workflow)),
    onSuccess: () => client.invalidateQueries({ queryKey: ["llm", "budgets"] }),
  });
  const owner = ownerOf(budget);
  return (
    <tr className="align-top">
      <th scope="row" className="py-2 pr-3 text-left font-normal">
        <span className="font-medium">{budget.project}</span>
        {budget.workflow ? (
          <span className="block text-xs text-slate-600 dark:text-slate-400">workflow {budget.workflow}</span>
        ) : (
          <span className="block text-xs text-slate-600 dark:text-slate-400">whole project</span>
        )}
      </th>
      <td className="py-2 pr-3 tabular-nums">
        {editing ? <ChangeLimit budget={budget} onClose={() => setEditing(false)} /> : formatMoney(budget.monthly_usd)}
      </td>
      <td className="py-2 pr-3 tabular-nums">{formatMoney(budget.spent)}</td>
      <td className="py-2 pr-3 tabular-nums">{formatMoney(budget.reserved)}</td>
      <td className="py-2 pr-3 font-medium tabular-nums">{formatMoney(leftOf(budget))}</td>
      <td className="py-2 pr-3">
        <SpendBar budget={budget} />
        <span className="text-xs tabular-nums text-slate-600 dark:text-slate-400">{Math.round(budget.used_pct)}% · {budget.period}</span>
      </td>
      <td className="py-2 pr-3 text-xs">
        {budget.source === "api" ? "set here" : "settings"}
      </td>
      <td className="py-2">
        {manages && !editing ? (
          <span className="flex flex-wrap gap-2">
            <button type="button" className={SECONDARY} aria-label={`Change the budget of ${owner}`} onClick={() => setEditing(true)}>
              {budget.source === "api" ? "Change" : "Override"}
            </button>
            {budget.source === "api" ? (
              <ConfirmButton
                label={`Remove the budget of ${owner}`}
                question={`Remove the budget of ${owner}? Its spending history is kept.`}
                confirm="Remove"
                busy={remove.isPending}
                onConfirm={() => remove.mutate()}
              />
            ) : null}
          </span>
        ) : null}
        {remove.error ? <ErrorMessage error={remove.error} /> : null}
      </td>
    </tr>
  );
}

function SetBudget() {
  const { projects, project: current, session } = useSession();
  const [project, setProject] = useState(current ?? session.project ?? projects[0]?.name ?? "");
  const [workflow, setWorkflow] = useState("");
  const [limit, setLimit] = useState("");
  const [problem, setProblem] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const set = useSetBudget((budget) => {
    setDone(`The budget of ${ownerOf(budget)} is now ${formatMoney(budget.monthly_usd)} a month.`);
    setLimit("");
    setWorkflow("");
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    setDone(null);
    const parsed = parseLimit(limit);
    if ("error" in parsed) {
      setProblem(parsed.error);
      return;
    }
    setProblem(null);
    set.mutate({ project, workflow: workflow.trim() || null, limit: parsed.value });
  };
  return (
    <form onSubmit={submit} aria-labelledby="set-budget" className="space-y-3 rounded-md border border-slate-200 p-3 dark:border-slate-700">
      <h3 id="set-budget" className="text-sm font-semibold">
        Set a monthly budget
      </h3>
      <div className="grid gap-3 sm:grid-cols-[1fr_1fr_1fr_auto] sm:items-start">
        <Field label="Project">
          <select className={INPUT} value={project} required onChange={(e) => setProject(e.target.value)}>
            {projects.map((p) => (
              <option key={p.id} value={p.name}>
                {p.name}
              </option>
            ))}
          </select>
        </Field>
        <Field label="Workflow" hint="Leave empty for the whole project.">
          <input className={INPUT} maxLength={200} value={workflow} onChange={(e) => setWorkflow(e.target.value)} />
        </Field>
        <Field label="Monthly limit (USD)" hint="0 stops every priced call.">
          <input
            className={INPUT}
            inputMode="decimal"
            required
            value={limit}
            onChange={(e) => setLimit(e.target.value)}
            aria-invalid={problem !== null}
          />
        </Field>
        <button type="submit" className={`${BUTTON} sm:mt-6`} disabled={set.isPending || project === ""}>
          {set.isPending ? "Saving…" : "Set budget"}
        </button>
      </div>
      <p className="text-xs text-slate-600 dark:text-slate-400">
        Project owners and admins set budgets; running clients apply a change within seconds. A budget set here replaces
        one from settings for the same project or workflow.
      </p>
      {problem ? <ErrorMessage error={problem} /> : null}
      {set.error ? <ErrorMessage error={set.error} /> : null}
      {done ? (
        <p role="status" className="text-sm text-emerald-800 dark:text-emerald-300">
          {done}
        </p>
      ) : null}
    </form>
  );
}

export const budgetsKey = (project: string | null) => ["llm", "budgets", project] as const;

export function Budgets() {
  const { project, canWrite } = useSession();
  const budgets = useQuery({
    queryKey: budgetsKey(project),
    queryFn: ({ signal }) => api.get<Page<Budget>>("/api/v1/llm/budgets", { project }, signal),
  });
  const items = budgets.data?.items ?? [];
  return (
    <section aria-labelledby="llm-budgets" className="space-y-3 rounded-lg border border-slate-200 bg-white p-4 dark:border-slate-800 dark:bg-slate-900">
      <h2 id="llm-budgets" className="text-lg font-semibold">
        Budgets this month
      </h2>
      {budgets.error ? <ErrorMessage error={budgets.error} retry={() => void budgets.refetch()} /> : null}
      {budgets.isPending ? <p className="text-sm text-slate-600 dark:text-slate-400">Loading budgets…</p> : null}
      {budgets.data && items.length === 0 ? (
        <EmptyState title="No budgets: LLM spending has no limit">
          {canWrite ? "Set one below, or " : "A project admin can set one here, or "}
          run <Code>devflow llm budget set web 25</Code>. Calls that would cross a budget are refused.
        </EmptyState>
      ) : null}
      {items.length > 0 ? (
        <div className="overflow-x-auto">
          <table className="w-full text-left text-sm">
            <caption className="sr-only">Monthly LLM budgets with this month&apos;s spending</caption>
            <thead className="text-xs uppercase text-slate-600 dark:text-slate-400">
              <tr>
                <th scope="col" className="py-1 pr-3 font-medium">Budget of</th>
                <th scope="col" className="py-1 pr-3 font-medium">Monthly limit</th>
                <th scope="col" className="py-1 pr-3 font-medium">Spent</th>
                <th scope="col" className="py-1 pr-3 font-medium">Reserved</th>
                <th scope="col" className="py-1 pr-3 font-medium">Left</th>
                <th scope="col" className="py-1 pr-3 font-medium">Used</th>
                <th scope="col" className="py-1 pr-3 font-medium">Source</th>
                <th scope="col" className="py-1 font-medium">Actions</th>
              </tr>
            </thead>
            <tbody className="divide-y divide-slate-200 dark:divide-slate-800">
              {items.map((b) => (
                <BudgetRow key={`${b.project}/${b.workflow ?? ""}`} budget={b} />
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      {canWrite ? <SetBudget key={project ?? ""} /> : null}
    </section>
  );
}
