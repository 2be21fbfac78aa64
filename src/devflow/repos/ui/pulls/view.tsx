/** One pull request: its title, state and branches, and three tabs: the conversation (the
 * description, reviews and line comments in time order, a comment or review, the merge box,
 * close and reopen), the commits, and the changed files with a line comment. Bodies, comments,
 * messages and patches are untrusted: shown as text, bodies and comments through the shared
 * Markdown renderer (no raw HTML). A merge sends the head the page showed; when the branch
 * moved meanwhile the page says so and offers to reload, it never merges commits nobody saw
 * here. */

import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { Link, useParams, useSearchParams } from "react-router-dom";

import { api, BUTTON, Card, Code, ErrorMessage, Field, formatWhen, INPUT, Markdown, SECONDARY, useSession } from "@devflow/ui";

import { DiffFiles } from "../browse/diff";
import { repoPage } from "../browse/paths";
import { MergeBox } from "./merge";
import { diffFiles, pullPage, pullsApi, pullsKey, REVIEW_TEXT, timeline, type Entry } from "./model";
import { Branches, CHIP, Heading, LINK, StateBadge, TONE, useLivePulls, useRepoParams } from "./parts";
import type { LineComment, Pull, PullCommit, PullDiff, Review, ReviewEvent } from "./types";

const WANTS: Record<Pull["state"], string> = { open: "wants to merge", closed: "wanted to merge", merged: "merged" };

const VIEW_TABS = [
  ["conversation", "Conversation"],
  ["commits", "Commits"],
  ["files", "Files changed"],
] as const;

/** `/code/:project/:name/pulls/:number?tab=`: one pull request. */
export function PullPage() {
  const { project, name } = useRepoParams();
  const { number: raw = "" } = useParams();
  const number = Number(raw);
  const [search] = useSearchParams();
  const tab = VIEW_TABS.find(([t]) => t === search.get("tab"))?.[0] ?? "conversation";
  const key = [...pullsKey(project, name), number];
  const pull = useQuery({
    queryKey: key,
    queryFn: () => api.get<Pull>(pullsApi(project, name, `/${number}`)),
    retry: false,
  });
  useLivePulls(project, name, [key], number);
  // The head this page shows: the merge is for it. A head that moves later (a push, seen
  // through a refetch) is announced, not swapped in silently; "Reload" takes it.
  const [seen, setSeen] = useState<{ number: number; sha: string } | null>(null);
  const current = pull.data?.head_sha ?? null;
  useEffect(() => {
    if (seen?.number !== number && current !== null) setSeen({ number, sha: current });
  }, [seen, number, current]);
  const client = useQueryClient();
  const reload = async () => {
    await client.invalidateQueries({ queryKey: key });
    const fresh = client.getQueryData<Pull>(key);
    if (fresh) setSeen({ number, sha: fresh.head_sha });
  };

  if (pull.error) {
    return (
      <div className="space-y-4">
        <Heading project={project} name={name} current={<Link to={pullPage(project, name)} className={LINK}>pull requests</Link>} />
        <ErrorMessage error={pull.error} retry={() => void pull.refetch()} />
      </div>
    );
  }
  const p = pull.data;
  if (!p) return <p className="text-sm text-slate-500">Loading pull request #{number}…</p>;
  const sha = seen?.number === number ? seen.sha : p.head_sha;
  return (
    <div className="space-y-4">
      <Heading project={project} name={name} current={<Link to={pullPage(project, name)} className={LINK}>pull requests</Link>} />
      <header className="space-y-1">
        <h1 className="break-words text-xl font-semibold">
          {p.title} <span className="tabular-nums text-slate-600 dark:text-slate-400">#{p.number}</span>
        </h1>
        <p className="flex flex-wrap items-center gap-2 text-sm">
          <StateBadge pull={p} />
          <span>
            {p.author ?? "someone"} {WANTS[p.state]} <Branches pull={p} /> · opened {formatWhen(p.created_at)}
          </span>
        </p>
        {p.state === "merged" ? (
          <p className="text-sm">
            Merged by {p.merged_by ?? "someone"} {formatWhen(p.merged_at)}
            {p.merge_method ? ` (${p.merge_method})` : ""}
            {p.merge_commit_sha ? (
              <>
                {" as "}
                <Link to={repoPage(project, name, `/commits/${p.merge_commit_sha}`)} className={LINK}>
                  <code>{p.merge_commit_sha.slice(0, 10)}</code>
                </Link>
              </>
            ) : null}
          </p>
        ) : null}
      </header>
      {p.state === "open" && sha !== p.head_sha ? (
        <div role="status" className="rounded border border-amber-300 p-2 text-sm text-amber-900 dark:border-amber-800 dark:text-amber-200">
          {p.head} has new commits (now at <code>{p.head_sha.slice(0, 12)}</code>; this page shows <code>{sha.slice(0, 12)}</code>).{" "}
          <button type="button" className={SECONDARY} onClick={() => void reload()}>
            Reload
          </button>
        </div>
      ) : null}
      <nav aria-label="Pull request" className="flex gap-4 border-b border-slate-200 text-sm dark:border-slate-800">
        {VIEW_TABS.map(([t, label]) => (
          <Link
            key={t}
            to={repoPage(project, name, `/pulls/${number}`, { tab: t === "conversation" ? "" : t })}
            aria-current={t === tab ? "page" : undefined}
            className={`-mb-px px-1 pb-1 ${t === tab ? "border-b-2 border-indigo-600 font-semibold" : "underline"}`}
          >
            {label}
          </Link>
        ))}
      </nav>
      {tab === "conversation" ? <Conversation pull={p} sha={sha} onReload={reload} /> : null}
      {tab === "commits" ? <Commits pull={p} sha={sha} /> : null}
      {tab === "files" ? <Files pull={p} sha={sha} /> : null}
    </div>
  );
}

