/** Where a link in untrusted Markdown (crawled pages, uploads, an LLM's answer) may point.
 *
 * Only http(s) and mailto addresses become links. The decision is made on what the browser's own
 * URL parser makes of the address (`new URL`), so what it would strip or fold (case, tabs and
 * newlines inside the scheme, leading control characters) cannot smuggle `javascript:` past a
 * string comparison; Markdown has already decoded character references (`&#106;avascript:`).
 * The link carries the parser's serialisation of the address, not the document's spelling. */

const LINKABLE = new Set(["http:", "https:", "mailto:"]);

// Fragments of elements the renderer itself makes (GFM footnotes: mdast-util-to-hast prefixes
// their ids with `user-content-`, so a document cannot name an id of the dashboard's).
const OWN_FRAGMENT = /^#user-content-[\w-]+$/;

/** The address a link in a document goes to, or null when it is not one to follow.
 *
 * Absolute: kept when http(s) or mailto. Relative (`../api.html`, `#usage`): resolved against
 * `base`, the document's own http(s) address, so it opens the page it was written for; without
 * one (an uploaded file) it leads nowhere and is null. */
export function markdownHref(url: string, base: string | null = null): string | null {
  const value = url.trim();
  if (OWN_FRAGMENT.test(value)) return value;
  let absolute: URL | null = null;
  try {
    absolute = new URL(value);
  } catch {
    absolute = null; // relative, or no address at all
  }
  if (absolute) return LINKABLE.has(absolute.protocol) ? absolute.href : null;
  if (!base || !value) return null;
  let resolved: URL;
  try {
    resolved = new URL(value, base);
  } catch {
    return null;
  }
  return resolved.protocol === "http:" || resolved.protocol === "https:" ? resolved.href : null;
}

