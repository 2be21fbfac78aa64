/** The renderer's own steps between parsing and React: numbered references made links, and the
 * blocks of a passage marked. Both only add nodes and properties the renderer defines; neither
 * reads markup from the text. */

import type { Element, ElementContent, Root as HastRoot, RootContent as HastContent } from "hast";
import type { Link, Parent, PhrasingContent, Root as MdastRoot, RootContent, Text } from "mdast";

/** Where reference `[n]` of a text points: the id of an element on the page, or null for a
 * number that is no reference (it stays text). */
export type ReferenceTarget = (n: number) => string | null;

const REFERENCE = /\[(\d{1,3})\]/g;

// Inside these, `[1]` is what the text says, not a reference.
const LITERAL = new Set(["link", "linkReference", "definition", "code", "inlineCode", "html"]);

/** remark: `[n]` in the text becomes a link to `#<target(n)>` marked `data-reference`. */
export function remarkReferences(target: ReferenceTarget) {
  return (tree: MdastRoot): void => {
    visitTexts(tree, target);
  };
}

function visitTexts(parent: Parent, target: ReferenceTarget): void {
  const children: RootContent[] = [];
  for (const child of parent.children) {
    if (child.type === "text") children.push(...splitReferences(child, target));
    else {
      if ("children" in child && !LITERAL.has(child.type)) visitTexts(child, target);
      children.push(child);
    }
  }
  parent.children = children as Parent["children"];
}

function splitReferences(node: Text, target: ReferenceTarget): PhrasingContent[] {
  const out: PhrasingContent[] = [];
  let at = 0;
  for (const match of node.value.matchAll(REFERENCE)) {
    const number = Number(match[1]);
    const id = target(number);
    if (id === null) continue;
    if (match.index > at) out.push({ type: "text", value: node.value.slice(at, match.index) });
    const link: Link = {
      type: "link",
      url: `#${id}`,
      children: [{ type: "text", value: match[0] }],
      data: { hProperties: { dataReference: String(number) } },
    };
    out.push(link);
    at = match.index + match[0].length;
  }
  if (at === 0) return [node];
  if (at < node.value.length) out.push({ type: "text", value: node.value.slice(at) });
  return out;
}

/** Block elements a passage's range can mark; inline ones (a link, a word in bold) are part of
 * the block around them. */
const BLOCKS = new Set([
  "p", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "blockquote", "ul", "ol", "li", "table",
  "thead", "tbody", "tr", "hr", "section",
]);
// Blocks holding blocks: one the range covers in part is looked into.
const CONTAINERS = new Set(["blockquote", "ul", "ol", "li", "table", "thead", "tbody", "section"]);

/** The classes of a marked block (Tailwind: written out whole so its build keeps them). */
export const PASSAGE_CLASSES = [
  "rounded-sm",
  "bg-amber-50",
  "outline-none",
  "ring-2",
  "ring-amber-300",
  "ring-offset-4",
  "ring-offset-amber-50",
  "dark:bg-amber-950/40",
  "dark:ring-amber-700",
  "dark:ring-offset-amber-950",
  "scroll-mt-24",
];

/** rehype: mark the blocks of the source range [start, end) (UTF-16 offsets in the Markdown,
 * as the parser counts). A block inside the range is marked whole; a container the range covers
 * in part is looked into; a block it covers in part with no marked block inside (a long
 * paragraph cut into passages) is marked whole. Marked blocks get `data-passage` (the first
 * `first`, focusable by script) and the passage's classes. */
export function rehypePassage(range: readonly [number, number]) {
  return (tree: HastRoot): void => {
    const marked: Element[] = [];
    markBlocks(tree.children, range, marked);
    marked.forEach((element, i) => {
      const classes = element.properties.className;
      const before = Array.isArray(classes) ? classes.map(String) : [];
      element.properties.className = [...before, ...PASSAGE_CLASSES];
      element.properties.dataPassage = i === 0 ? "first" : "";
      if (i === 0) element.properties.tabIndex = -1;
    });
  };
}

function markBlocks(children: (HastContent | ElementContent)[], [start, end]: readonly [number, number], marked: Element[]): void {
  for (const child of children) {
    if (child.type !== "element" || !BLOCKS.has(child.tagName)) continue;
    const from = child.position?.start.offset;
    const to = child.position?.end.offset;
    if (from === undefined || to === undefined || to <= start || from >= end) continue;
    if (from >= start && to <= end) {
      marked.push(child);
      continue;
    }
    const before = marked.length;
    if (CONTAINERS.has(child.tagName)) markBlocks(child.children, [start, end], marked);
    if (marked.length === before) marked.push(child);
  }
}
