/** Untrusted Markdown rendered as React elements (react-markdown + GFM), loaded on demand by
 * `Markdown` (./index.tsx) so it stays out of the first page load.
 *
 * What a document cannot do here:
 * - run or inject markup: raw HTML is never parsed into elements; react-markdown turns it into
 *   text (`<script>` reads as those characters), and nothing uses innerHTML;
 * - link anywhere but http(s) and mailto (`urls.ts`); links open in a new tab with
 *   rel="noopener noreferrer nofollow";
 * - load anything: an image is a link to it, with its alt text (decision 0012), never an <img>;
 * - style itself: no element gets a `style` (table alignment becomes a class), as the page's CSP
 *   (`style-src 'self'`) would refuse one;
 * - name an id of the page: only GFM footnotes get ids, prefixed `user-content-`.
 * Elements outside the list Markdown and GFM produce are unwrapped to their content as well. */

import { useCallback, useEffect, useMemo, useRef, type ComponentPropsWithoutRef, type CSSProperties } from "react";
import Markdown, { type Components, type ExtraProps, type Options, type UrlTransform } from "react-markdown";
import remarkGfm from "remark-gfm";

import { focusPassage } from "./focus";
import { rehypePassage, remarkReferences } from "./plugins";
import type { MarkdownProps } from "./types";
import { markdownHref } from "./urls";

const ALLOWED = [
  "a", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "img",
  "input", "li", "ol", "p", "pre", "section", "strong", "sup", "table", "tbody", "td", "th",
  "thead", "tr", "ul",
];

const LINK = "text-indigo-700 underline underline-offset-2 dark:text-indigo-300";

function cx(...classes: (string | undefined)[]): string {
  return classes.filter(Boolean).join(" ");
}

/** The element's own props, without react-markdown's `node`. */
function own<T extends ExtraProps>(props: T): Omit<T, "node"> {
  const { node, ...rest } = props;
  void node;
  return rest;
}

type Plugins = NonNullable<Options["remarkPlugins"]>;

type Props<Tag extends keyof JSX.IntrinsicElements> = ComponentPropsWithoutRef<Tag> & ExtraProps;

// The page's title is its only h1: a document's headings sit one level below it.
function shifted(Tag: "h2" | "h3" | "h4" | "h5" | "h6", size: string) {
  return function Heading(props: Props<"h1">) {
    const { className, ...rest } = own(props);
    return <Tag {...rest} className={cx("mb-2 mt-5 font-semibold first:mt-0", size, className)} />;
  };
}

function cellAlign(style: CSSProperties | undefined): string | undefined {
  const align = style?.textAlign;
  return align === "center" ? "text-center" : align === "right" ? "text-right" : align === "left" ? "text-left" : undefined;
}

const COMPONENTS: Components = {
  h1: shifted("h2", "text-xl"),
  h2: shifted("h3", "text-lg"),
  h3: shifted("h4", "text-base"),
  h4: shifted("h5", "text-base"),
  h5: shifted("h6", "text-sm"),
  h6: shifted("h6", "text-sm"),
  p: (props) => <p {...own(props)} className={cx("my-3 first:mt-0 last:mb-0", props.className)} />,
  ul: (props) => <ul {...own(props)} className={cx("my-3 list-disc space-y-1 pl-6", props.className)} />,
  ol: (props) => <ol {...own(props)} className={cx("my-3 list-decimal space-y-1 pl-6", props.className)} />,
  blockquote: (props) => (
    <blockquote
      {...own(props)}
      className={cx("my-3 border-l-4 border-slate-300 pl-3 text-slate-700 dark:border-slate-600 dark:text-slate-300", props.className)}
    />
  ),
  hr: (props) => <hr {...own(props)} className={cx("my-4 border-slate-200 dark:border-slate-700", props.className)} />,
  // Scrollable, so reachable by keyboard (axe: scrollable-region-focusable).
  pre: (props) => (
    <pre
      {...own(props)}
      tabIndex={0}
      className={cx(
        "my-3 overflow-x-auto rounded bg-slate-100 p-3 font-mono text-sm leading-normal dark:bg-slate-800 [&>code]:bg-transparent [&>code]:p-0",
        props.className,
      )}
    />
  ),
  code: (props) => (
    <code {...own(props)} className={cx("rounded bg-slate-100 px-1 font-mono text-[0.9em] dark:bg-slate-800", props.className)} />
  ),
  table: (props) => (
    <div className="my-3 overflow-x-auto" tabIndex={0}>
      <table {...own(props)} className={cx("border-collapse text-sm", props.className)} />
    </div>
  ),
  th: (props) => {
    const { style, className, ...rest } = own(props);
    return <th {...rest} className={cx("border border-slate-300 px-2 py-1 font-semibold dark:border-slate-700", cellAlign(style), className)} />;
  },
  td: (props) => {
    const { style, className, ...rest } = own(props);
    return <td {...rest} className={cx("border border-slate-300 px-2 py-1 dark:border-slate-700", cellAlign(style), className)} />;
  },
  a: (props) => {
    const { href, children, className, ...rest } = own(props);
    const reference = (rest as Record<string, unknown>)["data-reference"];
    if (!href) return <span className={className}>{children}</span>;
    if (reference !== undefined) {
      return (
        <a href={href} data-reference={String(reference)} className={cx("align-super text-xs", LINK, className)}>
          {children}
        </a>
      );
    }
    return (
      <a href={href} target="_blank" rel="noopener noreferrer nofollow" className={cx(LINK, className)}>
        {children}
      </a>
    );
  },
  // Never loaded: what it shows, and a link for whoever wants to open it.
  img: (props) => {
    const { src, alt } = own(props);
    const label = `image: ${alt || "untitled"}`;
    if (typeof src !== "string" || !src) return <span className="text-slate-600 dark:text-slate-400">[{label}]</span>;
    return (
      <a href={src} target="_blank" rel="noopener noreferrer nofollow" className={LINK}>
        [{label}]
      </a>
    );
  },
  // A task list's box: shown, not a form control.
  input: (props) => (
    <span>
      <span aria-hidden="true">{props.checked ? "☑" : "☐"}</span>
      <span className="sr-only">{props.checked ? "done:" : "to do:"}</span>
    </span>
  ),
};

export default function MarkdownRenderer({ text, base = null, highlight = null, references = null, className }: MarkdownProps) {
  const root = useRef<HTMLDivElement>(null);
  const urlTransform = useCallback<UrlTransform>(
    (url, key, node) => {
      // The renderer's own reference links (remarkReferences) point into this page.
      if (key === "href" && node.properties.dataReference !== undefined && /^#[\w-]+$/.test(url)) return url;
      return markdownHref(url, base);
    },
    [base],
  );
  const remarkPlugins = useMemo<Plugins>(() => (references ? [remarkGfm, [remarkReferences, references]] : [remarkGfm]), [references]);
  const rehypePlugins = useMemo<Plugins>(() => (highlight ? [[rehypePassage, highlight]] : []), [highlight]);

  const [from, to] = highlight ?? [-1, -1];
  useEffect(() => {
    if (from >= 0 && root.current) focusPassage(root.current);
  }, [text, from, to]);

  return (
    <div ref={root} className={cx("break-words text-sm leading-relaxed", className)}>
      <Markdown
        remarkPlugins={remarkPlugins}
        rehypePlugins={rehypePlugins}
        components={COMPONENTS}
        urlTransform={urlTransform}
        allowedElements={ALLOWED}
        unwrapDisallowed
      >
        {text}
      </Markdown>
    </div>
  );
}
