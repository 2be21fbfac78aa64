/** One document, rendered as sanitized Markdown (`Markdown` from the shell: no raw HTML, no
 * script, only http(s) and mailto links, no image loaded), with the passage a search result or
 * citation points at (`?start=&end=`, the API's offsets) marked and scrolled to. A plain-text
 * file is shown as text. */

import { useQuery } from "@tanstack/react-query";
import { useEffect, useMemo, useRef } from "react";
import { useParams, useSearchParams } from "react-router-dom";

import { api, ErrorMessage, focusPassage, formatCount, Markdown, safeHref, SECONDARY } from "@devflow/ui";

import { Address, KnowledgeHeader } from "./parts";
import { locatePassage, utf16Range } from "./text";
import type { DocumentContent } from "./types";

/** The heading's section, for links that name a heading and no range: from the heading to the
 * next one (UTF-16 indexes), or null when it is not found. */
function headingRange(content: string, heading: string): [number, number] | null {
  const start = locatePassage(content, "", [heading]);
  if (start < 0) return null;
  const next = content.slice(start + 1).search(/\n#{1,6}[ \t]/);
  return [start, next < 0 ? content.length : start + 1 + next];
}

function offset(value: string | null): number | null {
  return value !== null && /^\d{1,9}$/.test(value) ? Number(value) : null;
}

/** The marked range, in UTF-16 indexes of `content`: the URL's `start`/`end` (code points, as
 * the API counts), else the section of its `heading`, else none. */
export function passageRange(content: string, params: URLSearchParams): [number, number] | null {
  const start = offset(params.get("start"));
  const end = offset(params.get("end"));
  if (start !== null && end !== null && end > start) {
    const range = utf16Range(content, start, end);
    return range[1] > range[0] ? range : null;
  }
  const heading = params.get("heading");
  return heading ? headingRange(content, heading) : null;
}

const FRAME = "rounded-lg border border-slate-200 bg-white p-4 dark:border-slate-800 dark:bg-slate-900";

export function DocumentView() {
  const { id = "" } = useParams();
  const [params] = useSearchParams();
  const document = useQuery({
    queryKey: ["knowledge", "document", id],
    queryFn: () => api.get<DocumentContent>(`/api/v1/knowledge/documents/${encodeURIComponent(id)}`),
  });
  const content = document.data?.content ?? "";
  const range = useMemo(() => (content ? passageRange(content, params) : null), [content, params]);
  const plain = document.data?.content_type === "text";

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
            {range ? (
              <button type="button" className={SECONDARY} onClick={() => focusPassage()}>
                Go to the passage
              </button>
            ) : null}
          </div>
          {plain ? (
            <PlainText content={content} range={range} />
          ) : (
            <article aria-label="Document" className={FRAME}>
              <Markdown text={content} base={safeHref(document.data.uri)} highlight={range} />
            </article>
          )}
        </>
      ) : null}
    </div>
  );
}

/** A plain-text file as it is, the passage in a <mark>. */
function PlainText({ content, range }: { content: string; range: readonly [number, number] | null }) {
  const marked = useRef<HTMLElement>(null);
  useEffect(() => {
    if (range && marked.current) focusPassage(marked.current.parentElement ?? undefined);
  }, [range]);
  return (
    <pre tabIndex={0} className={`max-w-full overflow-x-auto whitespace-pre-wrap break-words font-mono text-sm leading-relaxed ${FRAME}`}>
      {range ? (
        <>
          {content.slice(0, range[0])}
          <mark
            ref={marked}
            tabIndex={-1}
            data-passage="first"
            className="scroll-mt-24 rounded bg-amber-100 text-inherit outline-none focus:ring-2 focus:ring-amber-400 dark:bg-amber-900/50"
          >
            {content.slice(range[0], range[1])}
          </mark>
          {content.slice(range[1])}
        </>
      ) : (
        content
      )}
    </pre>
  );
}
