/** Copy a value to the clipboard, saying that it did (or how to copy by hand when it cannot). */

import { useEffect, useState } from "react";

export function CopyButton({ value, label }: { value: string; label: string }) {
  const [state, setState] = useState<"idle" | "copied" | "failed">("idle");
  useEffect(() => {
    if (state === "idle") return undefined;
    const timer = setTimeout(() => setState("idle"), 2000);
    return () => clearTimeout(timer);
  }, [state]);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(value);
      setState("copied");
    } catch {
      setState("failed"); // an http origin other than localhost has no clipboard API
    }
  };
  return (
    <button
      type="button"
      aria-label={label}
      onClick={() => void copy()}
      className="shrink-0 rounded border border-slate-300 px-2 py-0.5 text-xs hover:bg-slate-100 focus:outline-none focus:ring-2 focus:ring-indigo-400 dark:border-slate-700 dark:hover:bg-slate-800"
    >
      <span aria-live="polite">
        {state === "copied" ? "Copied" : state === "failed" ? "Select and copy" : "Copy"}
      </span>
    </button>
  );
}

/** A block of commands or configuration with a copy button. */
export function Snippet({ title, text, note }: { title: string; text: string; note?: string }) {
  return (
    <figure className="space-y-1">
      <figcaption className="flex items-center justify-between gap-2 text-sm font-medium">
        <span>{title}</span>
        <CopyButton value={text} label={`Copy: ${title}`} />
      </figcaption>
      {/* Focusable: a keyboard user scrolls a long line into view. */}
      <pre tabIndex={0} className="overflow-x-auto whitespace-pre rounded bg-slate-100 p-2 font-mono text-xs dark:bg-slate-800">
        {text}
      </pre>
      {note ? <p className="text-xs text-slate-500 dark:text-slate-400">{note}</p> : null}
    </figure>
  );
}
