/** The board's filters, kept in the address (a filtered board can be shared as a link). */

import type { BoardFilter, FilterKey } from "./board";
import { PRIORITIES, TASK_TYPES } from "./types";

const SELECT =
  "rounded border border-slate-300 bg-white px-1 py-0.5 text-sm dark:border-slate-700 dark:bg-slate-900";

export function Filters({
  filter,
  onChange,
}: {
  filter: BoardFilter;
  onChange: (key: FilterKey, value: string) => void;
}) {
  const text = (key: FilterKey, label: string, placeholder: string, width = "w-32") => (
    <label className="text-sm">
      <span className="mr-1">{label}</span>
      <input
        type={key === "q" ? "search" : key === "run" ? "number" : "text"}
        min={key === "run" ? 1 : undefined}
        className={`${SELECT} ${width}`}
        placeholder={placeholder}
        defaultValue={filter[key] ?? ""}
        onChange={(event) => onChange(key, event.target.value)}
      />
    </label>
  );
  const choice = (key: FilterKey, label: string, options: string[]) => (
    <label className="text-sm">
      <span className="mr-1">{label}</span>
      <select className={SELECT} value={filter[key] ?? ""} onChange={(event) => onChange(key, event.target.value)}>
        <option value="">any</option>
        {options.map((option) => (
          <option key={option} value={option}>
            {option}
          </option>
        ))}
      </select>
    </label>
  );
  return (
    <form
      role="search"
      aria-label="Filter the tasks"
      className="flex flex-wrap items-center gap-x-4 gap-y-2"
      onSubmit={(event) => event.preventDefault()}
    >
      {text("q", "Search", "words or #12", "w-44")}
      {text("assignee", "Assignee", "name or none")}
      {text("label", "Label", "label")}
      {choice("priority", "Priority", PRIORITIES)}
      {choice("type", "Type", TASK_TYPES)}
      {text("run", "Run", "number", "w-20")}
    </form>
  );
}
