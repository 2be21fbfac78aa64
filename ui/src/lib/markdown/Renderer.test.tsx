import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";

import MarkdownRenderer from "./Renderer";
import type { MarkdownProps } from "./types";
import { markdownHref } from "./urls";

function html(text: string, props: Omit<MarkdownProps, "text"> = {}): string {
  return renderToStaticMarkup(<MarkdownRenderer text={text} {...props} />);
}

/** Every href and src the markup carries. */
function addresses(markup: string): string[] {
  return [...markup.matchAll(/\s(?:href|src|action|formaction)="([^"]*)"/g)].map((m) => m[1] ?? "");
}

/** Attributes an element carries that run script or style it: on*, style, srcdoc. */
function dangerousAttributes(markup: string): string[] {
  const found: string[] = [];
  for (const tag of markup.matchAll(/<[a-z][a-z0-9]*(\s[^>]*)?>/g)) {
    for (const attribute of (tag[1] ?? "").matchAll(/\s([a-zA-Z-]+)=/g)) {
      const name = (attribute[1] ?? "").toLowerCase();
      if (name.startsWith("on") || name === "style" || name === "srcdoc") found.push(name);
    }
  }
  return found;
}

function tags(markup: string): string[] {
  return [...new Set([...markup.matchAll(/<([a-z][a-z0-9]*)/g)].map((m) => m[1] ?? ""))].sort();
}

const HOSTILE = `# Hostile

<script>alert("script tag")</script>

<img src="x.png" onerror="alert('onerror')">

<iframe src="https://evil.example/"></iframe>

<a href="javascript:alert('html link')">an html link</a>

<div style="position:fixed;inset:0">covers the page</div>

[plain](javascript:alert(1)) [mixed](JaVaScRiPt:alert(2)) [entity](&#106;avascript:alert(3))
[hex entity](&#x6A;avascript:alert(4)) [tab](<java\tscript:alert(5)>) [spaced]( javascript:alert(6))
[data](data:text/html;base64,PHNjcmlwdD5hbGVydCg3KTwvc2NyaXB0Pg==) [vb](vbscript:msgbox(8))
[file](file:///etc/passwd) <javascript:alert(9)> [ref][evil]

![tracker](https://tracker.example/pixel.gif) ![inline](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMTApPg==)

[evil]: javascript:alert(11)
`;

describe("MarkdownRenderer with hostile content", () => {
  const markup = html(HOSTILE);

  it("creates no element from raw HTML: it is shown as text", () => {
    expect(tags(markup)).toEqual(["a", "div", "h2", "p", "span"]);
    expect(markup.match(/<div/g)).toHaveLength(1); // the renderer's own wrapper
    expect(markup).toContain("&lt;script&gt;alert(&quot;script tag&quot;)&lt;/script&gt;");
    expect(markup).toContain("&lt;iframe src=&quot;https://evil.example/&quot;&gt;");
  });

  it("carries no handler, style or srcdoc attribute", () => {
    expect(dangerousAttributes(markup)).toEqual([]);
  });

  it("links to no javascript:, data:, vbscript: or file: address, however it is spelled", () => {
    expect(addresses(markup)).toEqual(["https://tracker.example/pixel.gif"]);
    expect(markup).toMatch(/<span>plain<\/span>/);
    expect(markup).toMatch(/<span>entity<\/span>/);
  });

  it("loads no image: an image is a link to it, with its alt text", () => {
    expect(markup).not.toContain("<img");
    expect(markup).toContain(
      '<a href="https://tracker.example/pixel.gif" target="_blank" rel="noopener noreferrer nofollow"',
    );
    expect(markup).toContain("[image: tracker]");
    expect(markup).toContain("[image: inline]");
  });
});

