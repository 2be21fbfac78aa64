/** Small pieces the board, task and run pages share. */

import type { Gate, Priority, Task } from "./types";

const PRIORITY_TONE: Record<Priority, string> = {
  low: "bg-slate-100 text-slate-800 dark:bg-slate-800 dark:text-slate-200",
  medium: "bg-sky-100 text-sky-900 dark:bg-sky-950 dark:text-sky-200",
  high: "bg-amber-100 text-amber-900 dark:bg-amber-950 dark:text-amber-200",
  urgent: "bg-red-100 text-red-900 dark:bg-red-950 dark:text-red-200",
};

export const GATE_TEXT: Record<Gate, string> = {
  approval: "awaiting approval",
  validation: "being validated",
};

const CHIP = "rounded px-1.5 py-0.5 text-xs";

export function PriorityBadge({ priority }: { priority: Priority }) {
  return <span className={`${CHIP} font-medium ${PRIORITY_TONE[priority]}`}>{priority}</span>;
}

/** A card's facts in one wrapped line: priority, type, labels, assignee, blockers, gate, run. */
export function TaskBadges({ task }: { task: Task }) {
  return (
    <div className="mt-1 flex flex-wrap items-center gap-1 text-slate-700 dark:text-slate-300">
      <PriorityBadge priority={task.priority} />
      {task.type !== "task" ? <span className={`${CHIP} border border-slate-300 dark:border-slate-700`}>{task.type}</span> : null}
      {task.labels.map((label) => (
        <span key={label} className={`${CHIP} bg-indigo-50 text-indigo-900 dark:bg-indigo-950 dark:text-indigo-200`}>
          {label}
        </span>
      ))}
      {task.blocked ? (
        <span className={`${CHIP} bg-red-100 font-medium text-red-900 dark:bg-red-950 dark:text-red-200`}>
          blocked by {task.blocked_by.map((n) => `#${n}`).join(", ")}
        </span>
      ) : null}
      {task.gate ? (
        <span className={`${CHIP} bg-violet-100 text-violet-900 dark:bg-violet-950 dark:text-violet-200`}>
          {GATE_TEXT[task.gate]}
        </span>
      ) : null}
      {task.assignee ? <span className="text-xs">@{task.assignee}</span> : null}
      {task.run !== null ? (
        <span className="text-xs text-slate-600 dark:text-slate-400">
          run {task.run}
          {task.phase ? ` · ${task.phase}` : ""}
        </span>
      ) : null}
    </div>
  );
}
