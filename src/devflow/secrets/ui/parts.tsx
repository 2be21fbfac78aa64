/** A row's revealed value and a secret's history drawer. A revealed value lives in the row's
 * state only while it is shown: fetched by a one-off request on Reveal (never a query, whose
 * cache would keep it), masked until Show, and dropped on Close or when the row goes away. */

import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";

import { api, ConfirmButton, CopyButton, ErrorMessage, formatWhen, SECONDARY } from "@devflow/ui";

import { MASK, scopeParam, secretsApi, type Scope } from "./model";
import type { Secret, Version } from "./types";

/** The value of `secret` on demand, forgotten on `forget` and on unmount. */
export function useReveal(scope: Scope, secret: Secret) {
  const [value, setValue] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const alive = useRef(true);
  // A new version (an update, a rollback) makes a value shown meanwhile stale: drop it.
  useEffect(() => setValue(null), [secret.version]);
  useEffect(() => {
    alive.current = true;
    return () => {
      alive.current = false;
    };
  }, []);
  async function reveal() {
    setBusy(true);
    setError(null);
    try {
      const answer = await api.get<Secret>(secretsApi(scope, secret.name), {
        environment: secret.environment,
        reveal: true,
        reason: "revealed in the dashboard",
      });
      if (alive.current) setValue(answer.value ?? "");
    } catch (e) {
      if (alive.current) setError(e);
    } finally {
      if (alive.current) setBusy(false);
    }
  }
  return { value, busy, error, reveal, forget: () => setValue(null) };
}

export function RevealedValue({ name, value, onClose }: { name: string; value: string; onClose: () => void }) {
  const [shown, setShown] = useState(false);
  return (
    <div role="group" aria-label={`Value of ${name}`} className="flex flex-wrap items-center gap-2">
      <code className="max-w-full break-all rounded bg-slate-100 px-2 py-1 font-mono text-sm dark:bg-slate-800">
        {shown ? value : MASK}
      </code>
      <button type="button" className={SECONDARY} aria-pressed={shown} onClick={() => setShown(!shown)}>
        {shown ? "Hide" : "Show"}
      </button>
      <CopyButton value={value} label={`Copy the value of ${name}`} />
      <button type="button" className={SECONDARY} onClick={onClose}>
        Close
      </button>
      <span className="text-xs text-slate-600 dark:text-slate-400">This reveal was recorded in the audit log.</span>
    </div>
  );
}

/** Every version of a secret, newest first, with rollback to an older one (a new version). */
export function HistoryDrawer({
  scope,
  secret,
  canWrite,
  onClose,
}: {
  scope: Scope;
  secret: Secret;
  canWrite: boolean;
  onClose: () => void;
}) {
  const client = useQueryClient();
  const heading = useRef<HTMLHeadingElement>(null);
  const key = ["secrets", scopeParam(scope), "history", secret.name, secret.environment];
  const history = useQuery({
    queryKey: key,
    queryFn: () => api.get<Version[]>(secretsApi(scope, secret.name, "history"), { environment: secret.environment }),
  });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => heading.current?.focus(), [secret.name, secret.environment]);
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if (event.key === "Escape") onClose();
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, [onClose]);

  async function rollback(version: number) {
    setBusy(true);
    setError(null);
    try {
      await api.post<Secret>(secretsApi(scope, secret.name, "rollback"), { version, environment: secret.environment });
      await client.invalidateQueries({ queryKey: ["secrets", scopeParam(scope)] });
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }

  const title = `History of ${secret.name} (${secret.environment})`;
  return (
    <aside
      role="dialog"
      aria-labelledby="secret-history"
      className="fixed inset-y-0 right-0 z-10 w-full max-w-md space-y-3 overflow-y-auto border-l border-slate-200 bg-white p-4 shadow-xl dark:border-slate-800 dark:bg-slate-900"
    >
      <div className="flex items-center justify-between gap-2">
        <h2 id="secret-history" ref={heading} tabIndex={-1} className="font-semibold focus:outline-none">
          {title}
        </h2>
        <button type="button" className={SECONDARY} onClick={onClose}>
          Close
        </button>
      </div>
      <p className="text-xs text-slate-600 dark:text-slate-400">
        A rollback makes an old version&apos;s value current again as a new version; the history is kept.
      </p>
      {history.error ? <ErrorMessage error={history.error} retry={() => void history.refetch()} /> : null}
      {error ? <ErrorMessage error={error} /> : null}
      {history.isPending ? <p className="text-sm text-slate-500">Loading…</p> : null}
      <ol aria-label="Versions" className="divide-y divide-slate-200 dark:divide-slate-800">
        {history.data?.map((v) => (
          <li key={v.version} className="space-y-1 py-2 text-sm">
            <div className="flex flex-wrap items-center gap-2">
              <span className="font-medium tabular-nums">Version {v.version}</span>
              {v.current ? (
                <span className="rounded bg-emerald-100 px-1.5 py-0.5 text-xs font-medium text-emerald-900 dark:bg-emerald-950 dark:text-emerald-200">
                  current
                </span>
              ) : canWrite ? (
                <ConfirmButton
                  label={`Roll back ${secret.name} to version ${v.version}`}
                  question={`Make version ${v.version} current again?`}
                  confirm="Roll back"
                  busy={busy}
                  onConfirm={() => void rollback(v.version)}
                />
              ) : null}
            </div>
            <p className="text-xs text-slate-600 dark:text-slate-400">
              {v.kind === "reference" ? <span className="font-mono">{v.reference}</span> : "value"}
              {v.note ? ` · ${v.note}` : ""} · {v.created_by ?? "DevFlow"} ·{" "}
              <time dateTime={v.created_at} title={v.created_at}>
                {formatWhen(v.created_at)}
              </time>
              {v.key_id ? ` · key ${v.key_id}` : ""}
            </p>
          </li>
        ))}
      </ol>
    </aside>
  );
}
