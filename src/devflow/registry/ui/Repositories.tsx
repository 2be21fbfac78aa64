/** Repositories per format, and a form that creates one (PyPI and npm; OCI repositories are
 * created by their first push). */

import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Link, useNavigate, useSearchParams } from "react-router-dom";

import {
  api,
  BUTTON,
  Code,
  EmptyState,
  ErrorMessage,
  Field,
  INPUT,
  useSession,
} from "@devflow/ui";

import { Breadcrumbs, FORMAT_LABEL, FORMATS, repositoryPath, useRepositories } from "./parts";
import type { Repository } from "./types";

function CreateRepository() {
  const { projects, project } = useSession();
  const client = useQueryClient();
  const navigate = useNavigate();
  const [name, setName] = useState("");
  const [format, setFormat] = useState("pypi");
  const [visibility, setVisibility] = useState("private");
  const [owner, setOwner] = useState(project ?? "");
  const [description, setDescription] = useState("");
  const create = useMutation({
    mutationFn: () =>
      api.post<Repository>("/api/v1/registry/repositories", {
        name: name.trim(),
        format,
        visibility,
        project: owner || null,
        description,
      }),
    onSuccess: async (repo) => {
      await client.invalidateQueries({ queryKey: ["registry"] });
      navigate(repositoryPath(repo.name));
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    create.mutate();
  };
  return (
    <details className="rounded-lg border border-slate-200 bg-white p-4 dark:border-slate-800 dark:bg-slate-900">
      <summary className="cursor-pointer font-medium">Create a repository</summary>
      <form onSubmit={submit} className="mt-3 grid gap-3 sm:grid-cols-2">
        <Field label="Name" hint="Lower-case letters, digits, '.', '_' and '-'; part of every client URL.">
          <input
            className={INPUT}
            required
            pattern="[a-z0-9]([a-z0-9._\-]*[a-z0-9])?"
            maxLength={64}
            value={name}
            onChange={(e) => setName(e.target.value)}
          />
        </Field>
        <Field label="Format" hint="OCI image repositories are created by the first docker or helm push.">
          <select className={INPUT} value={format} onChange={(e) => setFormat(e.target.value)}>
            <option value="pypi">PyPI</option>
            <option value="npm">npm</option>
          </select>
        </Field>
        <Field label="Visibility" hint="Internal: every signed-in user may install; public: anyone.">
          <select className={INPUT} value={visibility} onChange={(e) => setVisibility(e.target.value)}>
            <option value="private">private</option>
            <option value="internal">internal</option>
            <option value="public">public</option>
          </select>
        </Field>
        <Field label="Project" hint="You must administer it.">
          <select className={INPUT} value={owner} onChange={(e) => setOwner(e.target.value)}>
            <option value="">default</option>
            {projects
              .filter((p) => p.name !== "default")
              .map((p) => (
                <option key={p.id} value={p.name}>
                  {p.name}
                </option>
              ))}
          </select>
        </Field>
        <div className="sm:col-span-2">
          <Field label="Description">
            <input className={INPUT} maxLength={2000} value={description} onChange={(e) => setDescription(e.target.value)} />
          </Field>
        </div>
        <div className="sm:col-span-2 space-y-2">
          <button type="submit" className={BUTTON} disabled={create.isPending}>
            {create.isPending ? "Creating…" : "Create"}
          </button>
          {create.error ? <ErrorMessage error={create.error} /> : null}
        </div>
      </form>
    </details>
  );
}

function RepositoryItem({ repo }: { repo: Repository }) {
  return (
    <li className="flex flex-wrap items-baseline justify-between gap-2 py-2">
      <span className="min-w-0">
        <Link to={repositoryPath(repo.name)} className="break-all font-medium underline">
          {repo.name}
        </Link>
        {repo.description ? (
          <span className="ml-2 text-sm text-slate-600 dark:text-slate-400">{repo.description}</span>
        ) : null}
      </span>
      <span className="text-xs text-slate-500 dark:text-slate-400">
        {repo.visibility} · project {repo.project}
      </span>
    </li>
  );
}

export function Repositories() {
  const { project, canWrite } = useSession();
  const repositories = useRepositories();
  const [params, setParams] = useSearchParams();
  const only = params.get("format") ?? "";
  const items = (repositories.data?.items ?? []).filter(
    (r) => (project === null || r.project === project) && (!only || r.format === only),
  );
  return (
    <div className="space-y-4">
      <Breadcrumbs items={[{ label: "Registry" }]} />
      <div className="flex flex-wrap items-end justify-between gap-3">
        <h1 className="text-xl font-semibold">Package registry</h1>
        <label className="text-sm">
          <span className="mr-2">Format</span>
          <select
            className="rounded border border-slate-300 bg-white px-2 py-1 text-sm dark:border-slate-700 dark:bg-slate-900"
            value={only}
            onChange={(e) => setParams(e.target.value ? { format: e.target.value } : {})}
          >
            <option value="">all</option>
            {FORMATS.map((f) => (
              <option key={f} value={f}>
                {FORMAT_LABEL[f]}
              </option>
            ))}
          </select>
        </label>
      </div>
      {canWrite ? <CreateRepository /> : null}
      {repositories.error ? <ErrorMessage error={repositories.error} retry={() => void repositories.refetch()} /> : null}
      {repositories.isPending ? <p className="text-sm text-slate-500">Loading…</p> : null}
      {repositories.data && items.length === 0 ? (
        <EmptyState title={only ? `No ${FORMAT_LABEL[only] ?? only} repositories` : "No repositories yet"}>
          Create one above or from a terminal, <Code>devflow registry create py --format pypi</Code>; an OCI
          repository appears with its first push (<Code>docker push HOST/{project ?? "default"}/app:v1</Code>).
        </EmptyState>
      ) : null}
      {FORMATS.filter((f) => items.some((r) => r.format === f)).map((format) => (
        <section key={format} aria-labelledby={`registry-${format}`} className="rounded-lg border border-slate-200 bg-white px-4 py-2 dark:border-slate-800 dark:bg-slate-900">
          <h2 id={`registry-${format}`} className="text-sm font-semibold text-slate-600 dark:text-slate-300">
            {FORMAT_LABEL[format]}
          </h2>
          <ul className="divide-y divide-slate-200 dark:divide-slate-800">
            {items
              .filter((r) => r.format === format)
              .map((repo) => (
                <RepositoryItem key={repo.id} repo={repo} />
              ))}
          </ul>
        </section>
      ))}
    </div>
  );
}
