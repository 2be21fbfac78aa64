/** Browsing a repository: its files at a branch or tag with the README, one file, the history
 * and one commit's diff. What a repository holds is untrusted: file text, names and messages
 * are shown as text, the README through the shared Markdown renderer (no raw HTML), and files
 * are downloaded from the API's raw route, which never serves HTML. */

import { useQuery } from "@tanstack/react-query";
import { Link, useNavigate, useParams, useSearchParams } from "react-router-dom";

import {
  api,
  Code,
  EmptyState,
  ErrorMessage,
  formatBytes,
  formatWhen,
  INPUT,
  Markdown,
  shortDigest,
  Snippet,
  type Page,
  type Project,
} from "@devflow/ui";

import { DiffFiles } from "./diff";
import { crumbs, repoApi, repoPage } from "./paths";
import type { Blame, Branch, CommitDetail, CommitPage as History, Comparison, FileView, Readme, Repo, Tag, Tree } from "./types";

function useRepo() {
  const { project = "", name = "" } = useParams();
  const [search] = useSearchParams();
  return { project, name, ref: search.get("ref") ?? "", path: search.get("path") ?? "", base: repoApi(project, name) };
}

function Header({ project, name, current }: { project: string; name: string; current: string }) {
  const repo = useQuery({
    queryKey: ["repos", "repo", project, name],
    queryFn: () => api.get<Repo>(repoApi(project, name)),
  });
  return (
    <header className="space-y-1">
      <nav aria-label="Breadcrumbs" className="text-sm text-slate-500 dark:text-slate-400">
        <Link to="/code" className="underline">
          Code
        </Link>{" "}
        / {project}
      </nav>
      <h1 className="break-all text-xl font-semibold">
        <Link to={repoPage(project, name)}>{name}</Link>
        <span className="sr-only"> — {current}</span>
      </h1>
      {repo.data?.description ? <p className="text-sm text-slate-600 dark:text-slate-400">{repo.data.description}</p> : null}
      {repo.error ? <ErrorMessage error={repo.error} /> : null}
    </header>
  );
}

function RefPicker({ project, name, value, tail, path }: { project: string; name: string; value: string; tail: string; path: string }) {
  const navigate = useNavigate();
  const base = repoApi(project, name);
  const branches = useQuery({
    queryKey: ["repos", "branches", project, name],
    queryFn: () => api.get<Page<Branch>>(`${base}/branches`, { limit: 500 }),
  });
  const tags = useQuery({
    queryKey: ["repos", "tags", project, name],
    queryFn: () => api.get<Page<Tag>>(`${base}/tags`, { limit: 500 }),
  });
  const fallback = branches.data?.items.find((b) => b.default)?.name ?? "";
  const shown = value || fallback;
  const known = [...(branches.data?.items ?? []).map((b) => b.name), ...(tags.data?.items ?? []).map((t) => t.name)];
  return (
    <label className="text-sm">
      <span className="mr-2">Branch or tag</span>
      <select
        className={INPUT}
        value={shown}
        onChange={(e) => navigate(repoPage(project, name, tail, { ref: e.target.value, path }))}
      >
        {known.includes(shown) || !shown ? null : <option value={shown}>{shown}</option>}
        {branches.data?.items.length ? (
          <optgroup label="Branches">
            {branches.data.items.map((b) => (
              <option key={`b-${b.name}`} value={b.name}>
                {b.name}
              </option>
            ))}
          </optgroup>
        ) : null}
        {tags.data?.items.length ? (
          <optgroup label="Tags">
            {tags.data.items.map((t) => (
              <option key={`t-${t.name}`} value={t.name}>
                {t.name}
              </option>
            ))}
          </optgroup>
        ) : null}
      </select>
    </label>
  );
}

