/** A task: its title, Markdown text and done definition (the shell's sanitized `Markdown`), its
 * fields, blockers and sub-tasks as links, run and phase, comments (add one), history, and an
 * edit form that sends the version it was opened at: when someone changed the task meanwhile,
 * the API's 409 is shown with the current version and an offer to reload. Live through
 * `task.*` events. */

import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type ReactNode } from "react";
import { Link, useParams } from "react-router-dom";

import {
  api,
  ApiError,
  BUTTON,
  Card,
  ErrorMessage,
  Field,
  formatWhen,
  INPUT,
  Markdown,
  safeHref,
  SECONDARY,
  useSession,
  type Page,
} from "@devflow/ui";

import { pages, taskPath, useWorkflowEvents, workflowsKey } from "./data";
import { changes, draftOf, shown, type Draft } from "./edit";
import { GATE_TEXT, PriorityBadge } from "./parts";
import { PRIORITIES, TASK_TYPES, type Change, type Comment, type TaskDetail } from "./types";

const LINK = "text-indigo-700 underline dark:text-indigo-300";

export function TaskView() {
  const params = useParams();
  const project = params.project ?? "";
  const number = Number(params.number);
  const { canWrite } = useSession();
  const key = [...workflowsKey(project), "task", number];
  const task = useQuery({
    queryKey: key,
    queryFn: () => api.get<TaskDetail>(taskPath(project, number)),
  });
  useWorkflowEvents(project, ["task."]);
  const [editing, setEditing] = useState<TaskDetail | null>(null);

  if (task.error) return <ErrorMessage error={task.error} retry={() => void task.refetch()} />;
  if (!task.data) return <p className="text-sm text-slate-500">Loading task #{number}…</p>;
  const t = task.data;
  return (
    <div className="space-y-4">
      <nav aria-label="Breadcrumb" className="text-sm">
        <Link className={LINK} to={pages.board(project)}>
          Board · {project}
        </Link>
        {t.run !== null ? (
          <>
            {" · "}
            <Link className={LINK} to={pages.run(project, t.run)}>
              Run {t.run}
            </Link>
          </>
        ) : null}
      </nav>
      <div className="flex flex-wrap items-start justify-between gap-2">
        <h1 className="text-xl font-semibold">
          <span className="tabular-nums text-slate-600 dark:text-slate-400">#{t.number}</span>{" "}
          {t.title}
        </h1>
        {canWrite && !editing ? (
          <button type="button" className={SECONDARY} onClick={() => setEditing(t)}>
            Edit
          </button>
        ) : null}
      </div>
      {editing ? (
        <EditTask
          project={project}
          base={editing}
          latest={t}
          onDone={() => setEditing(null)}
          onRebase={(fresh) => setEditing(fresh)}
        />
      ) : null}
      <div className="grid gap-4 md:grid-cols-3">
        <div className="space-y-4 md:col-span-2">
          <Card title="Description">
            {t.body ? <Markdown text={t.body} /> : <p className="text-sm text-slate-600 dark:text-slate-400">No description.</p>}
          </Card>
          <Card title="Done when">
            {t.done_definition ? (
              <Markdown text={t.done_definition} />
            ) : (
              <p className="text-sm text-slate-600 dark:text-slate-400">No done definition.</p>
            )}
          </Card>
          <Comments project={project} task={t} canWrite={canWrite} />
          <History project={project} number={number} version={t.version} />
        </div>
        <Card title="Fields">
          <Fields project={project} task={t} />
        </Card>
      </div>
    </div>
  );
}

function TaskLinks({ project, numbers }: { project: string; numbers: number[] }) {
  if (numbers.length === 0) return <>—</>;
  return (
    <span className="flex flex-wrap gap-2">
      {numbers.map((n) => (
        <Link key={n} className={LINK} to={pages.task(project, n)}>
          #{n}
        </Link>
      ))}
    </span>
  );
}

