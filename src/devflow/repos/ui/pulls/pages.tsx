/** Pull requests of a repository: the list by state and the form that opens one; one pull
 * request's page is ./view.tsx, exported from here so that the three share one chunk. Titles,
 * bodies and branch names are untrusted: they are shown as text, a body's preview through the
 * shared Markdown renderer (no raw HTML). */

import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Link, useNavigate, useSearchParams } from "react-router-dom";

import { api, BUTTON, EmptyState, ErrorMessage, Field, formatWhen, INPUT, Markdown, SECONDARY, useSession, type Page } from "@devflow/ui";

import { repoApi, repoPage } from "../browse/paths";
import type { Branch, Repo } from "../browse/types";
import { defaultHead, mergeability, pullPage, pullsApi, pullsKey, tabOf, TABS } from "./model";
import { Branches, CHIP, Heading, LINK, StateBadge, TONE, useLivePulls, useRepoParams } from "./parts";
import type { Pull } from "./types";

export { PullPage } from "./view";

const PAGE = 50;

/** `/code/:project/:name/pulls?state=&offset=`: the pull requests in one state, newest first. */
export function PullsPage() {
  const { project, name } = useRepoParams();
  const { canWrite } = useSession();
  const [search] = useSearchParams();
  const state = tabOf(search.get("state"));
  const offset = Number(search.get("offset") ?? "0") || 0;
  const key = [...pullsKey(project, name), "list", state, offset];
  const pulls = useQuery({
    queryKey: key,
    queryFn: () => api.get<Page<Pull>>(pullsApi(project, name), { state, limit: PAGE, offset }),
    retry: false,
  });
  useLivePulls(project, name, [pullsKey(project, name)]);
  const next = offset + PAGE;
  return (
    <div className="space-y-4">
      <Heading project={project} name={name} current="pull requests" />
      <div className="flex flex-wrap items-center justify-between gap-2">
        <h1 className="text-xl font-semibold">Pull requests</h1>
        {canWrite ? (
          <Link to={pullPage(project, name) + "/new"} className={BUTTON}>
            New pull request
          </Link>
        ) : null}
      </div>
      <nav aria-label="States" className="flex gap-3 text-sm">
        {TABS.map((tab) => (
          <Link
            key={tab}
            to={repoPage(project, name, "/pulls", { state: tab === "open" ? "" : tab })}
            aria-current={tab === state ? "page" : undefined}
            className={tab === state ? "font-semibold" : LINK}
          >
            {tab[0]?.toUpperCase() + tab.slice(1)}
          </Link>
        ))}
      </nav>
      {pulls.error ? <ErrorMessage error={pulls.error} retry={() => void pulls.refetch()} /> : null}
      {pulls.data && pulls.data.items.length === 0 ? (
        <EmptyState title={state === "all" ? "No pull requests yet" : `No ${state} pull requests`}>
          Push a branch, then open a pull request to merge it.
        </EmptyState>
      ) : null}
      <ul aria-label="Pull requests" className="divide-y divide-slate-200 dark:divide-slate-800">
        {pulls.data?.items.map((p) => {
          const merge = mergeability(p);
          return (
            <li key={p.number} className="space-y-1 py-2">
              <div className="flex flex-wrap items-baseline gap-2">
                <span className="tabular-nums text-slate-600 dark:text-slate-400">#{p.number}</span>
                <Link to={pullPage(project, name, p.number)} className="min-w-0 break-words font-medium underline">
                  {p.title}
                </Link>
                <StateBadge pull={p} />
                {merge ? <span className={`${CHIP} ${TONE[merge.tone]}`}>{merge.label}</span> : null}
              </div>
              <p className="text-xs text-slate-600 dark:text-slate-400">
                {p.author ?? "someone"} · <Branches pull={p} /> · updated {formatWhen(p.updated_at)}
              </p>
            </li>
          );
        })}
      </ul>
      {pulls.data && pulls.data.total > next ? (
        <Link to={repoPage(project, name, "/pulls", { state, offset: String(next) })} className="text-sm underline">
          Older pull requests
        </Link>
      ) : null}
    </div>
  );
}