/** `ref` is React's own prop name: the branch or tag travels as `at`. */
function PathCrumbs({ project, name, at, path }: { project: string; name: string; at: string; path: string }) {
  const ref = at;
  return (
    <nav aria-label="Path" className="break-all text-sm">
      <Link to={repoPage(project, name, "", { ref })} className="underline">
        {name}
      </Link>
      {crumbs(path).map((c) => (
        <span key={c.path}>
          {" / "}
          {c.path === path ? (
            <span aria-current="page">{c.label}</span>
          ) : (
            <Link to={repoPage(project, name, "", { ref, path: c.path })} className="underline">
              {c.label}
            </Link>
          )}
        </span>
      ))}
    </nav>
  );
}

/** `/code`: every repository of the projects the caller sees. */
export function CodeHome() {
  const projects = useQuery({ queryKey: ["projects"], queryFn: () => api.get<Page<Project>>("/api/v1/projects", { limit: 500 }) });
  return (
    <div className="space-y-4">
      <h1 className="text-xl font-semibold">Code</h1>
      {projects.error ? <ErrorMessage error={projects.error} /> : null}
      {projects.data?.items.map((p) => <ProjectRepos key={p.name} project={p.name} />)}
    </div>
  );
}

function ProjectRepos({ project }: { project: string }) {
  const repos = useQuery({
    queryKey: ["repos", "list", project],
    queryFn: () => api.get<Page<Repo>>(`/api/v1/projects/${encodeURIComponent(project)}/repos`, { limit: 500 }),
  });
  if (repos.error) return <ErrorMessage error={repos.error} />;
  if (!repos.data?.items.length) return null;
  return (
    <section aria-label={`Repositories of ${project}`} className="space-y-1">
      <h2 className="font-semibold">{project}</h2>
      <ul className="divide-y divide-slate-200 dark:divide-slate-800">
        {repos.data.items.map((r) => (
          <li key={r.name} className="flex flex-wrap items-baseline justify-between gap-2 py-2">
            <Link to={repoPage(project, r.name)} className="break-all font-medium underline">
              {r.name}
            </Link>
            <span className="text-xs text-slate-500 dark:text-slate-400">
              {r.visibility} · {formatBytes(r.size_bytes)} · last push {formatWhen(r.last_pushed_at)}
            </span>
          </li>
        ))}
      </ul>
    </section>
  );
}