function Fields({ project, task }: { project: string; task: TaskDetail }) {
  const rows: [string, ReactNode][] = [
    ["Column", `${task.column} (${task.state.replace("_", " ")})`],
    ["Priority", <PriorityBadge key="p" priority={task.priority} />],
    ["Type", task.type],
    ["Labels", task.labels.length ? task.labels.join(", ") : "—"],
    ["Assignee", task.assignee ? `${task.assignee}${task.assignee_kind && task.assignee_kind !== "user" ? ` (${task.assignee_kind})` : ""}` : "—"],
    ["Milestone", task.milestone ?? "—"],
    ["Run", task.run !== null ? <Link key="r" className={LINK} to={pages.run(project, task.run)}>Run {task.run}</Link> : "—"],
    ["Phase", task.phase ?? "—"],
    ["Gate", task.gate ? GATE_TEXT[task.gate] : "—"],
    ["Blocked by", <span key="b" className="inline-flex items-center gap-2"><TaskLinks project={project} numbers={task.blocked_by} />{task.blocked ? <strong className="text-red-700 dark:text-red-300">blocked</strong> : null}</span>],
    ["Parent", task.parent !== null ? <TaskLinks key="pa" project={project} numbers={[task.parent]} /> : "—"],
    ["Sub-tasks", <TaskLinks key="c" project={project} numbers={task.children} />],
    ["Created", `${formatWhen(task.created_at)}${task.created_by ? ` by ${task.created_by}` : ""}`],
    ["Updated", formatWhen(task.updated_at)],
    ["Closed", formatWhen(task.closed_at)],
    ["Version", String(task.version)],
  ];
  return (
    <>
      <dl aria-label="Fields" className="grid grid-cols-[auto_1fr] gap-x-3 gap-y-1 text-sm">
        {rows.map(([name, value]) => (
          <div key={name} className="contents">
            <dt className="font-medium text-slate-600 dark:text-slate-400">{name}</dt>
            <dd>{value}</dd>
          </div>
        ))}
      </dl>
      {task.links.length ? (
        <ul aria-label="Links" className="mt-3 space-y-1 text-sm">
          {task.links.map((link) => {
            const href = link.kind === "url" || link.kind === "pull_request" ? safeHref(link.ref) : null;
            const text = link.title || link.ref;
            return (
              <li key={`${link.kind}:${link.ref}`}>
                <span className="mr-1 text-xs text-slate-600 dark:text-slate-400">{link.kind.replace("_", " ")}</span>
                {href ? (
                  <a className={LINK} href={href} rel="noopener noreferrer nofollow" target="_blank">
                    {text}
                  </a>
                ) : (
                  <code className="break-all">{text}</code>
                )}
              </li>
            );
          })}
        </ul>
      ) : null}
    </>
  );
}

function EditTask({
  project,
  base,
  latest,
  onDone,
  onRebase,
}: {
  project: string;
  base: TaskDetail;
  latest: TaskDetail;
  onDone: () => void;
  onRebase: (fresh: TaskDetail) => void;
}) {
  const client = useQueryClient();
  const [draft, setDraft] = useState<Draft>(() => draftOf(base));
  const [error, setError] = useState<ApiError | Error | null>(null);
  const [busy, setBusy] = useState(false);
  const set = (key: keyof Draft) => (event: { target: { value: string } }) =>
    setDraft({ ...draft, [key]: event.target.value });

  async function save(): Promise<void> {
    let body: Record<string, unknown>;
    try {
      body = changes(base, draft);
    } catch (caught) {
      setError(caught instanceof Error ? caught : new Error(String(caught)));
      return;
    }
    if (Object.keys(body).length === 0) {
      onDone();
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const saved = await api.request<TaskDetail>("PATCH", taskPath(project, base.number), {
        body: { version: base.version, ...body },
      });
      client.setQueryData([...workflowsKey(project), "task", base.number], saved);
      void client.invalidateQueries({ queryKey: workflowsKey(project) });
      onDone();
    } catch (caught) {
      setError(caught instanceof Error ? caught : new Error(String(caught)));
    } finally {
      setBusy(false);
    }
  }

  async function reload(): Promise<void> {
    const fresh = await client.fetchQuery({
      queryKey: [...workflowsKey(project), "task", base.number],
      queryFn: () => api.get<TaskDetail>(taskPath(project, base.number)),
      staleTime: 0,
    });
    setError(null);
    setDraft(draftOf(fresh));
    onRebase(fresh);
  }

  const stale = error instanceof ApiError && error.status === 409 && typeof error.details.current_version === "number";
  return (
    <form
      aria-label={`Edit #${base.number}`}
      className="space-y-3 rounded-lg border border-slate-200 p-4 dark:border-slate-800"
      onSubmit={(event) => {
        event.preventDefault();
        void save();
      }}
    >
      {latest.version !== base.version && !error ? (
        <p role="status" className="text-sm text-amber-800 dark:text-amber-200">
          Someone changed this task while you edit it (version {latest.version}; you started from
          version {base.version}). Saving will be refused; reload to edit the current version.
        </p>
      ) : null}
      <Field label="Title">
        <input className={INPUT} value={draft.title} onChange={set("title")} required maxLength={200} />
      </Field>
      <div className="grid gap-3 sm:grid-cols-2">
        <Field label="Type">
          <select className={INPUT} value={draft.type} onChange={set("type")}>
            {TASK_TYPES.map((t) => (
              <option key={t}>{t}</option>
            ))}
          </select>
        </Field>
        <Field label="Priority">
          <select className={INPUT} value={draft.priority} onChange={set("priority")}>
            {PRIORITIES.map((p) => (
              <option key={p}>{p}</option>
            ))}
          </select>
        </Field>
        <Field label="Labels" hint="Separated by commas.">
          <input className={INPUT} value={draft.labels} onChange={set("labels")} />
        </Field>
        <Field label="Assignee" hint="A member's user name; empty unassigns.">
          <input className={INPUT} value={draft.assignee} onChange={set("assignee")} />
        </Field>
        <Field label="Milestone">
          <input className={INPUT} value={draft.milestone} onChange={set("milestone")} />
        </Field>
        <Field label="Blocked by" hint="Task numbers: #3, #7.">
          <input className={INPUT} value={draft.blocked_by} onChange={set("blocked_by")} />
        </Field>
        <Field label="Parent" hint="A task number; empty: none.">
          <input className={INPUT} value={draft.parent} onChange={set("parent")} />
        </Field>
      </div>
      <Field label="Description" hint="Markdown.">
        <textarea className={`${INPUT} font-mono`} rows={8} value={draft.body} onChange={set("body")} />
      </Field>
      <Field label="Done definition" hint="Markdown.">
        <textarea className={`${INPUT} font-mono`} rows={4} value={draft.done_definition} onChange={set("done_definition")} />
      </Field>
      {error ? (
        <div className="space-y-2">
          <ErrorMessage error={error} />
          {stale ? (
            <p className="text-sm">
              The task is at version {String(error.details.current_version)} now; you edited version{" "}
              {base.version}.{" "}
              <button type="button" className={SECONDARY} onClick={() => void reload()}>
                Reload the task (drops your changes)
              </button>
            </p>
          ) : null}
        </div>
      ) : null}
      <div className="flex gap-2">
        <button type="submit" className={BUTTON} disabled={busy}>
          {busy ? "Saving…" : "Save"}
        </button>
        <button type="button" className={SECONDARY} onClick={onDone}>
          Cancel
        </button>
      </div>
    </form>
  );
}