/** `/code/:project/:name/pulls/new?head=&base=`: open a pull request. */
export function NewPullPage() {
  const { project, name } = useRepoParams();
  const [search] = useSearchParams();
  const navigate = useNavigate();
  const client = useQueryClient();
  const repo = useQuery({ queryKey: ["repos", "repo", project, name], queryFn: () => api.get<Repo>(repoApi(project, name)) });
  const branches = useQuery({
    queryKey: ["repos", "branches", project, name],
    queryFn: () => api.get<Page<Branch>>(`${repoApi(project, name)}/branches`, { limit: 500 }),
  });
  const [picked, setPicked] = useState<{ base?: string; head?: string }>({});
  const [title, setTitle] = useState("");
  const [body, setBody] = useState("");
  const [draft, setDraft] = useState(false);
  const [preview, setPreview] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const items = branches.data?.items ?? [];
  const base = picked.base ?? (search.get("base") || repo.data?.default_branch || "");
  const head = picked.head ?? (search.get("head") || defaultHead(items, base));

  async function open(): Promise<void> {
    setBusy(true);
    setError(null);
    try {
      const made = await api.post<Pull>(pullsApi(project, name), { base, head, title, body, draft });
      await client.invalidateQueries({ queryKey: pullsKey(project, name) });
      navigate(pullPage(project, name, made.number));
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  }

  const picker = (label: string, value: string, set: (v: string) => void) => (
    <Field label={label}>
      <select className={INPUT} value={value} onChange={(e) => set(e.target.value)} required>
        {value && !items.some((b) => b.name === value) ? <option value={value}>{value}</option> : null}
        {items.map((b) => (
          <option key={b.name} value={b.name}>
            {b.name}
          </option>
        ))}
      </select>
    </Field>
  );
  return (
    <div className="space-y-4">
      <Heading project={project} name={name} current={<Link to={pullPage(project, name)} className={LINK}>pull requests</Link>} />
      <h1 className="text-xl font-semibold">New pull request</h1>
      {branches.error ? <ErrorMessage error={branches.error} /> : null}
      {branches.data && items.length < 2 ? (
        <EmptyState title="One branch only">Push another branch to propose merging it.</EmptyState>
      ) : null}
      <form
        aria-label="New pull request"
        className="space-y-3"
        onSubmit={(event) => {
          event.preventDefault();
          if (title.trim() && head && base) void open();
        }}
      >
        <div className="grid gap-3 sm:grid-cols-2">
          {picker("Base branch", base, (v) => setPicked({ ...picked, base: v }))}
          {picker("Head branch", head, (v) => setPicked({ ...picked, head: v }))}
        </div>
        {head && head === base ? <p className="text-sm text-amber-800 dark:text-amber-200">Choose two different branches.</p> : null}
        {head && base && head !== base ? (
          <p className="text-sm">
            <Link to={repoPage(project, name, "/compare", { base, head })} className={LINK}>
              What {head} changes against {base}
            </Link>
          </p>
        ) : null}
        <Field label="Title">
          <input className={INPUT} value={title} onChange={(e) => setTitle(e.target.value)} required maxLength={300} />
        </Field>
        <Field label="Description" hint="Markdown.">
          {preview ? (
            <div className="min-h-24 rounded border border-slate-200 p-2 dark:border-slate-800">
              {body.trim() ? <Markdown text={body} /> : <p className="text-sm text-slate-600 dark:text-slate-400">Nothing to preview.</p>}
            </div>
          ) : (
            <textarea className={`${INPUT} font-mono`} rows={8} value={body} onChange={(e) => setBody(e.target.value)} maxLength={65_536} />
          )}
        </Field>
        <div className="flex flex-wrap items-center gap-4 text-sm">
          <button type="button" className={SECONDARY} onClick={() => setPreview(!preview)}>
            {preview ? "Edit" : "Preview"}
          </button>
          <label className="flex items-center gap-2">
            <input type="checkbox" checked={draft} onChange={(e) => setDraft(e.target.checked)} />
            Draft (not ready for review yet)
          </label>
        </div>
        {error ? <ErrorMessage error={error} /> : null}
        <button type="submit" className={BUTTON} disabled={busy || !title.trim() || !head || !base || head === base}>
          {busy ? "Creating…" : "Create pull request"}
        </button>
      </form>
    </div>
  );
}
