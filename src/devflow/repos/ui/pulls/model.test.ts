import { describe, expect, it } from "vitest";

import { ApiError } from "@devflow/ui";

import {
  defaultHead,
  diffFiles,
  globToRegExp,
  matchingRule,
  mergeability,
  mergeRefusal,
  pullPage,
  pullsApi,
  requirements,
  splitPatch,
  tabOf,
  timeline,
} from "./model";
import type { BranchRule, CombinedStatus, LineComment, Pull, PullDiff, Review } from "./types";

const pull: Pull = {
  number: 7,
  project: "default",
  repository: "web",
  title: "Shout",
  body: "",
  draft: false,
  state: "open",
  head: "feature",
  head_repository: "default/web",
  base: "main",
  head_sha: "a".repeat(40),
  base_sha: "b".repeat(40),
  mergeable: true,
  merge_status: "clean",
  conflicts: [],
  author: "admin",
  approvals: 1,
  changes_requested: 0,
  created_at: "2026-01-01T00:00:00Z",
  updated_at: "2026-01-01T00:00:00Z",
  closed_at: null,
  merged_at: null,
  merged_by: null,
  merge_method: null,
  merge_commit_sha: null,
};

const README = "diff --git a/README.md b/README.md\nindex 1..2 100644\n--- a/README.md\n+++ b/README.md\n@@ -1 +1 @@\n-one\n+ONE\n";
const APP = "diff --git a/src/app.py b/src/app.py\nnew file mode 100644\n--- /dev/null\n+++ b/src/app.py\n@@ -0,0 +1 @@\n+print('hi')\n";

function diff(patch: string, extra: Partial<PullDiff> = {}): PullDiff {
  return {
    base_sha: pull.base_sha,
    head_sha: pull.head_sha,
    merge_base: pull.base_sha,
    files: [
      { path: "README.md", status: "modified", additions: 1, deletions: 1 },
      { path: "src/app.py", status: "added", additions: 1, deletions: 0 },
    ],
    total_files: 2,
    additions: 2,
    deletions: 1,
    files_truncated: false,
    patch,
    patch_truncated: false,
    ...extra,
  };
}

describe("tabOf", () => {
  it("reads a known state and falls back to the open ones", () => {
    expect(tabOf("merged")).toBe("merged");
    expect(tabOf("all")).toBe("all");
    expect(tabOf(null)).toBe("open");
    expect(tabOf("<script>")).toBe("open");
  });
});

describe("addresses", () => {
  it("escapes the project and repository names", () => {
    expect(pullsApi("my team", "a/b", "/3/merge")).toBe("/api/v1/projects/my%20team/repos/a%2Fb/pulls/3/merge");
    expect(pullPage("default", "web")).toBe("/code/default/web/pulls");
    expect(pullPage("default", "web", 3)).toBe("/code/default/web/pulls/3");
  });
});

describe("splitPatch", () => {
  it("cuts at each file's header", () => {
    expect(splitPatch(README + APP)).toEqual([README.trimEnd(), APP.trimEnd()]);
  });
  it("finds no file in an empty patch", () => {
    expect(splitPatch("")).toEqual([]);
  });
  it("does not cut at a diff header quoted inside a line", () => {
    const quoting = README.replace("+ONE", "+diff --git a/x b/x");
    expect(splitPatch(quoting)).toHaveLength(1);
  });
});

describe("diffFiles", () => {
  it("gives each file its part of the patch", () => {
    const files = diffFiles(diff(README + APP));
    expect(files.map((f) => [f.path, f.patch])).toEqual([
      ["README.md", README.trimEnd()],
      ["src/app.py", APP.trimEnd()],
    ]);
    expect(files[1]).toMatchObject({ status: "added", additions: 1, deletions: 0, binary: false, truncated: false });
  });
  it("leaves out the incomplete last part of a cut patch and the files after it", () => {
    const files = diffFiles(diff(README + APP.slice(0, 40), { patch_truncated: true }));
    expect(files[0]?.patch).toBe(README.trimEnd());
    expect(files[1]).toMatchObject({ patch: null, truncated: true });
    const none = diffFiles(diff(README.slice(0, 30), { patch_truncated: true }));
    expect(none.map((f) => [f.patch, f.truncated])).toEqual([
      [null, true],
      [null, true],
    ]);
  });
  it("says a binary file is one and does not draw a large part", () => {
    const binary = diff(`diff --git a/logo.png b/logo.png\nBinary files differ\n${APP}`);
    binary.files[0] = { path: "logo.png", status: "added", additions: null, deletions: null };
    expect(diffFiles(binary)[0]).toMatchObject({ binary: true, patch: null, additions: 0 });
    expect(diffFiles(diff(README + APP), 20)[0]).toMatchObject({ patch: null, too_large: true });
  });
});

