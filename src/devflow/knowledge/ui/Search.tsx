/** Search the knowledge base: mode, grouping and a source filter, in the URL (a search can be
 * shared and survives a reload); results with their highlighted snippets. */

import { useQuery } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Link, useSearchParams } from "react-router-dom";

import { api, EmptyState, ErrorMessage, useSession, BUTTON, Field, INPUT } from "@devflow/ui";

import { Address, KnowledgeHeader, Snippet, SourceFilter, useSources } from "./parts";
import { where } from "./text";
import type { SearchGroup, SearchHit, SearchMode, SearchResults } from "./types";

const MODES: SearchMode[] = ["hybrid", "keyword", "semantic"];
const GROUPS: SearchGroup[] = ["documents", "passages"];

function oneOf<T extends string>(value: string | null, allowed: T[]): T {
  return allowed.find((a) => a === value) ?? (allowed[0] as T);
}

/** The document view, at this passage (its range in the URL: a link can be shared). */
export function passageLink(documentId: string, passage: { start: number; end: number }): string {
  const params = new URLSearchParams({ start: String(passage.start), end: String(passage.end) });
  return `/knowledge/documents/${encodeURIComponent(documentId)}?${params.toString()}`;
}

function Score({ score }: { score: number }) {
  return (
    <span className="text-xs tabular-nums text-slate-500 dark:text-slate-400" title="Relevance within this search (1: its best match)">
      score {score.toFixed(2)}
    </span>
  );
}

function Hit({ hit }: { hit: SearchHit }) {
  const link = passageLink(hit.document_id, hit);
  return (
    <li className="space-y-1 rounded-lg border border-slate-200 bg-white p-4 dark:border-slate-800 dark:bg-slate-900">
      <div className="flex flex-wrap items-baseline justify-between gap-2">
        <h2 className="font-medium">
          <Link to={link} className="underline-offset-2 hover:underline">
            {hit.title || hit.uri}
          </Link>
        </h2>
        <Score score={hit.score} />
      </div>
      {/* The headings above the passage, unless they only repeat the title. */}
      {where(hit.title, hit.heading_path) !== hit.title ? (
        <p className="text-xs text-slate-600 dark:text-slate-400">{where(hit.title, hit.heading_path)}</p>
      ) : null}
      <Address uri={hit.uri} />
      <Snippet text={hit.snippet} />
      {hit.passages.length ? (
        <ul className="mt-2 space-y-2 border-l-2 border-slate-200 pl-3 dark:border-slate-700" aria-label="More passages of this document">
          {hit.passages.map((p) => {
            const more = passageLink(hit.document_id, p);
            return (
              <li key={p.chunk_id}>
                <Link to={more} className="text-xs text-slate-600 underline dark:text-slate-400">
                  {where("", p.heading_path) || "Passage"}
                </Link>{" "}
                <Score score={p.score} />
                <Snippet text={p.snippet} />
              </li>
            );
          })}
        </ul>
      ) : null}
    </li>
  );
}

export function Search() {
  const { project } = useSession();
  const sources = useSources(project);
  const [params, setParams] = useSearchParams();
  const q = params.get("q") ?? "";
  const mode = oneOf(params.get("mode"), MODES);
  const group = oneOf(params.get("group"), GROUPS);
  const source = params.get("source") ?? "";
  const [draft, setDraft] = useState(q);

  const results = useQuery({
    queryKey: ["knowledge", "search", { q, mode, group, source, project }],
    queryFn: () =>
      api.post<SearchResults>("/api/v1/knowledge/search", {
        query: q,
        mode,
        group,
        project,
        sources: source ? [source] : [],
      }),
    enabled: q.trim() !== "",
    staleTime: 60_000,
  });

  function set(key: string, value: string): void {
    const next = new URLSearchParams(params);
    if (value) next.set(key, value);
    else next.delete(key);
    setParams(next, { replace: key !== "q" });
  }

  function submit(event: FormEvent): void {
    event.preventDefault();
    set("q", draft.trim());
  }

  return (
    <div className="space-y-4">
      <KnowledgeHeader title="Search" />
      <form role="search" onSubmit={submit} className="space-y-3">
        <div className="flex gap-2">
          <label className="flex-1">
            <span className="sr-only">Search the knowledge base</span>
            <input
              type="search"
              className={INPUT}
              value={draft}
              maxLength={2000}
              placeholder="What are you looking for?"
              onChange={(event) => setDraft(event.target.value)}
            />
          </label>
          <button type="submit" className={BUTTON}>
            Search
          </button>
        </div>
        <div className="grid gap-3 sm:grid-cols-3">
          <Field label="Mode" hint="Hybrid fuses words and meaning; keyword needs no embeddings.">
            <select className={INPUT} value={mode} onChange={(event) => set("mode", event.target.value)}>
              {MODES.map((m) => (
                <option key={m}>{m}</option>
              ))}
            </select>
          </Field>
          <Field label="Group by">
            <select className={INPUT} value={group} onChange={(event) => set("group", event.target.value)}>
              {GROUPS.map((g) => (
                <option key={g}>{g}</option>
              ))}
            </select>
          </Field>
          <SourceFilter sources={sources.data?.items ?? []} value={source} onChange={(v) => set("source", v)} />
        </div>
      </form>
      {results.error ? <ErrorMessage error={results.error} retry={() => void results.refetch()} /> : null}
      {results.isFetching ? <p className="text-sm text-slate-500" role="status">Searching…</p> : null}
      {results.data?.notices.map((notice) => (
        <p key={notice} role="note" className="rounded-md border border-amber-300 bg-amber-50 p-2 text-sm text-amber-900 dark:border-amber-800 dark:bg-amber-950 dark:text-amber-100">
          {notice}
        </p>
      ))}
      {results.data && results.data.hits.length === 0 ? (
        <EmptyState title="Nothing matched">
          Try other words, the keyword mode for exact names, or all sources.{" "}
          {sources.data?.items.length === 0 ? (
            <Link to="/knowledge/add" className="underline">
              Add a source first.
            </Link>
          ) : null}
        </EmptyState>
      ) : null}
      {!q ? (
        <p className="text-sm text-slate-600 dark:text-slate-400">
          Search every source you can read, or one. Results show the best passage of each document with the matched words marked.
        </p>
      ) : null}
      {results.data && results.data.hits.length > 0 ? (
        <ol className="space-y-3" aria-label={`Results for ${results.data.query}`}>
          {results.data.hits.map((hit) => (
            <Hit key={hit.chunk_id} hit={hit} />
          ))}
        </ol>
      ) : null}
    </div>
  );
}
