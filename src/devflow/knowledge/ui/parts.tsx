/** Pieces the knowledge pages share: the section's tabs, form fields, a highlighted snippet, a
 * safe outbound link and the sources query. */

import { useQuery } from "@tanstack/react-query";
import { NavLink } from "react-router-dom";

import { api, Field, INPUT, useRefetchOn, type Page } from "@devflow/ui";

import { safeHref, splitSnippet } from "./text";
import type { Source } from "./types";

const TABS = [
  { to: "/knowledge", label: "Sources", end: true },
  { to: "/knowledge/add", label: "Add a source", end: false },
  { to: "/knowledge/search", label: "Search", end: false },
  { to: "/knowledge/ask", label: "Ask", end: false },
];

/** The section's heading and tabs. */
export function KnowledgeHeader({ title }: { title: string }) {
  return (
    <div className="space-y-2">
      <nav aria-label="Knowledge">
        <ul className="flex flex-wrap gap-1 border-b border-slate-200 dark:border-slate-800">
          {TABS.map((tab) => (
            <li key={tab.to}>
              <NavLink
                to={tab.to}
                end={tab.end}
                className={({ isActive }) =>
                  `-mb-px inline-block border-b-2 px-3 py-1.5 text-sm ${isActive ? "border-indigo-500 font-medium" : "border-transparent hover:border-slate-300 dark:hover:border-slate-600"}`
                }
              >
                {tab.label}
              </NavLink>
            </li>
          ))}
        </ul>
      </nav>
      <h1 className="text-xl font-semibold">{title}</h1>
    </div>
  );
}

/** A search snippet with the matched words in <mark>, built from text nodes only. */
export function Snippet({ text }: { text: string }) {
  return (
    <p className="text-sm text-slate-700 dark:text-slate-300">
      {splitSnippet(text).map((segment, i) =>
        segment.kind === "mark" ? (
          <mark key={i} className="rounded bg-amber-200 px-0.5 text-inherit dark:bg-amber-700/60">
            {segment.text}
          </mark>
        ) : segment.kind === "code" ? (
          <code key={i} className="rounded bg-slate-100 px-1 font-mono text-[0.85em] dark:bg-slate-800">
            {segment.text}
          </code>
        ) : (
          segment.text
        ),
      )}
    </p>
  );
}

/** A document's address: a link that opens in a new tab when it is http(s), else plain text. */
export function Address({ uri }: { uri: string }) {
  const href = safeHref(uri);
  const className = "break-all text-xs text-slate-500 dark:text-slate-400";
  if (!href) return <span className={className}>{uri}</span>;
  return (
    <a href={href} target="_blank" rel="noopener noreferrer nofollow" className={`${className} underline`}>
      {uri}
    </a>
  );
}

/** The project's sources, refreshed when a source event arrives. */
export function useSources(project: string | null) {
  const sources = useQuery({
    queryKey: ["knowledge", "sources", project],
    queryFn: () => api.get<Page<Source>>("/api/v1/knowledge/sources", { project }),
  });
  useRefetchOn([["knowledge"]], (event) => event.type.startsWith("knowledge."));
  return sources;
}

export function SourceFilter({
  sources,
  value,
  onChange,
}: {
  sources: Source[];
  value: string;
  onChange: (value: string) => void;
}) {
  return (
    <Field label="Source">
      <select className={INPUT} value={value} onChange={(event) => onChange(event.target.value)}>
        <option value="">All sources</option>
        {sources.map((s) => (
          <option key={s.id} value={s.id}>
            {s.name}
          </option>
        ))}
      </select>
    </Field>
  );
}
