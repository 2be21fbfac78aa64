/** Untrusted text (crawled pages, uploaded files) made safe to show.
 *
 * Nothing here produces HTML: a snippet is cut into segments that the pages render as React text
 * nodes (`<mark>` for the words the search matched, `<code>` for code spans), and a link is only
 * ever an http(s) URL. A document that holds `<script>` or `javascript:` shows those characters
 * as text. */

export interface Segment {
  kind: "text" | "mark" | "code";
  text: string;
}

// The API bolds matched words as `**word**` (never inside code or a URL, see
// knowledge/plaintext.py `snippet`) and keeps code spans in backticks. A `**` without a partner
// (`**kwargs`) stays text; the bold holds no `*` and neither starts nor ends with a space.
const TOKENS = /(`+)([^`]+?)\1|\*\*([^*\s](?:[^*]*[^*\s])?)\*\*/g;

/** Cut a search snippet into plain, marked and code segments (adjacent text merged). */
export function splitSnippet(snippet: string): Segment[] {
  const segments: Segment[] = [];
  const push = (kind: Segment["kind"], text: string): void => {
    if (!text) return;
    const last = segments[segments.length - 1];
    if (last && last.kind === kind && kind === "text") last.text += text;
    else segments.push({ kind, text });
  };
  let at = 0;
  for (const match of snippet.matchAll(TOKENS)) {
    push("text", snippet.slice(at, match.index));
    if (match[2] !== undefined) push("code", match[2]);
    else push("mark", match[3] ?? "");
    at = match.index + match[0].length;
  }
  push("text", snippet.slice(at));
  return segments;
}

// Moved to the shell: the registry shows untrusted metadata links too.
export { safeHref } from "@devflow/ui";

/** "Title › Heading › Subheading", with a heading that repeats the one before it once (as
 * `devflow search` shows it). */
export function where(title: string, headings: string[]): string {
  const parts = title ? [title] : [];
  for (const heading of headings) {
    const last = parts[parts.length - 1];
    if (heading && (last === undefined || last.toLowerCase() !== heading.toLowerCase())) {
      parts.push(heading);
    }
  }
  return parts.join(" › ");
}

/** A range of code points (the API's offsets: Python's string indexes) as UTF-16 indexes
 * (JavaScript's): a character outside the Basic Multilingual Plane (an emoji) is one code point
 * and two UTF-16 units. Clamped to the text. */
export function utf16Range(text: string, start: number, end: number): [number, number] {
  if (!/[\uD800-\uDFFF]/.test(text)) {
    const from = Math.min(Math.max(start, 0), text.length);
    return [from, Math.min(Math.max(end, from), text.length)];
  }
  let points = 0;
  let at = 0;
  let from = -1;
  while (at < text.length) {
    if (points === start) from = at;
    if (points >= end) break;
    at += (text.codePointAt(at) ?? 0) > 0xffff ? 2 : 1;
    points += 1;
  }
  return [from < 0 ? at : from, at];
}

/** Where in a document's Markdown a passage starts: its first line found as it is, else the
 * heading it sits under, else -1. For links that name a heading, not a range (made before
 * search gave passages' offsets). */
export function locatePassage(content: string, passage: string, headings: string[] = []): number {
  const first = passage
    .split("\n")
    .map((line) => line.trim())
    .find((line) => line.length > 0 && !line.startsWith("#"));
  if (first) {
    const probe = first.slice(0, 80);
    const found = content.indexOf(probe);
    if (found >= 0) return found;
  }
  const heading = headings[headings.length - 1];
  if (heading) {
    const pattern = new RegExp(`^#{1,6}[ \\t]+.*${escapeRegExp(heading)}`, "m");
    const match = pattern.exec(content);
    if (match) return match.index;
  }
  return -1;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
