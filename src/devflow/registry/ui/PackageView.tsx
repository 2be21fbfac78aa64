/** One package: its versions with their files (size, digest), dependencies and tags; yank,
 * deprecate and delete where the API allows. Everything here was written by a publisher and is
 * shown as text. */

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { useNavigate } from "react-router-dom";

import { api, ConfirmButton, ErrorMessage, formatCount, formatWhen, SECONDARY, useSession } from "@devflow/ui";

import { metaLinks, readmeOf } from "./metadata";
import { Breadcrumbs, FileRow, MetaLinks, Readme, repositoryPath, RepositorySnippets } from "./parts";
import { repositoryApi } from "./RepositoryView";
import type { PackageDetail, Repository, Version } from "./types";

function packageApi(repository: string, name: string): string {
  return `${repositoryApi(repository)}/packages/${name.split("/").map(encodeURIComponent).join("/")}`;
}

function VersionActions({ repository, pkg, version }: { repository: string; pkg: string; version: Version }) {
  const client = useQueryClient();
  const base = `${packageApi(repository, pkg)}/versions/${encodeURIComponent(version.version)}`;
  const done = () => client.invalidateQueries({ queryKey: ["registry"] });
  const [reason, setReason] = useState("");
  const yank = useMutation({
    mutationFn: () => (version.yanked ? api.post<undefined>(`${base}/unyank`) : api.post<undefined>(`${base}/yank`, { reason })),
    onSuccess: done,
  });
  const remove = useMutation({ mutationFn: () => api.delete<undefined>(base), onSuccess: done });
  return (
    <div className="flex flex-wrap items-center gap-2">
      {version.yanked ? null : (
        <label className="text-xs">
          <span className="sr-only">Reason to yank {version.version}</span>
          <input
            className="w-40 rounded border border-slate-300 bg-white px-2 py-1 text-xs dark:border-slate-700 dark:bg-slate-900"
            placeholder="reason (optional)"
            value={reason}
            maxLength={1000}
            onChange={(e) => setReason(e.target.value)}
          />
        </label>
      )}
      <button
        type="button"
        className={SECONDARY}
        disabled={yank.isPending}
        title={version.yanked ? "Installers may pick it again" : "Installers skip it unless it is pinned"}
        onClick={() => yank.mutate()}
      >
        {version.yanked ? `Unyank ${version.version}` : `Yank ${version.version}`}
      </button>
      <ConfirmButton
        label={`Delete version ${version.version}`}
        question={`Delete ${pkg} ${version.version} and its files?`}
        confirm="Delete"
        busy={remove.isPending}
        onConfirm={() => remove.mutate()}
      />
      {yank.error ? <ErrorMessage error={yank.error} /> : null}
      {remove.error ? <ErrorMessage error={remove.error} /> : null}
    </div>
  );
}

function VersionItem({ repository, pkg, version, canWrite }: { repository: string; pkg: string; version: Version; canWrite: boolean }) {
  return (
    <li className="space-y-2 rounded-lg border border-slate-200 bg-white p-3 dark:border-slate-800 dark:bg-slate-900">
      <div className="flex flex-wrap items-start justify-between gap-2">
        <h3 className="flex flex-wrap items-baseline gap-2">
          <span className="font-medium">{version.version}</span>
          {version.yanked ? (
            <span className="rounded bg-amber-100 px-1.5 text-xs text-amber-900 dark:bg-amber-950 dark:text-amber-200">
              yanked{version.yanked_reason ? `: ${version.yanked_reason}` : ""}
            </span>
          ) : null}
          {version.deprecated ? (
            <span className="rounded bg-amber-100 px-1.5 text-xs text-amber-900 dark:bg-amber-950 dark:text-amber-200">
              deprecated: {version.deprecated}
            </span>
          ) : null}
          <span className="text-xs text-slate-500 dark:text-slate-400">
            {formatWhen(version.published_at)} · {formatCount(version.downloads)} downloads
          </span>
        </h3>
        {canWrite ? <VersionActions repository={repository} pkg={pkg} version={version} /> : null}
      </div>
      <ul aria-label={`Files of ${version.version}`} className="divide-y divide-slate-100 dark:divide-slate-800">
        {version.files.map((file) => (
          <FileRow key={file.filename} file={file} />
        ))}
      </ul>
      {version.dependencies.length > 0 ? (
        <p className="text-xs text-slate-600 dark:text-slate-400">
          depends on{" "}
          {version.dependencies.map((d) => `${d.name}${d.specifier ? ` ${d.specifier}` : ""}`).join(", ")}
        </p>
      ) : null}
    </li>
  );
}

