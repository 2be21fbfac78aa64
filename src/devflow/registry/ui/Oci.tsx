/** OCI repositories: their tags (digest, size, when pushed; removal for project admins), every
 * manifest tagged or not, and one manifest in full (config and layers, an index's platforms, a
 * chart's Chart.yaml) with the commands that pull it. Everything a pusher wrote is shown as text. */

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Link } from "react-router-dom";

import {
  api,
  ConfirmButton,
  EmptyState,
  ErrorMessage,
  formatBytes,
  formatCount,
  formatWhen,
  SECONDARY,
  shortDigest,
  Snippet,
  useRefetchOn,
  useSession,
  type Page,
} from "@devflow/ui";

import { Breadcrumbs, Digest, repositoryPath } from "./parts";
import { repositoryApi } from "./RepositoryView";
import { manifestSnippets } from "./snippets";
import type { Descriptor, ManifestDetail, ManifestKind, OciImage, OciTag, Platform, Repository } from "./types";

const PAGE = 50;

export function ociApi(name: string): string {
  return `/api/v1/registry/oci/${name.split("/").map(encodeURIComponent).join("/")}`;
}

/** A client path to one manifest of an OCI repository, by tag or digest. */
export function manifestPath(repository: string, reference: string): string {
  return `${repositoryPath(repository)}/-/manifests/${encodeURIComponent(reference)}`;
}

export function platformText(platform: Platform | null): string | null {
  if (!platform || (!platform.os && !platform.architecture)) return null;
  return [platform.os ?? "?", platform.architecture ?? "?", platform.variant].filter(Boolean).join("/");
}

function KindBadge({ kind }: { kind: ManifestKind }) {
  return (
    <span className="rounded bg-slate-100 px-1.5 text-xs text-slate-700 dark:bg-slate-800 dark:text-slate-200">{kind}</span>
  );
}

function Pager({ offset, total, onChange, label }: { offset: number; total: number; onChange: (offset: number) => void; label: string }) {
  if (total <= PAGE) return null;
  const last = Math.min(offset + PAGE, total);
  return (
    <nav aria-label={`${label} pages`} className="flex items-center gap-2 text-sm">
      <button type="button" className={SECONDARY} disabled={offset === 0} onClick={() => onChange(Math.max(0, offset - PAGE))}>
        Previous
      </button>
      <span className="tabular-nums text-slate-600 dark:text-slate-400">
        {formatCount(offset + 1)}–{formatCount(last)} of {formatCount(total)}
      </span>
      <button type="button" className={SECONDARY} disabled={last >= total} onClick={() => onChange(offset + PAGE)}>
        Next
      </button>
    </nav>
  );
}

function RemoveTag({ repo, tag }: { repo: Repository; tag: string }) {
  const client = useQueryClient();
  const remove = useMutation({
    mutationFn: () => api.delete<undefined>(`${ociApi(repo.name)}/tags/${encodeURIComponent(tag)}`),
    onSuccess: () => client.invalidateQueries({ queryKey: ["registry"] }),
  });
  return (
    <span className="flex flex-wrap items-center gap-2">
      <ConfirmButton
        label={`Remove tag ${tag}`}
        question={`Remove tag ${tag}? The image stays, pullable by digest.`}
        confirm="Remove tag"
        busy={remove.isPending}
        onConfirm={() => remove.mutate()}
      />
      {remove.error ? <ErrorMessage error={remove.error} /> : null}
    </span>
  );
}

/** The tags of an OCI repository, last pushed first. */
export function Tags({ repo }: { repo: Repository }) {
  const { canWrite } = useSession();
  const [offset, setOffset] = useState(0);
  const tags = useQuery({
    queryKey: ["registry", "oci-tags", repo.name, offset],
    queryFn: () => api.get<Page<OciTag>>(`${ociApi(repo.name)}/tags`, { offset, limit: PAGE }),
  });
  useRefetchOn([["registry"]], (event) => event.type.startsWith("registry."));
  return (
    <section aria-labelledby="tags" className="space-y-2">
      <h2 id="tags" className="font-semibold">
        Tags{tags.data ? ` (${formatCount(tags.data.total)})` : ""}
      </h2>
      {tags.error ? <ErrorMessage error={tags.error} retry={() => void tags.refetch()} /> : null}
      {tags.data?.total === 0 ? (
        <EmptyState title="No tags yet">Push an image (below); each tag it is pushed with shows here.</EmptyState>
      ) : null}
      <ul aria-label="Tags" className="divide-y divide-slate-200 dark:divide-slate-800">
        {tags.data?.items.map((t) => (
          <li key={t.name} className="flex flex-wrap items-center justify-between gap-2 py-2 text-sm">
            <span className="flex min-w-0 flex-wrap items-center gap-2">
              <Link to={manifestPath(repo.name, t.name)} className="break-all font-medium underline">
                {t.name}
              </Link>
              <KindBadge kind={t.kind} />
            </span>
            <span className="flex flex-wrap items-center gap-3 tabular-nums text-slate-600 dark:text-slate-400">
              <Digest value={t.digest} />
              <span title={t.media_type}>{formatBytes(t.size)}</span>
              <span title={`first pushed ${formatWhen(t.created_at)}`}>pushed {formatWhen(t.pushed_at)}</span>
              {canWrite ? <RemoveTag repo={repo} tag={t.name} /> : null}
            </span>
          </li>
        ))}
      </ul>
      {tags.data ? <Pager offset={offset} total={tags.data.total} onChange={setOffset} label="Tags" /> : null}
    </section>
  );
}

