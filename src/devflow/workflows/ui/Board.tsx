/** A project's board: its columns in order with counts and WIP limits, cards moved by drag and
 * drop (native HTML5: no library; a drop only needs an index, and the keyboard gets buttons of
 * its own) or from the keyboard, filters in the address, live through `task.*` and `board.*`
 * events, and "load more" per column.
 *
 * A move is shown at once and sent with the version the card was read at; a refusal (a stale
 * version, a WIP limit) puts every card back and shows the server's message. */

import { useInfiniteQuery, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState, type DragEvent, type KeyboardEvent } from "react";
import { Link, Navigate, useParams, useSearchParams } from "react-router-dom";

import { api, ApiError, EmptyState, ErrorMessage, SECONDARY, useSession, type Page } from "@devflow/ui";

import {
  dropIndex,
  filterFrom,
  flatten,
  hasFilter,
  keeps,
  listingQuery,
  nextOffset,
  PAGE,
  placement,
  withoutTask,
  withTaskAt,
  type BoardFilter,
  type FilterKey,
  type Pages,
} from "./board";
import { pages, projectPath, taskPath, useFollowProject, useWorkflowEvents, workflowsKey } from "./data";
import { Filters } from "./Filters";
import { NewTask } from "./NewTask";
import { TaskBadges } from "./parts";
import type { Board as BoardData, Column, Task, TaskDetail } from "./types";

const DRAG_TYPE = "application/x-devflow-task";

function columnKey(project: string, column: string, filter: BoardFilter): unknown[] {
  return [...workflowsKey(project), "column", column, filter];
}

