/** One document's text, with the passage a search result or citation points at marked and
 * scrolled to. The text is shown as text (Markdown source, never rendered as HTML). */

import { useQuery } from "@tanstack/react-query";
import { useEffect, useRef } from "react";
import { useLocation, useParams, useSearchParams } from "react-router-dom";

import { api, ErrorMessage, formatCount } from "@devflow/ui";

import { Address, KnowledgeHeader } from "./parts";
import { locatePassage } from "./text";
import type { DocumentContent } from "./types";

/** Where the pointed-at passage starts and ends in `content` (null: not found). */
function passageRange(content: string, passage: string, heading: string): [number, number] | null {
  const start = locatePassage(content, passage, heading ? [heading] : []);
  if (start < 0) return null;
  // To the next heading, or the passage's own length when it was found by its text.
  const nextHeading = content.slice(start + 1).search(/\n#{1,6}[ \t]/);
  const toHeading = nextHeading < 0 ? content.length : start + 1 + nextHeading;
  const end = passage ? Math.min(content.length, start + Math.max(passage.length, 1), toHeading) : toHeading;
  return [start, Math.max(end, start + 1)];
}

export function DocumentView() {
  const { id = "" } = useParams();
  const [params] = useSearchParams();
  const passage = (useLocation().state as { passage?: string } | null)?.passage ?? "";
  const heading = params.get("heading") ?? "";
  const marked = useRef<HTMLElement>(null);
  const document = useQuery({
    queryKey: ["knowledge", "document", id],
    queryFn: () => api.get<DocumentContent>(`/api/v1/knowledge/documents/${encodeURIComponent(id)}`),
  });
  const content = document.data?.content ?? "";
  const range = content && (passage || heading) ? passageRange(content, passage, heading) : null;

  useEffect(() => {
    if (range && marked.current) {
      marked.current.scrollIntoView({ block: "center" });
      marked.current.focus({ preventScroll: true });
    }
  }, [range?.[0], range?.[1]]); // eslint-disable-line react-hooks/exhaustive-deps -- scroll once per passage

  return (
    <div className="space-y-4">
      <KnowledgeHeader title={document.data?.title || "Document"} />
      {document.error ? <ErrorMessage error={document.error} retry={() => void document.refetch()} /> : null}
      {document.data ? (
        <>
          <div className="flex flex-wrap items-baseline gap-3 text-sm text-slate-600 dark:text-slate-400">
            <Address uri={document.data.uri} />
            <span>{document.data.content_type}</span>
            {document.data.language ? <span>{document.data.language}</span> : null}
            <span>{formatCount(document.data.total_chars)} characters</span>
          </div>
          <pre className="max-w-full overflow-x-auto whitespace-pre-wrap break-words rounded-lg border border-slate-200 bg-white p-4 font-mono text-sm leading-relaxed dark:border-slate-800 dark:bg-slate-900">
            {range ? (
              <>
                {content.slice(0, range[0])}
                <mark
                  ref={marked}
                  tabIndex={-1}
                  aria-label="The passage"
                  className="rounded bg-amber-100 text-inherit outline-none focus:ring-2 focus:ring-amber-400 dark:bg-amber-900/50"
                >
                  {content.slice(range[0], range[1])}
                </mark>
                {content.slice(range[1])}
              </>
            ) : (
              content
            )}
          </pre>
        </>
      ) : null}
    </div>
  );
}
