/** A new task from the board: a title, its column and priority; the rest on its own page. */

import { useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Link } from "react-router-dom";

import { api, BUTTON, ErrorMessage, INPUT, SECONDARY } from "@devflow/ui";

import { pages, projectPath, workflowsKey } from "./data";
import { PRIORITIES, type Column, type Priority, type TaskDetail } from "./types";

export function NewTask({ project, columns }: { project: string; columns: Column[] }) {
  const client = useQueryClient();
  const [open, setOpen] = useState(false);
  const [title, setTitle] = useState("");
  const [column, setColumn] = useState("");
  const [priority, setPriority] = useState<Priority>("medium");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [made, setMade] = useState<TaskDetail | null>(null);

  async function create(): Promise<void> {
    setBusy(true);
    setError(null);
    try {
      const task = await api.post<TaskDetail>(`${projectPath(project)}/tasks`, {
        title,
        priority,
        ...(column ? { column } : {}),
      });
      setMade(task);
      setTitle("");
      void client.invalidateQueries({ queryKey: workflowsKey(project) });
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="space-y-2">
      <div className="flex flex-wrap items-center gap-3">
        <button type="button" className={SECONDARY} aria-expanded={open} onClick={() => setOpen(!open)}>
          New task
        </button>
        {made ? (
          <p role="status" className="text-sm">
            Created{" "}
            <Link className="text-indigo-700 underline dark:text-indigo-300" to={pages.task(project, made.number)}>
              #{made.number} {made.title}
            </Link>{" "}
            in {made.column}.
          </p>
        ) : null}
      </div>
      {open ? (
        <form
          aria-label="New task"
          className="flex flex-wrap items-end gap-3 rounded-lg border border-slate-200 p-3 dark:border-slate-800"
          onSubmit={(event) => {
            event.preventDefault();
            if (title.trim()) void create();
          }}
        >
          <label className="min-w-64 flex-1 text-sm">
            <span className="block font-medium">Title</span>
            <input className={INPUT} value={title} onChange={(event) => setTitle(event.target.value)} maxLength={200} required />
          </label>
          <label className="text-sm">
            <span className="block font-medium">Column</span>
            <select className={INPUT} value={column} onChange={(event) => setColumn(event.target.value)}>
              <option value="">the first open one</option>
              {columns.map((c) => (
                <option key={c.id} value={c.name}>
                  {c.name}
                </option>
              ))}
            </select>
          </label>
          <label className="text-sm">
            <span className="block font-medium">Priority</span>
            <select className={INPUT} value={priority} onChange={(event) => setPriority(event.target.value as Priority)}>
              {PRIORITIES.map((p) => (
                <option key={p}>{p}</option>
              ))}
            </select>
          </label>
          <button type="submit" className={BUTTON} disabled={busy || !title.trim()}>
            {busy ? "Creating…" : "Create"}
          </button>
          {error ? (
            <div className="basis-full">
              <ErrorMessage error={error} />
            </div>
          ) : null}
        </form>
      ) : null}
    </div>
  );
}
