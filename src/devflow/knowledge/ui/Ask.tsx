/** Ask the knowledge base: the answer streams in (POST /api/v1/knowledge/answer, Server-Sent
 * Events) and is shown as sanitized Markdown (an answer quotes untrusted documents); its `[n]`
 * references link to the citations, which open the cited documents at their passage. */

import { useCallback, useEffect, useRef, useState, type FormEvent } from "react";
import { Link } from "react-router-dom";

import { api, ApiError, ErrorMessage, Markdown, useSession, BUTTON, Field, INPUT } from "@devflow/ui";

import { Address, KnowledgeHeader, SourceFilter, useSources } from "./parts";
import { passageLink } from "./Search";
import { readSse } from "./sse";
import { where } from "./text";
import type { Citation } from "./types";

interface Answer {
  text: string;
  citations: Citation[];
  found: boolean | null;
  done: boolean;
}

const EMPTY: Answer = { text: "", citations: [], found: null, done: false };

export function Ask() {
  const { project } = useSession();
  const sources = useSources(project);
  const [question, setQuestion] = useState("");
  const [source, setSource] = useState("");
  const [answer, setAnswer] = useState<Answer | null>(null);
  const [error, setError] = useState<unknown>(null);
  const running = useRef<AbortController | null>(null);

  useEffect(() => () => running.current?.abort(), []);

  async function ask(event: FormEvent): Promise<void> {
    event.preventDefault();
    running.current?.abort();
    const controller = new AbortController();
    running.current = controller;
    setError(null);
    setAnswer({ ...EMPTY });
    try {
      const response = await api.request<Response>("POST", "/api/v1/knowledge/answer", {
        body: { question, project, sources: source ? [source] : [], stream: true },
        accept: "text/event-stream",
        raw: true,
        signal: controller.signal,
      });
      if (!response.body) throw new Error("The answer came without a body");
      for await (const frame of readSse(response.body)) {
        const data = JSON.parse(frame.data) as Record<string, unknown>;
        if (frame.event === "citations") {
          setAnswer((a) => ({ ...(a ?? EMPTY), citations: data.citations as Citation[] }));
        } else if (frame.event === "delta") {
          setAnswer((a) => ({ ...(a ?? EMPTY), text: (a?.text ?? "") + String(data.text ?? "") }));
        } else if (frame.event === "done") {
          setAnswer({
            text: String(data.answer ?? ""),
            citations: data.citations as Citation[],
            found: Boolean(data.found),
            done: true,
          });
        } else if (frame.event === "error") {
          throw new ApiError(Number(data.status ?? 500), String(data.code ?? "error"), String(data.message ?? "The answer failed"));
        }
      }
    } catch (caught) {
      if (!(caught instanceof DOMException && caught.name === "AbortError")) setError(caught);
    } finally {
      if (running.current === controller) running.current = null;
      setAnswer((a) => (a ? { ...a, done: true } : a));
    }
  }

  // `[n]` in the answer links to citation n below (a number the answer was not given stays text).
  const numbers = (answer?.citations ?? []).map((c) => c.number).join(",");
  const references = useCallback(
    (n: number) => (numbers.split(",").includes(String(n)) ? `citation-${n}` : null),
    [numbers],
  );
  return (
    <div className="space-y-4">
      <KnowledgeHeader title="Ask" />
      <form onSubmit={(event) => void ask(event)} className="max-w-3xl space-y-3">
        <Field label="Question" hint="Answered from your sources, with numbered citations.">
          <textarea
            className={INPUT}
            rows={3}
            required
            maxLength={2000}
            value={question}
            onChange={(event) => setQuestion(event.target.value)}
            onKeyDown={(event) => {
              if (event.key === "Enter" && (event.metaKey || event.ctrlKey)) event.currentTarget.form?.requestSubmit();
            }}
          />
        </Field>
        <div className="grid gap-3 sm:grid-cols-2">
          <SourceFilter sources={sources.data?.items ?? []} value={source} onChange={setSource} />
        </div>
        <button type="submit" className={BUTTON} disabled={!question.trim() || (answer !== null && !answer.done)}>
          {answer && !answer.done ? "Answering…" : "Ask"}
        </button>
      </form>
      {error ? <ErrorMessage error={error} /> : null}
      {answer ? (
        <section aria-label="Answer" aria-busy={!answer.done} className="max-w-3xl space-y-3">
          {answer.text || !answer.done ? (
            <div className="rounded-lg border border-slate-200 bg-white p-4 dark:border-slate-800 dark:bg-slate-900">
              {answer.text ? <Markdown text={answer.text} references={references} /> : <p className="text-sm">…</p>}
            </div>
          ) : null}
          {answer.citations.length ? (
            <ol className="space-y-2 text-sm" aria-label="Citations">
              {answer.citations.map((c) => {
                const link = passageLink(c.document_id, c);
                return (
                  <li key={c.number} id={`citation-${c.number}`} className="flex gap-2">
                    <span className="tabular-nums text-slate-600 dark:text-slate-400">[{c.number}]</span>
                    <div className="min-w-0">
                      <Link to={link} className="underline">
                        {where(c.title, c.heading_path) || c.uri}
                      </Link>
                      <div>
                        <Address uri={c.uri} />
                      </div>
                    </div>
                  </li>
                );
              })}
            </ol>
          ) : null}
        </section>
      ) : null}
    </div>
  );
}