describe("timeline", () => {
  const review = (id: string, at: string): Review => ({ id, author: "ann", state: "commented", body: id, commit_sha: pull.head_sha, created_at: at });
  const comment = (id: string, at: string): LineComment => ({
    id,
    author: "bob",
    body: id,
    path: "README.md",
    line: 1,
    commit_sha: pull.head_sha,
    line_text: "one",
    outdated: false,
    created_at: at,
  });
  it("interleaves reviews and comments oldest first, a review first on a tie", () => {
    const entries = timeline(
      [review("r1", "2026-01-01T10:00:00Z"), review("r2", "2026-01-01T12:00:00Z")],
      [comment("c1", "2026-01-01T11:00:00Z"), comment("c2", "2026-01-01T12:00:00Z")],
    );
    expect(entries.map((e) => (e.kind === "review" ? e.review.id : e.comment.id))).toEqual(["r1", "c1", "r2", "c2"]);
  });
});

describe("mergeability", () => {
  it("names each status of an open pull request and nothing once it is closed", () => {
    expect(mergeability(pull)).toEqual({ label: "mergeable", tone: "good" });
    expect(mergeability({ ...pull, merge_status: "conflicts" })?.tone).toBe("bad");
    expect(mergeability({ ...pull, merge_status: "unknown" })?.label).toBe("checking");
    expect(mergeability({ ...pull, state: "merged" })).toBeNull();
  });
});

describe("branch rules", () => {
  const rule = (pattern: string, created = "2026-01-01T00:00:00Z"): BranchRule => ({
    pattern,
    required_approvals: 0,
    required_checks: [],
    created_at: created,
  });
  it("reads globs as protection does", () => {
    expect(globToRegExp("release/*").test("release/1.0")).toBe(true);
    expect(globToRegExp("release/*").test("release/1/x")).toBe(false);
    expect(globToRegExp("release/**").test("release/1/x")).toBe(true);
    expect(globToRegExp("**/main").test("main")).toBe(true);
    expect(globToRegExp("v?.x").test("v1.x")).toBe(true);
    expect(globToRegExp("v1.x").test("v1yx")).toBe(false);
  });
  it("prefers the exact rule, then the longest glob, then the older", () => {
    const rules = [rule("*"), rule("ma*"), rule("main"), rule("m*n", "2025-01-01T00:00:00Z")];
    expect(matchingRule(rules, "main")?.pattern).toBe("main");
    expect(matchingRule(rules.slice(0, 2), "main")?.pattern).toBe("ma*");
    expect(matchingRule([rule("ma*"), rule("m*n", "2025-01-01T00:00:00Z")], "main")?.pattern).toBe("m*n");
    expect(matchingRule(rules, "topic/x")).toBeNull();
  });
  it("lists what the rule asks of a merge, met or not", () => {
    const status: CombinedStatus = {
      state: "pending",
      sha: pull.head_sha,
      total_count: 1,
      statuses: [{ context: "ci/test", state: "success", description: null, target_url: null }],
    };
    const strict = { ...rule("main"), required_approvals: 2, required_checks: ["ci/test", "ci/lint"] };
    expect(requirements(pull, strict, status)).toEqual([
      { label: "1 of 2 required approving reviews", met: false },
      { label: "check ci/test: success", met: true },
      { label: "check ci/lint: not reported", met: false },
    ]);
    expect(requirements(pull, null, status)).toEqual([]);
  });
});

describe("mergeRefusal", () => {
  it("tells a head that moved from conflicts and branch rules", () => {
    const moved = new ApiError(409, "conflict", "the head moved", { expected: "a", head_sha: "c".repeat(40) });
    expect(mergeRefusal(moved)).toEqual({ kind: "moved", message: "the head moved", head: "c".repeat(40) });
    expect(mergeRefusal(new ApiError(409, "conflict", "x", { conflicts: ["a.txt"] }))).toMatchObject({ kind: "conflicts", paths: ["a.txt"] });
    expect(mergeRefusal(new ApiError(409, "conflict", "x", { protection: ["needs 2"] }))).toMatchObject({ kind: "protection", reasons: ["needs 2"] });
    expect(mergeRefusal(new ApiError(409, "conflict", "a draft"))).toEqual({ kind: "other", message: "a draft" });
    expect(mergeRefusal(new ApiError(403, "forbidden", "no", { head_sha: "c" }))).toEqual({ kind: "other", message: "no" });
  });
});

describe("defaultHead", () => {
  it("is the first branch other than the base", () => {
    expect(defaultHead([{ name: "feature" }, { name: "main" }], "feature")).toBe("main");
    expect(defaultHead([{ name: "main" }], "main")).toBe("");
  });
});
