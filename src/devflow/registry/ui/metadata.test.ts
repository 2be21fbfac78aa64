import { renderToStaticMarkup } from "react-dom/server";
import { createElement } from "react";
import { describe, expect, it } from "vitest";

import { formatBytes, shortDigest } from "@devflow/ui";

import { metaLinks, readmeOf } from "./metadata";
import { MetaLinks, Readme } from "./parts";
import { splitRegistryPath } from "./routes";

describe("formatBytes and shortDigest", () => {
  it("shows sizes in binary units", () => {
    expect(formatBytes(0)).toBe("0 B");
    expect(formatBytes(1023)).toBe("1023 B");
    expect(formatBytes(1536)).toBe("1.5 KiB");
    expect(formatBytes(12 * 1024 * 1024)).toBe("12 MiB");
    expect(formatBytes(-1)).toBe("—");
  });

  it("shortens a digest, with or without its algorithm", () => {
    const hex = "0123456789abcdef".repeat(4);
    expect(shortDigest(`sha256:${hex}`)).toBe("sha256:0123456789ab…cdef");
    expect(shortDigest(hex)).toBe("sha256:0123456789ab…cdef");
    expect(shortDigest("sha256:abc")).toBe("sha256:abc");
  });
});

describe("untrusted package metadata", () => {
  it("links http(s) URLs only", () => {
    const links = metaLinks({
      home_page: "javascript:alert(1)",
      project_urls: ["Source, https://github.com/acme/widget", "Evil, data:text/html,<script>"],
      repository: { type: "git", url: "git+https://github.com/acme/widget.git" },
      bugs: { url: "vbscript:x" },
      author: "https://not-a-link-key.example",
    });
    expect(links).toEqual([
      { label: "Source", href: "https://github.com/acme/widget" },
      { label: "repository", href: "https://github.com/acme/widget.git" },
    ]);
  });

  it("reads a README only from a string", () => {
    expect(readmeOf([{ meta: { description: { html: "<b>x</b>" } } }, { meta: { readme: "# Hi" } }])).toBe("# Hi");
  });

  it("renders a README and links as text, never as HTML", () => {
    const html = renderToStaticMarkup(
      createElement(Readme, { text: '<script>alert(1)</script><img src=x onerror="alert(2)">' }),
    );
    expect(html).not.toContain("<script>");
    expect(html).not.toContain("<img");
    expect(html).toContain("&lt;script&gt;");
    const links = renderToStaticMarkup(
      createElement(MetaLinks, { links: metaLinks({ home_page: "https://x.example/<b>", url: "javascript:alert(1)" }) }),
    );
    expect(links).not.toContain("javascript:");
    expect(links).toContain('rel="noopener noreferrer nofollow"');
  });
});

describe("splitRegistryPath", () => {
  it("reads an OCI name with slashes and a scoped npm package", () => {
    expect(splitRegistryPath("default/charts/web")).toEqual({ repository: "default/charts/web", pkg: null, manifest: null });
    expect(splitRegistryPath("js/-/packages/%40acme%2Fwidget")).toEqual({ repository: "js", pkg: "@acme/widget", manifest: null });
  });
});
