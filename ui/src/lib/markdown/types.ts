import type { ReferenceTarget } from "./plugins";

export interface MarkdownProps {
  /** Untrusted Markdown: a crawled page, an uploaded file, an LLM's answer. */
  text: string;
  /** The document's own http(s) address: its relative links resolve against it (without one
   * they are shown as text). */
  base?: string | null;
  /** A range of `text` (UTF-16 offsets, JavaScript's string indexes) whose blocks are marked;
   * the first is scrolled to and focused once rendered. */
  highlight?: readonly [number, number] | null;
  /** `[n]` in the text links to the element with id `references(n)` (answers' citations). */
  references?: ReferenceTarget | null;
  className?: string;
}