/** Every manifest of an OCI repository, tagged or not (platforms of an index, signatures …). */
export function Images({ repo }: { repo: Repository }) {
  const [offset, setOffset] = useState(0);
  const images = useQuery({
    queryKey: ["registry", "oci-images", repo.name, offset],
    queryFn: () => api.get<Page<OciImage>>(`${ociApi(repo.name)}/images`, { offset, limit: PAGE }),
  });
  if (images.error) return <ErrorMessage error={images.error} />;
  if (!images.data || images.data.total === 0) return null;
  return (
    <details className="rounded-lg border border-slate-200 p-3 dark:border-slate-800">
      <summary className="cursor-pointer font-semibold">All manifests ({formatCount(images.data.total)}), tagged or not</summary>
      <ul aria-label="Manifests" className="mt-2 divide-y divide-slate-200 dark:divide-slate-800">
        {images.data.items.map((m) => (
          <li key={m.digest} className="flex flex-wrap items-center justify-between gap-2 py-2 text-sm">
            <span className="flex min-w-0 flex-wrap items-center gap-2">
              <Link to={manifestPath(repo.name, m.digest)} className="font-mono text-xs underline" title={m.digest}>
                {shortDigest(m.digest)}
              </Link>
              <KindBadge kind={m.kind} />
              <span className="text-slate-600 dark:text-slate-400">
                {m.tags.length ? m.tags.join(", ") : m.indexes.length ? "a platform of an index" : m.subject ? "refers to another manifest" : "untagged"}
              </span>
            </span>
            <span className="flex flex-wrap items-center gap-3 tabular-nums text-slate-600 dark:text-slate-400">
              <span>{formatBytes(m.size)}</span>
              <span>{formatWhen(m.created_at)}</span>
            </span>
          </li>
        ))}
      </ul>
      <Pager offset={offset} total={images.data.total} onChange={setOffset} label="Manifests" />
    </details>
  );
}

function Blobs({ title, items }: { title: string; items: Descriptor[] }) {
  const total = items.reduce((sum, d) => sum + (d.size ?? 0), 0);
  return (
    <section aria-labelledby={`blobs-${title}`} className="space-y-1">
      <h2 id={`blobs-${title}`} className="font-semibold">
        {title} ({items.length}, {formatBytes(total)})
      </h2>
      <ol className="divide-y divide-slate-200 dark:divide-slate-800">
        {items.map((d, i) => (
          <li key={`${d.digest}-${i}`} className="flex flex-wrap items-center justify-between gap-2 py-1 text-sm">
            <span className="break-all font-mono text-xs text-slate-600 dark:text-slate-400">{d.media_type ?? "no media type"}</span>
            <span className="flex flex-wrap items-center gap-3 tabular-nums">
              <span>{d.size === null ? "—" : formatBytes(d.size)}</span>
              <Digest value={d.digest} />
            </span>
          </li>
        ))}
      </ol>
    </section>
  );
}

function Facts({ items }: { items: [string, string | null | undefined][] }) {
  const shown = items.filter((item): item is [string, string] => Boolean(item[1]));
  if (shown.length === 0) return null;
  return (
    <dl className="grid grid-cols-[max-content_1fr] gap-x-4 gap-y-1 text-sm">
      {shown.map(([term, value]) => (
        <div key={term} className="contents">
          <dt className="text-slate-600 dark:text-slate-400">{term}</dt>
          <dd className="break-all">{value}</dd>
        </div>
      ))}
    </dl>
  );
}

function Platforms({ repository, entries }: { repository: string; entries: ManifestDetail["manifests"] }) {
  return (
    <section aria-labelledby="platforms" className="space-y-1">
      <h2 id="platforms" className="font-semibold">
        Platforms ({entries.length})
      </h2>
      <ul className="divide-y divide-slate-200 dark:divide-slate-800">
        {entries.map((entry) => (
          <li key={entry.digest} className="flex flex-wrap items-center justify-between gap-2 py-1 text-sm">
            <Link to={manifestPath(repository, entry.digest)} className="font-medium underline">
              {platformText(entry.platform) ?? entry.artifact_type ?? "no platform"}
            </Link>
            <span className="flex flex-wrap items-center gap-3 tabular-nums">
              <span>{entry.size === null ? "—" : formatBytes(entry.size)}</span>
              <Digest value={entry.digest} />
            </span>
          </li>
        ))}
      </ul>
    </section>
  );
}