function Conversation({ pull, sha, onReload }: { pull: Pull; sha: string; onReload: () => Promise<void> }) {
  const { project, name } = useRepoParams();
  const { canWrite } = useSession();
  const base = pullsApi(project, name, `/${pull.number}`);
  const key = [...pullsKey(project, name), pull.number];
  const reviews = useQuery({ queryKey: [...key, "reviews"], queryFn: () => api.get<Review[]>(`${base}/reviews`) });
  const comments = useQuery({ queryKey: [...key, "comments"], queryFn: () => api.get<LineComment[]>(`${base}/comments`) });
  const entries = timeline(reviews.data ?? [], comments.data ?? []);
  return (
    <div className="grid gap-4 md:grid-cols-3">
      <div className="space-y-4 md:col-span-2">
        <Card title="Description">
          {pull.body.trim() ? <Markdown text={pull.body} /> : <p className="text-sm text-slate-600 dark:text-slate-400">No description.</p>}
        </Card>
        {reviews.error ? <ErrorMessage error={reviews.error} /> : null}
        {comments.error ? <ErrorMessage error={comments.error} /> : null}
        {entries.length ? (
          <ol aria-label="Conversation" className="space-y-3">
            {entries.map((entry) => (
              <TimelineEntry key={`${entry.kind}-${entry.kind === "review" ? entry.review.id : entry.comment.id}`} entry={entry} />
            ))}
          </ol>
        ) : reviews.isSuccess && comments.isSuccess ? (
          <p className="text-sm text-slate-600 dark:text-slate-400">No reviews or comments yet.</p>
        ) : null}
        {canWrite && pull.state === "open" ? <ReviewForm pull={pull} /> : null}
      </div>
      <div className="space-y-4">
        {pull.state === "open" ? <MergeBox pull={pull} sha={sha} onReload={onReload} /> : null}
        {canWrite ? <StateButtons pull={pull} /> : null}
      </div>
    </div>
  );
}

