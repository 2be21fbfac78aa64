/** The sources: status, counts, live progress of their job; refresh and delete. */

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";
import { Link, useLocation } from "react-router-dom";

import { api, Code, EmptyState, ErrorMessage, formatWhen, ProgressBar, StatusBadge, useSession, type Job, SECONDARY } from "@devflow/ui";

import { Address, KnowledgeHeader, useSources } from "./parts";
import { countsLine, isActive, sourceProgress } from "./progress";
import type { Source } from "./types";

function SourceProgress({ source }: { source: Source }) {
  // Under ["knowledge"]: the source events that refetch the list refetch the job too.
  const job = useQuery({
    queryKey: ["knowledge", "job", source.job_id],
    queryFn: () => api.get<Job>(`/api/v1/jobs/${source.job_id ?? 0}`),
    enabled: source.job_id !== null,
  });
  const progress = sourceProgress(source, job.data);
  return (
    <ProgressBar
      label={progress.label}
      done={progress.done}
      total={progress.total}
      unit={progress.unit}
      rate={progress.rate}
      etaSeconds={progress.etaSeconds}
    />
  );
}

function Actions({ source }: { source: Source }) {
  const client = useQueryClient();
  const [confirming, setConfirming] = useState(false);
  const cancel = useRef<HTMLButtonElement>(null);
  const done = () => client.invalidateQueries({ queryKey: ["knowledge"] });
  const refresh = useMutation({
    mutationFn: () => api.post<Source>(`/api/v1/knowledge/sources/${source.id}/refresh`),
    onSuccess: done,
  });
  const remove = useMutation({
    mutationFn: () => api.delete<undefined>(`/api/v1/knowledge/sources/${source.id}`),
    onSuccess: done,
  });
  useEffect(() => {
    if (confirming) cancel.current?.focus();
  }, [confirming]);
  const busy = refresh.isPending || remove.isPending;
  return (
    <div className="space-y-1">
      {confirming ? (
        <div role="group" aria-label={`Delete ${source.name}?`} className="flex flex-wrap items-center gap-2 text-sm">
          <span>Delete {source.name} and everything indexed from it?</span>
          <button
            type="button"
            className="rounded bg-red-600 px-2 py-1 text-white hover:bg-red-700 focus:outline-none focus:ring-2 focus:ring-red-400"
            disabled={busy}
            onClick={() => remove.mutate()}
          >
            Delete
          </button>
          <button type="button" ref={cancel} className={SECONDARY} onClick={() => setConfirming(false)}>
            Cancel
          </button>
        </div>
      ) : (
        <div className="flex gap-2">
          <button
            type="button"
            className={SECONDARY}
            disabled={busy || isActive(source)}
            aria-label={`Refresh ${source.name}`}
            title="Read the source again; unchanged pages are neither re-fetched nor re-embedded"
            onClick={() => refresh.mutate()}
          >
            Refresh
          </button>
          <button
            type="button"
            className={SECONDARY}
            disabled={busy}
            aria-label={`Delete ${source.name}`}
            onClick={() => setConfirming(true)}
          >
            Delete
          </button>
        </div>
      )}
      {refresh.error ? <ErrorMessage error={refresh.error} /> : null}
      {remove.error ? <ErrorMessage error={remove.error} /> : null}
    </div>
  );
}

function SourceItem({ source, canWrite }: { source: Source; canWrite: boolean }) {
  const origin = typeof source.settings.origin === "string" ? source.settings.origin : null;
  return (
    <li className="space-y-2 rounded-lg border border-slate-200 bg-white p-4 shadow-sm dark:border-slate-800 dark:bg-slate-900">
      <div className="flex flex-wrap items-start justify-between gap-2">
        <div className="min-w-0">
          <h2 className="flex flex-wrap items-center gap-2 font-medium">
            <span className="break-all">{source.name}</span>
            <StatusBadge status={source.status} />
            <span className="text-xs text-slate-500 dark:text-slate-400">{source.kind}</span>
          </h2>
          {source.location === "upload" ? (
            <span className="text-xs text-slate-500 dark:text-slate-400">
              uploaded{origin ? ` from ${origin}` : ""}
            </span>
          ) : (
            <Address uri={source.location} />
          )}
        </div>
        {canWrite ? <Actions source={source} /> : null}
      </div>
      <p className="text-sm tabular-nums text-slate-600 dark:text-slate-400">
        {countsLine(source)} ·{" "}
        {source.last_refresh_at
          ? `refreshed ${formatWhen(source.last_refresh_at)}`
          : `added ${formatWhen(source.created_at)}`}
      </p>
      {isActive(source) ? <SourceProgress source={source} /> : null}
      {source.last_error ? (
        <p className="whitespace-pre-wrap break-words text-sm text-red-700 dark:text-red-300">{source.last_error}</p>
      ) : null}
    </li>
  );
}

export function Sources() {
  const { project, canWrite } = useSession();
  const sources = useSources(project);
  const added = (useLocation().state as { added?: string } | null)?.added;
  return (
    <div className="space-y-4">
      <KnowledgeHeader title="Knowledge sources" />
      {added ? (
        <p role="status" className="text-sm text-emerald-700 dark:text-emerald-300">
          Added {added}; its progress shows below.
        </p>
      ) : null}
      {sources.error ? <ErrorMessage error={sources.error} retry={() => void sources.refetch()} /> : null}
      {sources.isPending ? <p className="text-sm text-slate-500">Loading…</p> : null}
      {sources.data?.items.length === 0 ? (
        <EmptyState title="No knowledge sources yet">
          {canWrite ? (
            <>
              <Link to="/knowledge/add" className="underline">
                Add a source
              </Link>{" "}
              (a documentation site, a git repository, or files and folders), or from a terminal:{" "}
            </>
          ) : (
            "Someone with write access can add one, e.g. "
          )}
          <Code>devflow knowledge add https://docs.example.com</Code>
        </EmptyState>
      ) : null}
      {sources.data && sources.data.items.length > 0 ? (
        <ul className="space-y-3" aria-label="Sources">
          {sources.data.items.map((source) => (
            <SourceItem key={source.id} source={source} canWrite={canWrite} />
          ))}
        </ul>
      ) : null}
    </div>
  );
}
