import { describe, expect, it } from "vitest";

import { crumbs, diffLineKind, repoApi, repoPage } from "./paths";

describe("browsing paths", () => {
  it("encodes names and keeps ref and path in the query", () => {
    expect(repoApi("default", "a b")).toBe("/api/v1/projects/default/repos/a%20b");
    expect(repoPage("p", "r", "/file", { ref: "feature/x", path: "src/a b.py" })).toBe(
      "/code/p/r/file?ref=feature%2Fx&path=src%2Fa+b.py",
    );
    expect(repoPage("p", "r", "", { ref: null, path: "" })).toBe("/code/p/r");
  });

  it("splits a path into its folders", () => {
    expect(crumbs("a/b/c.txt")).toEqual([
      { label: "a", path: "a" },
      { label: "b", path: "a/b" },
      { label: "c.txt", path: "a/b/c.txt" },
    ]);
    expect(crumbs("")).toEqual([]);
  });

  it("classifies diff lines", () => {
    expect(["+x", "-y", "@@ -1 +1 @@", "+++ b/x", " z", "new file mode 100644", "++x"].map(diffLineKind)).toEqual([
      "add",
      "del",
      "hunk",
      "meta",
      "context",
      "meta",
      "add",
    ]);
  });
});
