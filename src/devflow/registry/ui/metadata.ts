/** Package metadata is whatever a publisher uploaded: names, summaries, READMEs and URLs are
 * untrusted. The pages show it as React text nodes only (never as HTML) and link a URL only when
 * it is http(s). */

import { safeHref } from "@devflow/ui";

export interface MetaLink {
  label: string;
  href: string;
}

const URL_KEY = /(url|home_?page|homepage|repository|bugs|documentation|source)/i;

function urlOf(value: unknown): string | null {
  if (typeof value === "string") return value;
  // npm writes {"type": "git", "url": "…"} for a repository, {"url": …} for bugs.
  if (typeof value === "object" && value !== null && typeof (value as { url?: unknown }).url === "string") {
    return (value as { url: string }).url;
  }
  return null;
}

/** The links worth showing from a file's metadata: http(s) only, each once. `project_urls`
 * (PyPI's "Label, https://…" list or a mapping) gives its own labels. */
export function metaLinks(meta: Record<string, unknown>): MetaLink[] {
  const links: MetaLink[] = [];
  const seen = new Set<string>();
  const add = (label: string, raw: string | null): void => {
    const href = raw === null ? null : safeHref(raw.trim().replace(/^git\+/, ""));
    if (href && !seen.has(href)) {
      seen.add(href);
      links.push({ label: label.slice(0, 60), href });
    }
  };
  for (const [key, value] of Object.entries(meta)) {
    if (key === "project_urls") {
      if (Array.isArray(value)) {
        for (const entry of value) {
          if (typeof entry !== "string") continue;
          const [label, url] = entry.split(/,\s*/, 2);
          add(label ?? "link", url ?? null);
        }
      } else if (typeof value === "object" && value !== null) {
        for (const [label, url] of Object.entries(value)) add(label, typeof url === "string" ? url : null);
      }
    } else if (URL_KEY.test(key)) {
      add(key.replace(/_/g, " "), urlOf(value));
    }
  }
  return links;
}

/** A text field of the metadata (`description`, `readme`, `license` …), or null: a value that
 * is not a string is not shown rather than turned into one. */
export function metaText(meta: Record<string, unknown>, ...keys: string[]): string | null {
  for (const key of keys) {
    const value = meta[key];
    if (typeof value === "string" && value.trim()) return value;
  }
  return null;
}

/** The README or long description of a version, from its first file that carries one. */
export function readmeOf(files: { meta: Record<string, unknown> }[]): string | null {
  for (const file of files) {
    const text = metaText(file.meta, "readme", "description", "long_description");
    if (text) return text;
  }
  return null;
}
