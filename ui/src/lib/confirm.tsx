/** Buttons, fields and a confirm-before-acting control shared by the pages. */

import { useEffect, useRef, useState, type ReactNode } from "react";

export const INPUT =
  "w-full rounded border border-slate-300 bg-white px-2 py-1 text-sm dark:border-slate-700 dark:bg-slate-900 focus:outline-none focus:ring-2 focus:ring-indigo-500";
export const BUTTON =
  "rounded bg-indigo-600 px-3 py-1.5 text-sm font-medium text-white hover:bg-indigo-700 disabled:opacity-50 focus:outline-none focus:ring-2 focus:ring-indigo-400 focus:ring-offset-1 dark:focus:ring-offset-slate-900";
export const SECONDARY =
  "rounded border border-slate-300 px-2 py-1 text-sm hover:bg-slate-100 disabled:opacity-50 dark:border-slate-700 dark:hover:bg-slate-800 focus:outline-none focus:ring-2 focus:ring-indigo-400";
const DANGER =
  "rounded bg-red-600 px-2 py-1 text-sm text-white hover:bg-red-700 disabled:opacity-50 focus:outline-none focus:ring-2 focus:ring-red-400";

export function Field({ label, hint, children }: { label: string; hint?: ReactNode; children: ReactNode }) {
  return (
    <label className="block space-y-1 text-sm">
      <span className="font-medium">{label}</span>
      {children}
      {hint ? <span className="block text-xs text-slate-500 dark:text-slate-400">{hint}</span> : null}
    </label>
  );
}

/** A button that asks first: "Delete X?" with the destructive choice and Cancel (focused, so
 * Enter on a second press does not destroy anything); `dismiss` names that way out where
 * "Cancel" would read as the action itself (cancelling a job). */
export function ConfirmButton({
  label,
  question,
  confirm,
  onConfirm,
  busy = false,
  dismiss = "Cancel",
}: {
  label: string;
  question: string;
  confirm: string;
  onConfirm: () => void;
  busy?: boolean;
  dismiss?: string;
}) {
  const [asking, setAsking] = useState(false);
  const cancel = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (asking) cancel.current?.focus();
  }, [asking]);
  if (!asking) {
    return (
      <button type="button" className={SECONDARY} disabled={busy} aria-label={label} onClick={() => setAsking(true)}>
        {confirm}
      </button>
    );
  }
  return (
    <span role="group" aria-label={question} className="inline-flex flex-wrap items-center gap-2 text-sm">
      <span>{question}</span>
      <button
        type="button"
        className={DANGER}
        disabled={busy}
        onClick={() => {
          onConfirm();
          setAsking(false);
        }}
      >
        {confirm}
      </button>
      <button type="button" ref={cancel} className={SECONDARY} onClick={() => setAsking(false)}>
        {dismiss}
      </button>
    </span>
  );
}
