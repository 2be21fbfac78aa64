/** Pieces the registry pages share: the section's heading, the repositories query, a digest,
 * a file row, the snippets of a repository and untrusted text. */

import { useQuery } from "@tanstack/react-query";
import { Link } from "react-router-dom";

import {
  api,
  CopyButton,
  formatBytes,
  formatCount,
  shortDigest,
  Snippet,
  useRefetchOn,
  type Page,
} from "@devflow/ui";

import type { MetaLink } from "./metadata";
import { snippetsFor } from "./snippets";
import type { PackageFile, Repository } from "./types";

export const FORMATS = ["pypi", "npm", "oci"] as const;
export const FORMAT_LABEL: Record<string, string> = { pypi: "PyPI", npm: "npm", oci: "OCI (images, Helm)" };

/** A client path to a repository (OCI names hold '/', kept as path segments). */
export function repositoryPath(name: string): string {
  return `/registry/repositories/${name.split("/").map(encodeURIComponent).join("/")}`;
}

export function packagePath(repository: string, name: string): string {
  return `${repositoryPath(repository)}/-/packages/${encodeURIComponent(name)}`;
}

/** Repositories the caller can read, refreshed on registry events. */
export function useRepositories() {
  const repositories = useQuery({
    queryKey: ["registry", "repositories"],
    queryFn: () => api.get<Page<Repository>>("/api/v1/registry/repositories"),
  });
  useRefetchOn([["registry"]], (event) => event.type.startsWith("registry."));
  return repositories;
}

export function Breadcrumbs({ items }: { items: { label: string; to?: string }[] }) {
  return (
    <nav aria-label="Breadcrumbs" className="text-sm text-slate-500 dark:text-slate-400">
      <ol className="flex flex-wrap gap-1">
        {items.map((item, i) => (
          <li key={`${item.label}-${i}`} className="flex gap-1">
            {i > 0 ? <span aria-hidden="true">/</span> : null}
            {item.to ? (
              <Link to={item.to} className="underline">
                {item.label}
              </Link>
            ) : (
              <span aria-current="page" className="break-all">
                {item.label}
              </span>
            )}
          </li>
        ))}
      </ol>
    </nav>
  );
}

/** A digest, shortened, with the full value in its title and on the copy button. */
export function Digest({ value }: { value: string }) {
  const full = value.includes(":") ? value : `sha256:${value}`;
  return (
    <span className="inline-flex items-center gap-1">
      <code title={full} className="font-mono text-xs">
        {shortDigest(full)}
      </code>
      <CopyButton value={full} label={`Copy digest ${full}`} />
    </span>
  );
}

export function FileRow({ file }: { file: PackageFile }) {
  return (
    <li className="flex flex-wrap items-center justify-between gap-2 py-1 text-sm">
      <span className="break-all font-mono text-xs">{file.filename}</span>
      <span className="flex flex-wrap items-center gap-3 tabular-nums text-slate-600 dark:text-slate-400">
        <span>{formatBytes(file.size)}</span>
        <Digest value={file.sha256} />
        <span>{formatCount(file.downloads)} downloads</span>
      </span>
    </li>
  );
}

/** Untrusted links from package metadata: http(s) only (metaLinks), opened without a referrer. */
export function MetaLinks({ links }: { links: MetaLink[] }) {
  if (links.length === 0) return null;
  return (
    <ul className="flex flex-wrap gap-3 text-sm">
      {links.map((link) => (
        <li key={link.href}>
          <a href={link.href} target="_blank" rel="noopener noreferrer nofollow" className="underline">
            {link.label}
          </a>
        </li>
      ))}
    </ul>
  );
}

/** A README or long description: shown as the text it is (no Markdown, no HTML). */
export function Readme({ text }: { text: string }) {
  return (
    <details className="rounded border border-slate-200 p-2 dark:border-slate-800">
      <summary className="cursor-pointer text-sm font-medium">Description</summary>
      <pre tabIndex={0} className="mt-2 max-h-96 overflow-auto whitespace-pre-wrap break-words font-sans text-sm">{text}</pre>
    </details>
  );
}

export function RepositorySnippets({ repository, pkg = null }: { repository: Repository; pkg?: string | null }) {
  const snippets = snippetsFor(repository, window.location.origin, pkg);
  return (
    <div className="space-y-3">
      {snippets.map((snippet) => (
        <Snippet key={snippet.title} title={snippet.title} text={snippet.text} {...(snippet.note ? { note: snippet.note } : {})} />
      ))}
    </div>
  );
}