describe("MarkdownRenderer with ordinary documents", () => {
  it("renders headings one level below the page's title, lists, tables, code and emphasis", () => {
    const markup = html(
      "# Title\n\n## Part\n\nSome *emphasis*, **strong**, ~~gone~~ and `code`.\n\n- one\n- two\n\n1. first\n\n" +
        "| a | b |\n|:-:|--:|\n| 1 | 2 |\n\n```python\nprint('hi')\n```\n\n> quoted\n\n- [x] done\n",
    );
    expect(markup).toMatch(/<h2[^>]*>Title<\/h2>/);
    expect(markup).toMatch(/<h3[^>]*>Part<\/h3>/);
    expect(markup).not.toContain("<h1");
    for (const tag of ["<em>", "<strong>", "<del>", "<code", "<ul", "<ol", "<table", "<th", "<blockquote", "<pre"]) {
      expect(markup).toContain(tag);
    }
    expect(markup).toMatch(/<code class="[^"]*language-python/);
    expect(markup).toMatch(/<th class="[^"]*text-center/);
    expect(markup).toMatch(/<td class="[^"]*text-right/);
    expect(markup).not.toContain("style=");
    expect(markup).not.toContain("<input");
    expect(markup).toContain("done:");
  });

  it("opens http(s) links in a new tab without an opener or a referrer", () => {
    const markup = html("[docs](https://docs.example.com/a?b=1#c) and <https://example.org> and [mail](mailto:a@example.com)");
    expect(addresses(markup)).toEqual(["https://docs.example.com/a?b=1#c", "https://example.org/", "mailto:a@example.com"]);
    expect(markup.match(/rel="noopener noreferrer nofollow"/g)).toHaveLength(3);
    expect(markup.match(/target="_blank"/g)).toHaveLength(3);
  });

  it("resolves relative links against the document's address, or shows them as text", () => {
    const text = "[api](../api.html#x) [top](#usage)";
    expect(addresses(html(text, { base: "https://docs.example.com/guide/intro.html" }))).toEqual([
      "https://docs.example.com/api.html#x",
      "https://docs.example.com/guide/intro.html#usage",
    ]);
    expect(addresses(html(text))).toEqual([]);
    expect(html(text)).toContain("<span>api</span>");
  });

  it("keeps footnotes' links, whose targets it made itself", () => {
    const markup = html("A claim.[^1]\n\n[^1]: The source.\n");
    expect(addresses(markup).every((a) => a.startsWith("#user-content-"))).toBe(true);
    expect(addresses(markup).length).toBeGreaterThan(0);
  });
});

describe("references", () => {
  const target = (n: number) => (n === 1 || n === 2 ? `citation-${n}` : null);

  it("links [n] in prose to the page's element for n, and leaves other numbers as text", () => {
    const markup = html("Pythons squeeze [1][2]; nobody knows [7].", { references: target });
    expect(addresses(markup)).toEqual(["#citation-1", "#citation-2"]);
    expect(markup).toContain('data-reference="1"');
    expect(markup).toContain("[7]");
    expect(markup).not.toContain('target="_blank"');
  });

  it("leaves [n] in code as it is", () => {
    const markup = html("`xs[1]`\n\n```\nys[2]\n```\n", { references: target });
    expect(addresses(markup)).toEqual([]);
  });

  it("does not let a document's own links pass as references", () => {
    expect(addresses(html("[x](#citation-1)", { references: target }))).toEqual([]);
  });
});

describe("highlight", () => {
  const text = "# Doc\n\nBefore.\n\nThe passage, first.\n\n- its list\n- more\n\nAfter.\n";
  const start = text.indexOf("The passage");
  const end = text.indexOf("After.");

  it("marks the blocks inside the range, the first focusable", () => {
    const markup = html(text, { highlight: [start, end] });
    const marked = [...markup.matchAll(/<(\w+)[^>]*data-passage="(\w*)"[^>]*>/g)].map((m) => [m[1], m[2]]);
    expect(marked).toEqual([
      ["p", "first"],
      ["ul", ""],
    ]);
    expect(markup).toMatch(/<p[^>]*tabindex="-1"[^>]*data-passage="first"|<p[^>]*data-passage="first"[^>]*tabindex="-1"/);
    expect(markup).toMatch(/<p class="[^"]*bg-amber-50[^"]*"[^>]*>The passage/);
  });

  it("marks a paragraph the range covers in part, and list items rather than their whole list", () => {
    const long = "Intro.\n\n- a\n\n- b\n\n- c\n";
    const markup = html(long, { highlight: [long.indexOf("- b"), long.length] });
    expect([...markup.matchAll(/<(\w+)[^>]*data-passage/g)].map((m) => m[1])).toEqual(["li", "li"]);
    const partial = html("One sentence. Another sentence.\n", { highlight: [14, 20] });
    expect(partial).toMatch(/<p[^>]*data-passage="first"/);
  });

  it("marks nothing outside the text", () => {
    expect(html(text, { highlight: [text.length + 5, text.length + 9] })).not.toContain("data-passage");
  });
});

describe("markdownHref", () => {
  it.each([
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    " javascript:alert(1)",
    "\u0001javascript:alert(1)",
    "java\tscript:alert(1)",
    "java\nscript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "file:///etc/passwd",
    "blob:https://example.com/uuid",
    "",
  ])("refuses %j", (url) => {
    expect(markdownHref(url, "https://docs.example.com/")).toBeNull();
    expect(markdownHref(url)).toBeNull();
  });

  it("keeps http(s) and mailto, and resolves relative addresses only against an http(s) base", () => {
    expect(markdownHref("HTTPS://Example.com/x")).toBe("https://example.com/x");
    expect(markdownHref("mailto:a@example.com")).toBe("mailto:a@example.com");
    expect(markdownHref("//cdn.example.com/x", "https://docs.example.com/")).toBe("https://cdn.example.com/x");
    expect(markdownHref("x.html")).toBeNull();
    expect(markdownHref("#user-content-fn-1")).toBe("#user-content-fn-1");
    expect(markdownHref("#user-content-fn-1\" onmouseover=\"x")).toBeNull();
  });
});