/** `/board`: the chosen project's board, or a choice of project. */
export function BoardHome() {
  const { project, projects } = useSession();
  if (project) return <Navigate to={pages.board(project)} replace />;
  return (
    <div className="space-y-4">
      <h1 className="text-xl font-semibold">Boards</h1>
      {projects.length === 0 ? (
        <EmptyState title="No project yet">Create one on the Projects page; its board comes with it.</EmptyState>
      ) : (
        <ul aria-label="Projects' boards" className="list-disc pl-6">
          {projects.map((p) => (
            <li key={p.id}>
              <Link className="text-indigo-700 underline dark:text-indigo-300" to={pages.board(p.name)}>
                {p.name}
              </Link>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

interface Dragging {
  task: Task;
  from: string;
}

interface Moved {
  number: number;
  text: string;
  error: boolean;
}

export function BoardPage() {
  const project = useParams().project ?? "";
  const [params, setParams] = useSearchParams();
  const filter = filterFrom(params);
  const { canWrite } = useSession();
  const client = useQueryClient();
  const board = useQuery({
    queryKey: [...workflowsKey(project), "board"],
    // The columns and their counts; each column reads its own cards (filtered, paged).
    queryFn: () => api.get<BoardData>(`${projectPath(project)}/board`, { limit: 1 }),
  });
  useWorkflowEvents(project, ["task.", "board."]);
  useFollowProject(project, pages.board);
  const [dragging, setDragging] = useState<Dragging | null>(null);
  const [moved, setMoved] = useState<Moved | null>(null);
  const [focus, setFocus] = useState<number | null>(null);
  const columns = board.data?.columns ?? [];

  function setFilter(key: FilterKey, value: string): void {
    const next = new URLSearchParams(params);
    if (value.trim()) next.set(key, value.trim());
    else next.delete(key);
    setParams(next, { replace: true });
  }

  async function move(task: Task, from: string, to: string, index: number): Promise<void> {
    const fromKey = columnKey(project, from, filter);
    const toKey = columnKey(project, to, filter);
    const current = flatten(client.getQueryData<Pages>(fromKey));
    const target = flatten(client.getQueryData<Pages>(toKey)).filter((t) => t.number !== task.number);
    if (from === to && current.findIndex((t) => t.number === task.number) === index) return;
    await client.cancelQueries({ queryKey: workflowsKey(project) });
    const saved = client.getQueriesData({ queryKey: workflowsKey(project) });
    client.setQueryData<Pages>(fromKey, (data) => data && withoutTask(data, task.number));
    client.setQueryData<Pages>(toKey, (data) =>
      withTaskAt(data ?? { pages: [], pageParams: [] }, { ...task, column: to }, index),
    );
    if (from !== to) {
      client.setQueryData<BoardData>([...workflowsKey(project), "board"], (data) =>
        data && {
          ...data,
          columns: data.columns.map((c) => ({
            ...c,
            count: c.count + (c.name === to ? 1 : 0) - (c.name === from ? 1 : 0),
          })),
        },
      );
    }
    try {
      const updated = await api.request<TaskDetail>("PATCH", taskPath(project, task.number), {
        body: { version: task.version, column: to, ...placement(target, index) },
      });
      // The new version at once: a second move before the refetch must not be stale.
      client.setQueryData<Pages>(toKey, (data) =>
        data && {
          ...data,
          pages: data.pages.map((page) => ({
            ...page,
            items: page.items.map((t) => (t.number === task.number ? { ...t, ...pick(updated) } : t)),
          })),
        },
      );
      const position = index + 1;
      setMoved({ number: task.number, text: `Moved #${task.number} to ${to}, position ${position}.`, error: false });
    } catch (error) {
      for (const [key, data] of saved) client.setQueryData(key, data);
      const why = error instanceof ApiError ? error.message : String(error);
      setMoved({ number: task.number, text: `#${task.number} was not moved: ${why}`, error: true });
    } finally {
      void client.invalidateQueries({ queryKey: workflowsKey(project) });
    }
  }

  function keyMove(task: Task, from: string, direction: "up" | "down" | "left" | "right"): void {
    const at = columns.findIndex((c) => c.name === from);
    const cards = flatten(client.getQueryData<Pages>(columnKey(project, from, filter)));
    const index = cards.findIndex((t) => t.number === task.number);
    setFocus(task.number);
    if (direction === "up" && index > 0) void move(task, from, from, index - 1);
    if (direction === "down" && index < cards.length - 1) void move(task, from, from, index + 1);
    const next = columns[at + (direction === "left" ? -1 : 1)];
    if ((direction === "left" || direction === "right") && next) {
      const there = flatten(client.getQueryData<Pages>(columnKey(project, next.name, filter)));
      void move(task, from, next.name, there.length);
    }
  }

  return (
    <div className="space-y-4">
      <div className="flex flex-wrap items-baseline gap-x-4 gap-y-1">
        <h1 className="text-xl font-semibold">Board · {project}</h1>
        <Link className="text-sm text-indigo-700 underline dark:text-indigo-300" to={pages.runs(project)}>
          Runs
        </Link>
      </div>
      {canWrite ? <NewTask key={project} project={project} columns={columns} /> : null}
      <Filters key={project} filter={filter} onChange={setFilter} />
      {canWrite ? (
        <p id="board-keys" className="text-xs text-slate-600 dark:text-slate-400">
          Drag a card, or focus it and press Alt with an arrow key (or use its Move buttons).
        </p>
      ) : null}
      <p className="sr-only" aria-live="polite">
        {moved && !moved.error ? moved.text : ""}
      </p>
      {moved?.error ? (
        <div className="flex items-start gap-2">
          <div className="flex-1">
            <ErrorMessage error={new Error(moved.text)} />
          </div>
          <button type="button" className={SECONDARY} onClick={() => setMoved(null)}>
            Dismiss
          </button>
        </div>
      ) : null}
      {board.error ? <ErrorMessage error={board.error} retry={() => void board.refetch()} /> : null}
      {board.isPending ? <p className="text-sm text-slate-500">Loading the board…</p> : null}
      <div className="flex gap-3 overflow-x-auto pb-2">
        {columns.map((column) => (
          <BoardColumnView
            key={column.id}
            project={project}
            column={column}
            filter={filter}
            canWrite={canWrite}
            dragging={dragging}
            setDragging={(next) => {
              // A drag ends any keyboard move: the focus no longer follows a card.
              if (next) setFocus(null);
              setDragging(next);
            }}
            focus={focus}
            first={column === columns[0]}
            last={column === columns[columns.length - 1]}
            onDrop={(task, from, index) => void move(task, from, column.name, index)}
            onKeyMove={keyMove}
          />
        ))}
      </div>
    </div>
  );
}

/** The fields of a changed task a card shows (a TaskDetail carries more; they do no harm). */
function pick(task: TaskDetail): Task {
  return task;
}

function BoardColumnView({
  project,
  column,
  filter,
  canWrite,
  dragging,
  setDragging,
  focus,
  first,
  last,
  onDrop,
  onKeyMove,
}: {
  project: string;
  column: Column;
  filter: BoardFilter;
  canWrite: boolean;
  dragging: Dragging | null;
  setDragging: (dragging: Dragging | null) => void;
  focus: number | null;
  first: boolean;
  last: boolean;
  onDrop: (task: Task, from: string, index: number) => void;
  onKeyMove: (task: Task, from: string, direction: "up" | "down" | "left" | "right") => void;
}) {
  const tasks = useInfiniteQuery({
    queryKey: columnKey(project, column.name, filter),
    queryFn: ({ pageParam, signal }) =>
      api.get<Page<Task>>(
        `${projectPath(project)}/tasks`,
        { ...listingQuery(filter), column: column.name, offset: pageParam, limit: PAGE },
        signal,
      ),
    initialPageParam: 0,
    getNextPageParam: nextOffset,
  });
  const list = useRef<HTMLOListElement>(null);
  const [over, setOver] = useState<number | null>(null);
  const cards = flatten(tasks.data);
  const shown = cards.filter((t) => keeps(t, filter));
  const total = tasks.data?.pages[tasks.data.pages.length - 1]?.total ?? column.count;
  const limit = column.wip_limit;
  const full = limit !== null && column.count >= limit;
  const headingId = `column-${column.id}`;

  /** Where the pointer is among the cards (the dragged one left out). */
  function indexAt(event: DragEvent): number {
    const items = Array.from(list.current?.querySelectorAll<HTMLElement>("[data-task]") ?? []);
    const others = items.filter((el) => Number(el.dataset.task) !== dragging?.task.number);
    const target = others.find((el) => {
      const box = el.getBoundingClientRect();
      return event.clientY < box.top + box.height / 2;
    });
    const rest = cards.filter((t) => t.number !== dragging?.task.number);
    return target ? dropIndex(rest, Number(target.dataset.task), true) : rest.length;
  }

  return (
    <section
      aria-labelledby={headingId}
      className={`flex min-w-52 flex-1 flex-col rounded-lg border bg-slate-50 p-2 dark:bg-slate-900 ${
        over !== null ? "border-indigo-500" : "border-slate-200 dark:border-slate-800"
      }`}
      onDragOver={(event) => {
        if (!dragging) return;
        event.preventDefault();
        event.dataTransfer.dropEffect = "move";
        setOver(indexAt(event));
      }}
      onDragLeave={(event) => {
        if (!event.currentTarget.contains(event.relatedTarget as Node | null)) setOver(null);
      }}
      onDrop={(event) => {
        event.preventDefault();
        const index = indexAt(event);
        setOver(null);
        if (dragging) onDrop(dragging.task, dragging.from, index);
        setDragging(null);
      }}
    >
      <div className="mb-2 flex items-baseline justify-between gap-2 px-1">
        <h2 id={headingId} className="text-sm font-semibold">
          {column.name}
        </h2>
        <span
          className={`rounded px-1.5 text-xs tabular-nums ${
            full ? "bg-amber-100 font-semibold text-amber-900 dark:bg-amber-950 dark:text-amber-200" : "text-slate-600 dark:text-slate-400"
          }`}
          title={limit !== null ? `WIP limit ${limit}` : "No WIP limit"}
          aria-label={`${column.count} tasks${limit !== null ? `, WIP limit ${limit}` : ""}${full ? ", at its limit" : ""}`}
        >
          {limit !== null ? `${column.count} / ${limit}` : column.count}
          {full ? " · at limit" : ""}
        </span>
      </div>
      {hasFilter(filter) && tasks.data ? (
        <p className="px-1 pb-1 text-xs text-slate-600 dark:text-slate-400">
          {/* The listing does not filter by priority: then only what is loaded is counted. */}
          {filter.priority ? `${shown.length} shown` : `${total} matching`}
        </p>
      ) : null}
      {tasks.error ? <ErrorMessage error={tasks.error} retry={() => void tasks.refetch()} /> : null}
      <ol ref={list} aria-label={`${column.name} tasks`} className="min-h-16 space-y-2">
        {shown.map((task, i) => (
          <li key={task.number} data-task={task.number}>
            {over === i && dragging ? <DropMarker /> : null}
            <Card
              project={project}
              task={task}
              column={column.name}
              canWrite={canWrite}
              first={first}
              last={last}
              focus={focus === task.number}
              onDragStart={() => setDragging({ task, from: column.name })}
              onDragEnd={() => setDragging(null)}
              onKeyMove={(direction) => onKeyMove(task, column.name, direction)}
            />
          </li>
        ))}
        {over !== null && over >= shown.length && dragging ? (
          <li aria-hidden="true">
            <DropMarker />
          </li>
        ) : null}
      </ol>
      {tasks.isSuccess && shown.length === 0 && over === null ? (
        <p className="px-1 py-2 text-xs text-slate-600 dark:text-slate-400">No tasks</p>
      ) : null}
      {tasks.hasNextPage ? (
        <button
          type="button"
          className={`${SECONDARY} mt-2`}
          disabled={tasks.isFetchingNextPage}
          aria-label={`Load more of ${column.name}`}
          onClick={() => void tasks.fetchNextPage()}
        >
          {tasks.isFetchingNextPage ? "Loading…" : `Load more (${total - cards.length} more)`}
        </button>
      ) : null}
    </section>
  );
}

function DropMarker() {
  return <div aria-hidden="true" className="mb-2 h-1 rounded bg-indigo-500" />;
}

type Direction = "up" | "down" | "left" | "right";
const ARROWS: Record<string, Direction> = {
  ArrowUp: "up",
  ArrowDown: "down",
  ArrowLeft: "left",
  ArrowRight: "right",
};

function Card({
  project,
  task,
  column,
  canWrite,
  first,
  last,
  focus,
  onDragStart,
  onDragEnd,
  onKeyMove,
}: {
  project: string;
  task: Task;
  column: string;
  canWrite: boolean;
  first: boolean;
  last: boolean;
  focus: boolean;
  onDragStart: () => void;
  onDragEnd: () => void;
  onKeyMove: (direction: Direction) => void;
}) {
  const [moving, setMoving] = useState(false);
  const link = useRef<HTMLAnchorElement>(null);
  useEffect(() => {
    // A keyboard move re-renders the card elsewhere: the focus follows it.
    if (focus) link.current?.focus();
  }, [focus, column]);

  function onKeyDown(event: KeyboardEvent): void {
    const direction = ARROWS[event.key];
    if (!canWrite || !event.altKey || !direction) return;
    event.preventDefault();
    onKeyMove(direction);
  }

  const label = `#${task.number} ${task.title}`;
  const button = `${SECONDARY} px-1.5 py-0.5 text-xs`;
  return (
    <article
      aria-label={label}
      draggable={canWrite}
      onDragStart={(event) => {
        event.dataTransfer.setData(DRAG_TYPE, String(task.number));
        event.dataTransfer.effectAllowed = "move";
        onDragStart();
      }}
      onDragEnd={onDragEnd}
      onKeyDown={onKeyDown}
      className={`break-words rounded-md border bg-white p-2 text-sm shadow-sm dark:bg-slate-950 ${
        task.blocked ? "border-red-300 dark:border-red-800" : "border-slate-200 dark:border-slate-800"
      } ${canWrite ? "cursor-grab" : ""}`}
    >
      <Link
        ref={link}
        to={pages.task(project, task.number)}
        aria-keyshortcuts={canWrite ? "Alt+ArrowUp Alt+ArrowDown Alt+ArrowLeft Alt+ArrowRight" : undefined}
        aria-describedby={canWrite ? "board-keys" : undefined}
        className="block font-medium hover:underline focus:outline-none focus:ring-2 focus:ring-indigo-500"
      >
        <span className="tabular-nums text-slate-600 dark:text-slate-400">#{task.number}</span>{" "}
        {task.title}
      </Link>
      <TaskBadges task={task} />
      {canWrite ? (
        <div className="mt-1 flex flex-wrap items-center gap-1">
          <button
            type="button"
            className={button}
            aria-expanded={moving}
            aria-label={`Move #${task.number}`}
            onClick={() => setMoving(!moving)}
          >
            Move
          </button>
          {moving ? (
            <>
              <button type="button" className={button} aria-label={`Move #${task.number} up`} onClick={() => onKeyMove("up")}>
                ↑
              </button>
              <button type="button" className={button} aria-label={`Move #${task.number} down`} onClick={() => onKeyMove("down")}>
                ↓
              </button>
              <button type="button" className={button} disabled={first} aria-label={`Move #${task.number} to the previous column`} onClick={() => onKeyMove("left")}>
                ←
              </button>
              <button type="button" className={button} disabled={last} aria-label={`Move #${task.number} to the next column`} onClick={() => onKeyMove("right")}>
                →
              </button>
            </>
          ) : null}
        </div>
      ) : null}
    </article>
  );
}
