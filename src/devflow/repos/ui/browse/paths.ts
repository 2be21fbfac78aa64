/** Where the browsing pages and their API calls are: a ref and a path travel in the query
 * (`?ref=&path=`), as the API takes them. */

export function repoApi(project: string, name: string): string {
  return `/api/v1/projects/${encodeURIComponent(project)}/repos/${encodeURIComponent(name)}`;
}

function query(values: Record<string, string | null | undefined>): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(values)) if (value) params.set(key, value);
  const text = params.toString();
  return text ? `?${text}` : "";
}

export function repoPage(project: string, name: string, tail = "", values: Record<string, string | null | undefined> = {}): string {
  return `/code/${encodeURIComponent(project)}/${encodeURIComponent(name)}${tail}${query(values)}`;
}

/** The folders of a path, each with the path up to it: `a/b/c` → a, a/b, a/b/c. */
export function crumbs(path: string): { label: string; path: string }[] {
  const parts = path.split("/").filter(Boolean);
  return parts.map((label, i) => ({ label, path: parts.slice(0, i + 1).join("/") }));
}

/** How git's extended header lines of a file's diff start (hunk lines start with ' ', '+', '-'). */
const META = ["diff --git ", "index ", "new file mode ", "deleted file mode ", "old mode ", "new mode ", "similarity index ", "dissimilarity index ", "rename from ", "rename to ", "copy from ", "copy to ", "Binary files "];

/** The class of one line of a unified diff. */
export function diffLineKind(line: string): "add" | "del" | "hunk" | "meta" | "context" {
  if (line.startsWith("+++ ") || line.startsWith("--- ") || META.some((start) => line.startsWith(start))) return "meta";
  if (line.startsWith("@@")) return "hunk";
  if (line.startsWith("+")) return "add";
  if (line.startsWith("-")) return "del";
  return "context";
}
