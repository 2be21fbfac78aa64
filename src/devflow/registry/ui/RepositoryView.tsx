/** One repository: where clients reach it, its packages (or, for OCI, its tags, manifests and
 * Helm charts), its visibility, and delete. */

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Link, useNavigate } from "react-router-dom";

import {
  api,
  Code,
  ConfirmButton,
  EmptyState,
  ErrorMessage,
  formatCount,
  formatWhen,
  INPUT,
  useSession,
  type Page,
} from "@devflow/ui";

import { Images, Tags } from "./Oci";
import { Breadcrumbs, Digest, FORMAT_LABEL, packagePath, RepositorySnippets } from "./parts";
import { firstPublish } from "./snippets";
import { HELM_CONFIG, type Chart, type Package, type Repository } from "./types";

export function repositoryApi(name: string): string {
  return `/api/v1/registry/repositories/${name.split("/").map(encodeURIComponent).join("/")}`;
}

function Packages({ repo }: { repo: Repository }) {
  const [q, setQ] = useState("");
  const packages = useQuery({
    queryKey: ["registry", "packages", repo.name, q],
    queryFn: () => api.get<Page<Package>>(`${repositoryApi(repo.name)}/packages`, { q }),
  });
  return (
    <section aria-labelledby="packages" className="space-y-2">
      <div className="flex flex-wrap items-end justify-between gap-2">
        <h2 id="packages" className="font-semibold">
          Packages
        </h2>
        <label className="text-sm">
          <span className="sr-only">Filter packages</span>
          <input className={INPUT} type="search" placeholder="Filter by name or summary" value={q} onChange={(e) => setQ(e.target.value)} />
        </label>
      </div>
      {packages.error ? <ErrorMessage error={packages.error} /> : null}
      {packages.data?.items.length === 0 ? (
        <EmptyState title={q ? "No package matches" : "No packages yet"}>{q ? "Try another word." : firstPublish(repo)}</EmptyState>
      ) : null}
      <ul className="divide-y divide-slate-200 dark:divide-slate-800">
        {packages.data?.items.map((p) => (
          <li key={p.name} className="flex flex-wrap items-baseline justify-between gap-2 py-2">
            <span className="min-w-0">
              <Link to={packagePath(repo.name, p.name)} className="break-all font-medium underline">
                {p.display_name || p.name}
              </Link>
              {p.summary ? <span className="ml-2 text-sm text-slate-600 dark:text-slate-400">{p.summary}</span> : null}
            </span>
            <span className="text-xs tabular-nums text-slate-500 dark:text-slate-400">
              {p.latest ?? "—"} · {formatCount(p.versions)} {p.versions === 1 ? "version" : "versions"} ·{" "}
              {formatCount(p.downloads)} downloads · {formatWhen(p.updated_at)}
            </span>
          </li>
        ))}
      </ul>
    </section>
  );
}

function Charts({ repo }: { repo: Repository }) {
  const charts = useQuery({
    queryKey: ["registry", "charts", repo.name],
    queryFn: () => api.get<Page<Chart>>(`/api/v1/registry/oci/${repo.name.split("/").map(encodeURIComponent).join("/")}/charts`),
  });
  return (
    <section aria-labelledby="charts" className="space-y-2">
      <h2 id="charts" className="font-semibold">
        Helm charts
      </h2>
      {charts.error ? <ErrorMessage error={charts.error} /> : null}
      {charts.data?.items.length === 0 ? (
        <EmptyState title="No Helm charts here">
          Images pushed with docker are listed by tag above; charts pushed with <Code>helm push</Code> are listed here.
        </EmptyState>
      ) : null}
      <ul className="divide-y divide-slate-200 dark:divide-slate-800">
        {charts.data?.items.map((c) => (
          <li key={c.digest} className="space-y-1 py-2 text-sm">
            <p className="flex flex-wrap items-baseline gap-2">
              <span className="font-medium">{c.name}</span>
              <span>{c.version}</span>
              {c.app_version ? <span className="text-slate-500">app {c.app_version}</span> : null}
              <span className="text-xs text-slate-500">tags: {c.tags.length ? c.tags.join(", ") : "none"}</span>
            </p>
            {c.description ? <p className="text-slate-600 dark:text-slate-400">{c.description}</p> : null}
            <p className="flex flex-wrap items-center gap-3 text-xs text-slate-500 dark:text-slate-400">
              <span>
                media type <code className="font-mono">{HELM_CONFIG}</code>
              </span>
              <Digest value={c.digest} />
              <span>{formatWhen(c.created_at)}</span>
            </p>
            {c.problem ? <p className="text-red-700 dark:text-red-300">{c.problem}</p> : null}
          </li>
        ))}
      </ul>
    </section>
  );
}