function TimelineEntry({ entry }: { entry: Entry }) {
  if (entry.kind === "review") {
    const r = entry.review;
    const tone = r.state === "approved" ? TONE.good : r.state === "changes_requested" ? TONE.bad : "";
    return (
      <li className="space-y-1 border-l-2 border-slate-200 pl-3 dark:border-slate-700">
        <p className="text-xs text-slate-600 dark:text-slate-400">
          <strong>{r.author ?? "someone"}</strong> <span className={tone ? `${CHIP} ${tone}` : ""}>{REVIEW_TEXT[r.state]}</span> ·{" "}
          {formatWhen(r.created_at)} · at <code>{r.commit_sha.slice(0, 10)}</code>
        </p>
        {r.body ? <Markdown text={r.body} /> : null}
      </li>
    );
  }
  const c = entry.comment;
  return (
    <li className="space-y-1 border-l-2 border-sky-200 pl-3 dark:border-sky-800">
      <p className="text-xs text-slate-600 dark:text-slate-400">
        <strong>{c.author ?? "someone"}</strong> commented on <Code>{`${c.path}:${c.line}`}</Code> · {formatWhen(c.created_at)}
        {c.outdated ? <span className={`${CHIP} ${TONE.warn} ml-1`}>outdated</span> : null}
      </p>
      <pre className="overflow-x-auto rounded bg-slate-50 px-2 py-1 text-xs dark:bg-slate-900">{c.line_text || " "}</pre>
      <Markdown text={c.body} />
    </li>
  );
}

const EVENTS: [ReviewEvent, string][] = [
  ["comment", "Comment"],
  ["approve", "Approve"],
  ["request_changes", "Request changes"],
];