function ManifestBody({ repo, detail }: { repo: Repository | undefined; detail: ManifestDetail }) {
  const annotations = Object.entries(detail.annotations);
  return (
    <>
      <Facts
        items={[
          ["Digest", detail.digest],
          ["Media type", detail.media_type],
          ["Artifact type", detail.artifact_type],
          ["Platform", platformText(detail.platform)],
          ["Image created", detail.image_created],
          ["Refers to", detail.subject],
        ]}
      />
      {detail.problem ? <p className="text-sm text-red-700 dark:text-red-300">{detail.problem}</p> : null}
      {repo ? (
        <section aria-labelledby="pull" className="space-y-2 rounded-lg border border-slate-200 bg-white p-4 dark:border-slate-800 dark:bg-slate-900">
          <h2 id="pull" className="font-semibold">
            Pull
          </h2>
          {manifestSnippets(repo, window.location.origin, {
            digest: detail.digest,
            tags: detail.tags,
            kind: detail.kind,
            chartVersion: detail.chart?.version ?? null,
          }).map((s) => (
            <Snippet key={s.title} title={s.title} text={s.text} {...(s.note ? { note: s.note } : {})} />
          ))}
        </section>
      ) : null}
      {detail.chart ? (
        <section aria-labelledby="chart" className="space-y-1">
          <h2 id="chart" className="font-semibold">
            Helm chart
          </h2>
          <Facts
            items={[
              ["Name", detail.chart.name],
              ["Version", detail.chart.version],
              ["App version", detail.chart.app_version],
              ["Description", detail.chart.description],
              ["API version", detail.chart.api_version],
              ["Type", detail.chart.type],
            ]}
          />
          {detail.chart.problem ? <p className="text-sm text-red-700 dark:text-red-300">{detail.chart.problem}</p> : null}
        </section>
      ) : null}
      {detail.manifests.length ? <Platforms repository={detail.repository} entries={detail.manifests} /> : null}
      {detail.config ? <Blobs title="Config" items={[detail.config]} /> : null}
      {detail.kind !== "index" ? <Blobs title="Layers" items={detail.layers} /> : null}
      {annotations.length ? (
        <section aria-labelledby="annotations" className="space-y-1">
          <h2 id="annotations" className="font-semibold">
            Annotations
          </h2>
          <Facts items={annotations} />
        </section>
      ) : null}
      {detail.referrers.length ? (
        <section aria-labelledby="referrers" className="space-y-1">
          <h2 id="referrers" className="font-semibold">
            Referring to it (signatures, SBOMs …)
          </h2>
          <ul className="text-sm">
            {detail.referrers.map((r) => (
              <li key={r.digest} className="flex flex-wrap gap-2">
                <Link to={manifestPath(detail.repository, r.digest)} className="font-mono text-xs underline" title={r.digest}>
                  {shortDigest(r.digest)}
                </Link>
                <span className="text-slate-600 dark:text-slate-400">{r.artifact_type ?? r.media_type}</span>
              </li>
            ))}
          </ul>
        </section>
      ) : null}
    </>
  );
}

/** One manifest of an OCI repository, by tag or digest. */
export function ManifestView({ repository, reference }: { repository: string; reference: string }) {
  const repo = useQuery({
    queryKey: ["registry", "repository", repository],
    queryFn: () => api.get<Repository>(repositoryApi(repository)),
  });
  const manifest = useQuery({
    queryKey: ["registry", "oci-manifest", repository, reference],
    queryFn: () => api.get<ManifestDetail>(`${ociApi(repository)}/manifests/${encodeURIComponent(reference)}`),
  });
  const detail = manifest.data;
  const label = reference.includes(":") ? `@${shortDigest(reference)}` : `:${reference}`;
  return (
    <div className="space-y-5">
      <Breadcrumbs items={[{ label: "Registry", to: "/registry" }, { label: repository, to: repositoryPath(repository) }, { label: label.slice(1) }]} />
      {manifest.error ? <ErrorMessage error={manifest.error} retry={() => void manifest.refetch()} /> : null}
      {detail ? (
        <>
          <div className="space-y-1">
            <h1 className="break-all text-xl font-semibold">
              {repository}
              {label}
            </h1>
            <p className="flex flex-wrap items-center gap-2 text-sm text-slate-600 dark:text-slate-400">
              <KindBadge kind={detail.kind} />
              <span>
                {formatBytes(detail.size)} · first pushed {formatWhen(detail.created_at)} · tags{" "}
                {detail.tags.length ? detail.tags.join(", ") : "none"}
              </span>
            </p>
          </div>
          <ManifestBody repo={repo.data} detail={detail} />
        </>
      ) : null}
    </div>
  );
}