function Settings({ repo }: { repo: Repository }) {
  const client = useQueryClient();
  const navigate = useNavigate();
  const visibility = useMutation({
    mutationFn: (value: string) => api.request<Repository>("PATCH", repositoryApi(repo.name), { body: { visibility: value } }),
    onSuccess: () => client.invalidateQueries({ queryKey: ["registry"] }),
  });
  const remove = useMutation({
    mutationFn: () => api.delete<undefined>(repositoryApi(repo.name)),
    onSuccess: async () => {
      await client.invalidateQueries({ queryKey: ["registry"] });
      navigate("/registry");
    },
  });
  return (
    <section aria-label="Repository settings" className="flex flex-wrap items-center gap-4">
      <label className="text-sm">
        <span className="mr-2">Visibility</span>
        <select
          className="rounded border border-slate-300 bg-white px-2 py-1 text-sm dark:border-slate-700 dark:bg-slate-900"
          value={repo.visibility}
          disabled={visibility.isPending}
          onChange={(e) => visibility.mutate(e.target.value)}
        >
          <option value="private">private</option>
          <option value="internal">internal</option>
          <option value="public">public</option>
        </select>
      </label>
      <ConfirmButton
        label={`Delete repository ${repo.name}`}
        question={`Delete ${repo.name} with every package in it?`}
        confirm="Delete repository"
        busy={remove.isPending}
        onConfirm={() => remove.mutate()}
      />
      {visibility.error ? <ErrorMessage error={visibility.error} /> : null}
      {remove.error ? <ErrorMessage error={remove.error} /> : null}
    </section>
  );
}

export function RepositoryView({ name }: { name: string }) {
  const { canWrite } = useSession();
  const repository = useQuery({
    queryKey: ["registry", "repository", name],
    queryFn: () => api.get<Repository>(repositoryApi(name)),
  });
  const repo = repository.data;
  return (
    <div className="space-y-5">
      <Breadcrumbs items={[{ label: "Registry", to: "/registry" }, { label: name }]} />
      {repository.error ? <ErrorMessage error={repository.error} retry={() => void repository.refetch()} /> : null}
      {repo ? (
        <>
          <div>
            <h1 className="break-all text-xl font-semibold">{repo.name}</h1>
            <p className="text-sm text-slate-600 dark:text-slate-400">
              {FORMAT_LABEL[repo.format] ?? repo.format} · {repo.visibility} · project {repo.project}
              {repo.description ? ` · ${repo.description}` : ""}
            </p>
          </div>
          {canWrite ? <Settings repo={repo} /> : null}
          <section aria-labelledby="use" className="space-y-2 rounded-lg border border-slate-200 bg-white p-4 dark:border-slate-800 dark:bg-slate-900">
            <h2 id="use" className="font-semibold">
              Install and publish
            </h2>
            <RepositorySnippets repository={repo} />
          </section>
          {repo.format === "oci" ? (
            <>
              <Tags repo={repo} />
              <Images repo={repo} />
              <Charts repo={repo} />
            </>
          ) : (
            <Packages repo={repo} />
          )}
        </>
      ) : null}
    </div>
  );
}