/** A comment on the whole pull request (a review that only comments), or a review. */
function ReviewForm({ pull }: { pull: Pull }) {
  const { project, name } = useRepoParams();
  const { session } = useSession();
  const client = useQueryClient();
  const [text, setText] = useState("");
  const [event, setEvent] = useState<ReviewEvent>("comment");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const own = pull.author !== null && pull.author === session.user.username;

  async function send(kind: ReviewEvent): Promise<void> {
    setBusy(true);
    setError(null);
    try {
      await api.post<Review>(pullsApi(project, name, `/${pull.number}/reviews`), { event: kind, body: text });
      setText("");
      setEvent("comment");
      await client.invalidateQueries({ queryKey: [...pullsKey(project, name), pull.number] });
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  }

  const needsText = event !== "approve";
  return (
    <form
      aria-label="Review"
      className="space-y-2 rounded-lg border border-slate-200 p-4 dark:border-slate-800"
      onSubmit={(e) => {
        e.preventDefault();
        if (!needsText || text.trim()) void send(event);
      }}
    >
      <Field label="Add a comment" hint="Markdown.">
        <textarea className={INPUT} rows={4} value={text} onChange={(e) => setText(e.target.value)} maxLength={65_536} />
      </Field>
      <fieldset className="flex flex-wrap gap-4 text-sm">
        <legend className="sr-only">Review</legend>
        {EVENTS.map(([value, label]) => (
          <label key={value} className="flex items-center gap-1">
            <input type="radio" name="event" value={value} checked={event === value} onChange={() => setEvent(value)} disabled={value === "approve" && own} />
            {label}
          </label>
        ))}
      </fieldset>
      {own ? <p className="text-xs text-slate-600 dark:text-slate-400">You opened this pull request: others approve it.</p> : null}
      {error ? <ErrorMessage error={error} /> : null}
      <button type="submit" className={BUTTON} disabled={busy || (needsText && !text.trim())}>
        {busy ? "Sending…" : event === "comment" ? "Comment" : "Submit review"}
      </button>
    </form>
  );
}

function StateButtons({ pull }: { pull: Pull }) {
  const { project, name } = useRepoParams();
  const client = useQueryClient();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  if (pull.state === "merged") return null;
  const action = pull.state === "open" ? "close" : "reopen";

  async function act(): Promise<void> {
    setBusy(true);
    setError(null);
    try {
      const changed = await api.post<Pull>(pullsApi(project, name, `/${pull.number}/${action}`));
      client.setQueryData([...pullsKey(project, name), pull.number], changed);
      void client.invalidateQueries({ queryKey: pullsKey(project, name) });
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="space-y-2">
      <button type="button" className={SECONDARY} disabled={busy} onClick={() => void act()}>
        {action === "close" ? "Close pull request" : "Reopen pull request"}
      </button>
      {error ? <ErrorMessage error={error} /> : null}
    </div>
  );
}

function Commits({ pull, sha }: { pull: Pull; sha: string }) {
  const { project, name } = useRepoParams();
  const commits = useQuery({
    queryKey: [...pullsKey(project, name), pull.number, "commits", sha],
    queryFn: () => api.get<PullCommit[]>(pullsApi(project, name, `/${pull.number}/commits`)),
    retry: false,
  });
  if (commits.error) return <ErrorMessage error={commits.error} />;
  if (!commits.data) return <p className="text-sm text-slate-500">Loading the commits…</p>;
  if (!commits.data.length) return <p className="text-sm">No commits: {pull.base} has them all.</p>;
  return (
    <ol aria-label="Commits" className="divide-y divide-slate-200 dark:divide-slate-800">
      {commits.data.map((c) => (
        <li key={c.sha} className="flex flex-wrap items-baseline justify-between gap-2 py-2">
          <Link to={repoPage(project, name, `/commits/${c.sha}`)} className="min-w-0 break-words underline">
            {c.title || "(no message)"}
          </Link>
          <span className="text-xs text-slate-600 dark:text-slate-400">
            {c.author_name} · {formatWhen(c.authored_at)} · <code>{c.sha.slice(0, 10)}</code>
          </span>
        </li>
      ))}
    </ol>
  );
}

function Files({ pull, sha }: { pull: Pull; sha: string }) {
  const { project, name } = useRepoParams();
  const { canWrite } = useSession();
  const diff = useQuery({
    queryKey: [...pullsKey(project, name), pull.number, "diff", sha],
    queryFn: () => api.get<PullDiff>(pullsApi(project, name, `/${pull.number}/diff`)),
    retry: false,
  });
  if (diff.error) return <ErrorMessage error={diff.error} />;
  const d = diff.data;
  if (!d) return <p className="text-sm text-slate-500">Loading the changes…</p>;
  const files = diffFiles(d);
  return (
    <div className="space-y-4">
      <p className="text-sm">
        {d.total_files} {d.total_files === 1 ? "file" : "files"} changed, <span className="text-green-700 dark:text-green-400">+{d.additions}</span>{" "}
        <span className="text-red-700 dark:text-red-400">−{d.deletions}</span>
        {d.files_truncated ? ` (the first ${d.files.length} are listed)` : ""}
        {d.patch_truncated ? " (the diff is cut short: too large)" : ""}
      </p>
      <DiffFiles project={project} name={name} at={d.head_sha} diff={{ files }} />
      {canWrite && pull.state !== "merged" && files.length ? <LineCommentForm pull={pull} paths={files.map((f) => f.path)} /> : null}
    </div>
  );
}

/** A comment on one line of a file as the head has it. */
function LineCommentForm({ pull, paths }: { pull: Pull; paths: string[] }) {
  const { project, name } = useRepoParams();
  const client = useQueryClient();
  const [path, setPath] = useState(paths[0] ?? "");
  const [line, setLine] = useState("1");
  const [text, setText] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState("");

  async function send(): Promise<void> {
    setBusy(true);
    setError(null);
    setDone("");
    try {
      const made = await api.post<LineComment>(pullsApi(project, name, `/${pull.number}/comments`), { path, line: Number(line), body: text });
      setText("");
      setDone(`Commented on ${made.path}:${made.line}.`);
      await client.invalidateQueries({ queryKey: [...pullsKey(project, name), pull.number, "comments"] });
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  }

  return (
    <form
      aria-label="Comment on a line"
      className="space-y-2 rounded-lg border border-slate-200 p-4 dark:border-slate-800"
      onSubmit={(e) => {
        e.preventDefault();
        if (text.trim()) void send();
      }}
    >
      <h2 className="text-sm font-semibold">Comment on a line</h2>
      <div className="grid gap-3 sm:grid-cols-[1fr_8rem]">
        <Field label="File">
          <select className={INPUT} value={path} onChange={(e) => setPath(e.target.value)}>
            {paths.map((p) => (
              <option key={p} value={p}>
                {p}
              </option>
            ))}
          </select>
        </Field>
        <Field label="Line" hint="As the head has it.">
          <input className={INPUT} type="number" min={1} value={line} onChange={(e) => setLine(e.target.value)} required />
        </Field>
      </div>
      <Field label="Comment" hint="Markdown.">
        <textarea className={INPUT} rows={3} value={text} onChange={(e) => setText(e.target.value)} maxLength={65_536} />
      </Field>
      {error ? <ErrorMessage error={error} /> : null}
      {done ? <p role="status" className="text-sm">{done}</p> : null}
      <button type="submit" className={BUTTON} disabled={busy || !text.trim()}>
        {busy ? "Sending…" : "Comment on the line"}
      </button>
    </form>
  );
}