function Comments({ project, task, canWrite }: { project: string; task: TaskDetail; canWrite: boolean }) {
  const client = useQueryClient();
  const key = [...workflowsKey(project), "task", task.number, "comments"];
  const comments = useQuery({
    queryKey: key,
    queryFn: () => api.get<Page<Comment>>(`${taskPath(project, task.number)}/comments`, { limit: 200 }),
  });
  const [text, setText] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  async function add(): Promise<void> {
    setBusy(true);
    setError(null);
    try {
      await api.post<Comment>(`${taskPath(project, task.number)}/comments`, { body: text });
      setText("");
      await client.invalidateQueries({ queryKey: key });
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  }

  const items = comments.data?.items ?? [];
  const total = comments.data?.total ?? 0;
  return (
    <Card title={`Comments (${total})`}>
      {comments.error ? <ErrorMessage error={comments.error} /> : null}
      {items.length ? (
        <ol aria-label="Comments" className="space-y-3">
          {items.map((comment) => (
            <li key={comment.id} className="border-l-2 border-slate-200 pl-3 dark:border-slate-700">
              <p className="text-xs text-slate-600 dark:text-slate-400">
                {comment.author ?? "someone"} · {formatWhen(comment.created_at)}
              </p>
              <Markdown text={comment.body} />
            </li>
          ))}
        </ol>
      ) : comments.isSuccess ? (
        <p className="text-sm text-slate-600 dark:text-slate-400">No comments yet.</p>
      ) : null}
      {total > items.length ? (
        <p className="mt-2 text-xs text-slate-600 dark:text-slate-400">
          The first {items.length} of {total} are shown.
        </p>
      ) : null}
      {canWrite ? (
        <form
          className="mt-3 space-y-2"
          onSubmit={(event) => {
            event.preventDefault();
            if (text.trim()) void add();
          }}
        >
          <Field label="Add a comment" hint="Markdown.">
            <textarea className={INPUT} rows={3} value={text} onChange={(event) => setText(event.target.value)} maxLength={20_000} />
          </Field>
          {error ? <ErrorMessage error={error} /> : null}
          <button type="submit" className={BUTTON} disabled={busy || !text.trim()}>
            {busy ? "Adding…" : "Comment"}
          </button>
        </form>
      ) : null}
    </Card>
  );
}

function History({ project, number, version }: { project: string; number: number; version: number }) {
  const history = useQuery({
    // The version in the key: every change of the task reads its history again.
    queryKey: [...workflowsKey(project), "task", number, "history", version],
    queryFn: () => api.get<Page<Change>>(`${taskPath(project, number)}/history`, { limit: 200 }),
  });
  const items = history.data?.items ?? [];
  return (
    <Card title="History">
      {history.error ? <ErrorMessage error={history.error} /> : null}
      {items.length ? (
        <ol aria-label="History" className="space-y-1 text-sm">
          {items.map((change) => (
            <li key={change.id}>
              <span className="text-xs text-slate-600 dark:text-slate-400">{formatWhen(change.at)}</span>{" "}
              <strong>{change.actor ?? "DevFlow"}</strong>{" "}
              {change.field === "created" ? "created it" : <>changed <em>{change.field.replace("_", " ")}</em></>}{" "}
              {["created", "body", "done_definition"].includes(change.field) ? null : (
                <>
                  from <span className="break-all">{shown(change.old)}</span> to{" "}
                  <span className="break-all">{shown(change.new)}</span>
                </>
              )}
              {change.note ? <span className="text-slate-600 dark:text-slate-400"> ({change.note})</span> : null}
            </li>
          ))}
        </ol>
      ) : history.isSuccess ? (
        <p className="text-sm text-slate-600 dark:text-slate-400">No changes since it was created.</p>
      ) : null}
    </Card>
  );
}
