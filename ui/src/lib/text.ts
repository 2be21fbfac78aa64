/** Untrusted text (package metadata, crawled pages) made safe to link. */

/** The URL when it is an absolute http(s) address, else null: metadata may name anything a
 * publisher chose (`javascript:`, `data:`, a relative path). */
export function safeHref(uri: string): string | null {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return null;
  }
  return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
}
