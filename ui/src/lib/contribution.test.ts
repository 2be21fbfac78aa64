import { describe, expect, it } from "vitest";

import { collect, type Contribution } from "./contribution";

const Page = () => null;

describe("collect", () => {
  it("merges every domain's routes, nav and cards, in order", () => {
    const shell: Contribution = { domain: "shell", nav: [{ to: "/", label: "Overview", order: 0 }] };
    const modules = {
      "../../src/devflow/registry/ui/index.tsx": {
        contribution: {
          domain: "registry",
          routes: [{ path: "/registry", Component: Page }],
          nav: [{ to: "/registry", label: "Registry", order: 200 }],
          overview: [{ id: "packages", order: 200, Component: Page }],
        },
      },
      "../../src/devflow/knowledge/ui/index.tsx": {
        contribution: {
          domain: "knowledge",
          nav: [{ to: "/knowledge", label: "Knowledge", order: 100 }],
          overview: [{ id: "sources", order: 100, Component: Page }],
        },
      },
    };
    const collected = collect(modules, [shell]);
    expect(collected.contributions.map((c) => c.domain)).toEqual(["shell", "knowledge", "registry"]);
    expect(collected.nav.map((n) => n.label)).toEqual(["Overview", "Knowledge", "Registry"]);
    expect(collected.overview.map((c) => c.id)).toEqual(["sources", "packages"]);
    expect(collected.routes.map((r) => r.path)).toEqual(["/registry"]);
  });

  it("refuses a module that exports no contribution, naming the file", () => {
    expect(() => collect({ "x/ui/index.ts": { pages: [] } })).toThrow(
      "x/ui/index.ts must export `contribution`",
    );
  });

  it("refuses two pages on one path, naming both domains", () => {
    const modules = {
      "a/ui/index.ts": { contribution: { domain: "a", routes: [{ path: "/x", Component: Page }] } },
      "b/ui/index.ts": { contribution: { domain: "b", routes: [{ path: "/x", Component: Page }] } },
    };
    expect(() => collect(modules)).toThrow("b and a both contribute the page /x");
  });

  it("finds the domains' folders as the build does", () => {
    const found = collect(import.meta.glob("../../../src/devflow/*/ui/index.{ts,tsx}", { eager: true }));
    const domains = found.contributions.map((c) => c.domain);
    expect(domains).toContain("knowledge");
    expect(domains).toContain("registry");
  });
});