/** `/code/:project/:name?ref=&path=`: a folder, and the README at the root. */
export function TreePage() {
  const { project, name, ref, path, base } = useRepo();
  const tree = useQuery({
    queryKey: ["repos", "tree", project, name, ref, path],
    queryFn: () => api.get<Tree>(`${base}/tree`, { ref, path }),
    retry: false,
  });
  const readme = useQuery({
    queryKey: ["repos", "readme", project, name, ref],
    queryFn: () => api.get<Readme>(`${base}/readme`, { ref }),
    enabled: path === "" && tree.isSuccess,
    retry: false,
  });
  const repo = useQuery({ queryKey: ["repos", "repo", project, name], queryFn: () => api.get<Repo>(base) });
  const at = ref || tree.data?.ref || "";
  const empty = tree.error && repo.data && !repo.data.last_pushed_at && !ref;
  return (
    <div className="space-y-4">
      <Header project={project} name={name} current={path || "files"} />
      <div className="flex flex-wrap items-center justify-between gap-2">
        <RefPicker project={project} name={name} value={ref} tail="" path={path} />
        <span className="flex gap-3 text-sm">
          <Link to={repoPage(project, name, "/commits", { ref, path })} className="underline">
            History
          </Link>
          <Link to={repoPage(project, name, "/compare", { head: ref })} className="underline">
            Compare
          </Link>
          <Link to={repoPage(project, name, "/pulls")} className="underline">
            Pull requests
          </Link>
        </span>
      </div>
      <PathCrumbs project={project} name={name} at={ref} path={path} />
      {empty && repo.data ? (
        <EmptyState title="Nothing pushed yet">
          <Snippet title="Push a branch" text={`git push ${repo.data.clone_url} HEAD:${repo.data.default_branch}`} />
        </EmptyState>
      ) : tree.error ? (
        <ErrorMessage error={tree.error} />
      ) : null}
      {tree.data ? (
        <table className="w-full text-sm" aria-label="Files">
          <thead className="sr-only">
            <tr>
              <th>Name</th>
              <th>Size</th>
            </tr>
          </thead>
          <tbody className="divide-y divide-slate-200 dark:divide-slate-800">
            {tree.data.entries.map((e) => (
              <tr key={e.path}>
                <td className="break-all py-1">
                  {e.type === "tree" ? (
                    <Link to={repoPage(project, name, "", { ref: at, path: e.path })} className="font-medium underline">
                      {e.name}/
                    </Link>
                  ) : e.type === "blob" ? (
                    <Link to={repoPage(project, name, "/file", { ref: at, path: e.path })} className="underline">
                      {e.name}
                    </Link>
                  ) : (
                    <span>
                      {e.name} <span className="text-xs text-slate-500">(submodule {shortDigest(e.sha)})</span>
                    </span>
                  )}
                </td>
                <td className="py-1 text-right tabular-nums text-slate-500">{e.size === null ? "" : formatBytes(e.size)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {readme.data ? (
        <section aria-label="README" className="rounded border border-slate-200 p-4 dark:border-slate-800">
          <h2 className="mb-2 text-sm font-semibold">{readme.data.path}</h2>
          {readme.data.text === null ? (
            <p className="text-sm">Too large to show.</p>
          ) : readme.data.format === "markdown" ? (
            <Markdown text={readme.data.text} />
          ) : (
            <pre className="whitespace-pre-wrap text-sm">{readme.data.text}</pre>
          )}
        </section>
      ) : null}
    </div>
  );
}

/** `/code/:project/:name/file?ref=&path=`: one file, with line numbers; binary and large files
 * are offered as a download. */
export function FilePage() {
  const { project, name, ref, path, base } = useRepo();
  const file = useQuery({
    queryKey: ["repos", "file", project, name, ref, path],
    queryFn: () => api.get<FileView>(`${base}/file`, { ref, path }),
    retry: false,
  });
  const f = file.data;
  const raw = f ? `${base}/raw?${new URLSearchParams({ ref: f.commit, path: f.path }).toString()}` : "";
  const lines = f?.text?.replace(/\n$/, "").split("\n") ?? [];
  return (
    <div className="space-y-4">
      <Header project={project} name={name} current={path} />
      <div className="flex flex-wrap items-center justify-between gap-2">
        <RefPicker project={project} name={name} value={ref} tail="/file" path={path} />
        <Link to={repoPage(project, name, "/commits", { ref, path })} className="text-sm underline">
          History of this file
        </Link>
      </div>
      <PathCrumbs project={project} name={name} at={ref} path={path} />
      {file.error ? <ErrorMessage error={file.error} /> : null}
      {f ? (
        <section aria-label="File" className="space-y-2">
          <p className="flex flex-wrap gap-3 text-xs text-slate-500 dark:text-slate-400">
            <span>{formatBytes(f.size)}</span>
            {f.language ? <span>{f.language}</span> : null}
            <a href={raw} className="underline">
              Raw
            </a>
            <a href={`${raw}&download=true`} className="underline">
              Download
            </a>
            {f.text !== null ? (
              <Link to={repoPage(project, name, "/blame", { ref, path })} className="underline">
                Blame
              </Link>
            ) : null}
          </p>
          {f.text === null ? (
            <EmptyState title={f.binary ? "A binary file" : "Too large to show"}>
              <a href={`${raw}&download=true`} className="underline">
                Download {f.name}
              </a>
            </EmptyState>
          ) : (
            <div className="overflow-x-auto rounded border border-slate-200 dark:border-slate-800">
              <table className="font-mono text-xs" data-language={f.language ?? undefined}>
                <tbody>
                  {lines.map((line, i) => (
                    <tr key={i}>
                      <td className="select-none px-2 text-right text-slate-400">{i + 1}</td>
                      <td className="whitespace-pre px-2">{line}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </section>
      ) : null}
    </div>
  );
}

const PAGE = 30;

/** `/code/:project/:name/commits?ref=&path=&offset=`: the history, newest first. */
export function CommitsPage() {
  const { project, name, ref, path, base } = useRepo();
  const [search] = useSearchParams();
  const offset = Number(search.get("offset") ?? "0") || 0;
  const history = useQuery({
    queryKey: ["repos", "commits", project, name, ref, path, offset],
    queryFn: () => api.get<History>(`${base}/commits`, { ref, path, limit: PAGE, offset }),
    retry: false,
  });
  const next = offset + PAGE;
  return (
    <div className="space-y-4">
      <Header project={project} name={name} current="history" />
      <RefPicker project={project} name={name} value={ref} tail="/commits" path={path} />
      <h2 className="font-semibold">{path ? <>History of <Code>{path}</Code></> : "History"}</h2>
      {history.error ? <ErrorMessage error={history.error} /> : null}
      <ul aria-label="Commits" className="divide-y divide-slate-200 dark:divide-slate-800">
        {history.data?.items.map((c) => (
          <li key={c.sha} className="flex flex-wrap items-baseline justify-between gap-2 py-2">
            <Link to={repoPage(project, name, `/commits/${c.sha}`)} className="min-w-0 break-words underline">
              {c.subject || "(no message)"}
            </Link>
            <span className="text-xs text-slate-500 dark:text-slate-400">
              {c.author.name} · {formatWhen(c.author.date)} · <code>{shortDigest(c.sha, 10)}</code>
            </span>
          </li>
        ))}
      </ul>
      {history.data && history.data.total > next ? (
        <Link to={repoPage(project, name, "/commits", { ref, path, offset: String(next) })} className="text-sm underline">
          Older commits
        </Link>
      ) : null}
    </div>
  );
}

/** `/code/:project/:name/commits/:sha`: a commit, its message and its diff. */
export function CommitPage() {
  const { project, name, base } = useRepo();
  const { sha = "" } = useParams();
  const commit = useQuery({
    queryKey: ["repos", "commit", project, name, sha],
    queryFn: () => api.get<CommitDetail>(`${base}/commits/${encodeURIComponent(sha)}`),
    retry: false,
  });
  const c = commit.data;
  return (
    <div className="space-y-4">
      <Header project={project} name={name} current={`commit ${shortDigest(sha, 10)}`} />
      {commit.error ? <ErrorMessage error={commit.error} /> : null}
      {c ? (
        <>
          <section aria-label="Commit" className="space-y-1">
            <h2 className="break-words font-semibold">{c.subject}</h2>
            <pre className="whitespace-pre-wrap break-words text-sm">{c.message.split("\n").slice(1).join("\n").trim()}</pre>
            <p className="text-xs text-slate-500 dark:text-slate-400">
              {c.author.name} &lt;{c.author.email}&gt; · {formatWhen(c.author.date)} · <code>{c.sha}</code>
            </p>
            <p className="text-sm">
              {c.diff.stats.files} {c.diff.stats.files === 1 ? "file" : "files"} changed,{" "}
              <span className="text-green-700 dark:text-green-400">+{c.diff.stats.additions}</span>{" "}
              <span className="text-red-700 dark:text-red-400">−{c.diff.stats.deletions}</span>
              {c.diff.truncated ? " (the diff is cut short: too large)" : ""}
            </p>
          </section>
          <DiffFiles project={project} name={name} at={c.sha} diff={c.diff} />
        </>
      ) : null}
    </div>
  );
}

/** `/code/:project/:name/blame?ref=&path=`: each line with the commit that last changed it. */
export function BlamePage() {
  const { project, name, ref, path, base } = useRepo();
  const blame = useQuery({
    queryKey: ["repos", "blame", project, name, ref, path],
    queryFn: () => api.get<Blame>(`${base}/blame`, { ref, path }),
    retry: false,
  });
  const b = blame.data;
  return (
    <div className="space-y-4">
      <Header project={project} name={name} current={`blame of ${path}`} />
      <PathCrumbs project={project} name={name} at={ref} path={path} />
      <h2 className="font-semibold">
        Blame of <Code>{path}</Code>
      </h2>
      {blame.error ? <ErrorMessage error={blame.error} /> : null}
      {b ? (
        <div className="overflow-x-auto rounded border border-slate-200 dark:border-slate-800">
          <table aria-label="Blame" className="font-mono text-xs">
            <tbody>
              {b.ranges.map((r) => {
                const who = b.commits[r.commit];
                return b.lines.slice(r.start - 1, r.start - 1 + r.count).map((line, i) => (
                  <tr key={r.start + i} className={i === 0 ? "border-t border-slate-200 dark:border-slate-800" : ""}>
                    <td className="max-w-64 truncate px-2 align-top font-sans text-slate-500">
                      {i === 0 && who ? (
                        <Link to={repoPage(project, name, `/commits/${r.commit}`)} className="underline" title={who.summary}>
                          {shortDigest(r.commit, 8)} {who.author} · {formatWhen(who.date)}
                        </Link>
                      ) : null}
                    </td>
                    <td className="select-none px-2 text-right text-slate-400">{r.start + i}</td>
                    <td className="whitespace-pre px-2">{line}</td>
                  </tr>
                ));
              })}
            </tbody>
          </table>
        </div>
      ) : null}
    </div>
  );
}

/** `/code/:project/:name/compare?base=&head=`: what head has that base has not. */
export function ComparePage() {
  const { project, name, base: apiBase } = useRepo();
  const [search] = useSearchParams();
  const navigate = useNavigate();
  const branches = useQuery({
    queryKey: ["repos", "branches", project, name],
    queryFn: () => api.get<Page<Branch>>(`${apiBase}/branches`, { limit: 500 }),
  });
  const fallback = branches.data?.items.find((b) => b.default)?.name ?? "";
  const base = search.get("base") || fallback;
  const head = search.get("head") || fallback;
  const compared = useQuery({
    queryKey: ["repos", "compare", project, name, base, head],
    queryFn: () => api.get<Comparison>(`${apiBase}/compare`, { base, head }),
    enabled: Boolean(base && head),
    retry: false,
  });
  const pick = (side: "base" | "head", value: string) =>
    navigate(repoPage(project, name, "/compare", { base, head, [side]: value }));
  const c = compared.data;
  return (
    <div className="space-y-4">
      <Header project={project} name={name} current="compare" />
      <div className="flex flex-wrap gap-4">
        {(["base", "head"] as const).map((side) => (
          <label key={side} className="text-sm">
            <span className="mr-2">{side === "base" ? "Base" : "Compare"}</span>
            <select className={INPUT} value={side === "base" ? base : head} onChange={(e) => pick(side, e.target.value)}>
              {branches.data?.items.map((b) => (
                <option key={b.name} value={b.name}>
                  {b.name}
                </option>
              ))}
            </select>
          </label>
        ))}
      </div>
      {compared.error ? <ErrorMessage error={compared.error} /> : null}
      {c ? (
        <>
          <p className="text-sm">
            {c.head} is {c.ahead} {c.ahead === 1 ? "commit" : "commits"} ahead of and {c.behind} behind {c.base}
            {c.merge_base ? "" : " (the histories are unrelated)"}.
          </p>
          <ul aria-label="Commits" className="divide-y divide-slate-200 dark:divide-slate-800">
            {c.commits.map((commit) => (
              <li key={commit.sha} className="py-1 text-sm">
                <Link to={repoPage(project, name, `/commits/${commit.sha}`)} className="underline">
                  {commit.subject || "(no message)"}
                </Link>{" "}
                <span className="text-xs text-slate-500">{commit.author.name}</span>
              </li>
            ))}
          </ul>
          <DiffFiles project={project} name={name} at={head} diff={c.diff} />
        </>
      ) : null}
    </div>
  );
}