export function PackageView({ repository, name }: { repository: string; name: string }) {
  const { canWrite } = useSession();
  const client = useQueryClient();
  const navigate = useNavigate();
  const repo = useQuery({
    queryKey: ["registry", "repository", repository],
    queryFn: () => api.get<Repository>(repositoryApi(repository)),
  });
  const pkg = useQuery({
    queryKey: ["registry", "package", repository, name],
    queryFn: () => api.get<PackageDetail>(packageApi(repository, name)),
  });
  const remove = useMutation({
    mutationFn: () => api.delete<undefined>(packageApi(repository, name)),
    onSuccess: async () => {
      await client.invalidateQueries({ queryKey: ["registry"] });
      navigate(repositoryPath(repository));
    },
  });
  const detail = pkg.data;
  const newest = detail?.version_list[detail.version_list.length - 1];
  const readme = newest ? readmeOf(newest.files) : null;
  const links = newest ? newest.files.flatMap((f) => metaLinks(f.meta)) : [];
  const tags = Object.entries(detail?.tags ?? {});
  return (
    <div className="space-y-5">
      <Breadcrumbs items={[{ label: "Registry", to: "/registry" }, { label: repository, to: repositoryPath(repository) }, { label: name }]} />
      {pkg.error ? <ErrorMessage error={pkg.error} retry={() => void pkg.refetch()} /> : null}
      {detail ? (
        <>
          <div className="flex flex-wrap items-start justify-between gap-2">
            <div className="min-w-0 space-y-1">
              <h1 className="break-all text-xl font-semibold">{detail.display_name || detail.name}</h1>
              {detail.summary ? <p className="text-slate-700 dark:text-slate-300">{detail.summary}</p> : null}
              <p className="text-sm text-slate-500 dark:text-slate-400">
                latest {detail.latest ?? "—"} · {formatCount(detail.downloads)} downloads
                {tags.length ? ` · tags ${tags.map(([tag, v]) => `${tag} → ${v}`).join(", ")}` : ""}
              </p>
              <MetaLinks links={links} />
            </div>
            {canWrite ? (
              <ConfirmButton
                label={`Delete package ${detail.name}`}
                question={`Delete ${detail.name} with every version?`}
                confirm="Delete package"
                busy={remove.isPending}
                onConfirm={() => remove.mutate()}
              />
            ) : null}
          </div>
          {remove.error ? <ErrorMessage error={remove.error} /> : null}
          {readme ? <Readme text={readme} /> : null}
          {repo.data ? (
            <section aria-labelledby="use" className="space-y-2 rounded-lg border border-slate-200 bg-white p-4 dark:border-slate-800 dark:bg-slate-900">
              <h2 id="use" className="font-semibold">
                Install and publish
              </h2>
              <RepositorySnippets repository={repo.data} pkg={detail.name} />
            </section>
          ) : null}
          <section aria-labelledby="versions" className="space-y-2">
            <h2 id="versions" className="font-semibold">
              Versions
            </h2>
            <ul className="space-y-2">
              {[...detail.version_list].reverse().map((v) => (
                <VersionItem key={v.version} repository={repository} pkg={detail.name} version={v} canWrite={canWrite} />
              ))}
            </ul>
          </section>
        </>
      ) : null}
    </div>
  );
}
