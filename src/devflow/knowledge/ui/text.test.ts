import { describe, expect, it } from "vitest";

import { locatePassage, safeHref, splitSnippet, utf16Range, where } from "./text";

describe("splitSnippet", () => {
  it("marks the words the API bolded and keeps the rest as text", () => {
    expect(splitSnippet("… the **retry** policy waits **longer** each time …")).toEqual([
      { kind: "text", text: "… the " },
      { kind: "mark", text: "retry" },
      { kind: "text", text: " policy waits " },
      { kind: "mark", text: "longer" },
      { kind: "text", text: " each time …" },
    ]);
  });

  it("keeps code spans as code, without marking inside them", () => {
    expect(splitSnippet("call `f(**kwargs)` to **retry**")).toEqual([
      { kind: "text", text: "call " },
      { kind: "code", text: "f(**kwargs)" },
      { kind: "text", text: " to " },
      { kind: "mark", text: "retry" },
    ]);
  });

  it("leaves a ** without a partner as text", () => {
    expect(splitSnippet("pass **kwargs through")).toEqual([{ kind: "text", text: "pass **kwargs through" }]);
    expect(splitSnippet("a ** b")).toEqual([{ kind: "text", text: "a ** b" }]);
  });

  it("never turns markup in the text into anything but text", () => {
    const hostile = 'x <img src=x onerror=alert(1)> **<script>alert(1)</script>** [a](javascript:alert(1))';
    const segments = splitSnippet(hostile);
    // Every character comes back as the text of a segment: nothing is parsed, nothing dropped.
    expect(segments.map((s) => s.text).join("")).toBe(hostile.replace(/\*\*/g, ""));
    expect(segments).toContainEqual({ kind: "mark", text: "<script>alert(1)</script>" });
    expect(segments.every((s) => ["text", "mark", "code"].includes(s.kind))).toBe(true);
  });

  it("gives nothing for an empty snippet", () => {
    expect(splitSnippet("")).toEqual([]);
  });
});

describe("safeHref", () => {
  it("allows http and https addresses", () => {
    expect(safeHref("https://docs.example.com/a?b=1#c")).toBe("https://docs.example.com/a?b=1#c");
    expect(safeHref("http://intranet/x")).toBe("http://intranet/x");
  });

  it.each([
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    " javascript:alert(1)",
    "java\tscript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "file:///etc/passwd",
    "docs/guide.md",
    "/etc/passwd",
    "//evil.example/x",
    "",
  ])("refuses %j", (uri) => {
    expect(safeHref(uri)).toBeNull();
  });
});

describe("where", () => {
  it("joins the title and headings, a repeated heading once", () => {
    expect(where("Widget", ["Widget", "Install", "Linux"])).toBe("Widget › Install › Linux");
    expect(where("", ["A"])).toBe("A");
  });
});

describe("locatePassage", () => {
  const content = "# Guide\n\nIntro.\n\n## Retry\n\nThe retry policy waits longer.\n";

  it("finds a passage by its first line", () => {
    expect(locatePassage(content, "## Retry\n\nThe retry policy waits longer.")).toBe(content.indexOf("The retry"));
  });

  it("falls back to the heading the passage sits under", () => {
    expect(locatePassage(content, "changed since", ["Guide", "Retry"])).toBe(content.indexOf("## Retry"));
  });

  it("says -1 when neither is there, and survives headings with regex characters", () => {
    expect(locatePassage(content, "nothing", ["a(b"])).toBe(-1);
  });
});

describe("utf16Range", () => {
  it("counts code points as the API does, whatever JavaScript counts", () => {
    const text = "🐍🐍 snakes: 🐍 pythons";
    // Python: text.index("pythons") == 13; JavaScript: 16 (each 🐍 is two UTF-16 units).
    expect(utf16Range(text, 13, 20)).toEqual([text.indexOf("pythons"), text.length]);
    expect(text.slice(...utf16Range(text, 3, 9))).toBe("snakes");
  });

  it("is the identity on text without surrogates, clamped to the text", () => {
    expect(utf16Range("plain text", 6, 10)).toEqual([6, 10]);
    expect(utf16Range("plain", 3, 99)).toEqual([3, 5]);
    expect(utf16Range("🐍", 5, 9)).toEqual([2, 2]);
  });
});
