/** What the pull request pages compute from the API's answers, kept apart from React so that it
 * is tested on its own: the list's tabs, the patch cut into files, the conversation in time
 * order, what a merge still needs, and what a refused merge means. */

import { ApiError } from "@devflow/ui";

import { repoApi, repoPage } from "../browse/paths";
import type { DiffFile } from "../browse/types";
import type { BranchRule, CombinedStatus, LineComment, Pull, PullDiff, Review } from "./types";

export const TABS = ["open", "closed", "merged", "all"] as const;
export type Tab = (typeof TABS)[number];

/** The list's tab from the address (`?state=`); anything else is the open ones. */
export function tabOf(value: string | null): Tab {
  return TABS.find((t) => t === value) ?? "open";
}

export function pullsApi(project: string, name: string, tail = ""): string {
  return `${repoApi(project, name)}/pulls${tail}`;
}

/** The query keys of a repository's pull requests: every answer about them starts with it. */
export const pullsKey = (project: string, name: string) => ["repos", "pulls", project, name];

export function pullPage(project: string, name: string, number?: number): string {
  return repoPage(project, name, number === undefined ? "/pulls" : `/pulls/${number}`);
}

/** The patch of several files cut where each file's `diff --git` header starts. */
export function splitPatch(patch: string): string[] {
  const starts: number[] = [];
  const header = /^diff --git /gm;
  for (let found = header.exec(patch); found; found = header.exec(patch)) starts.push(found.index);
  return starts.map((start, i) => patch.slice(start, starts[i + 1] ?? patch.length).replace(/\n$/, ""));
}

/** A file's patch past this is not drawn line by line (the API cuts the whole patch at 2 MiB). */
export const MAX_FILE_PATCH = 256 * 1024;

/** The pull request's diff as the browse pages draw one: each listed file with its part of the
 * patch. The patch lists the files in the same order as `files` (one `git diff`, no renames);
 * the last part of a patch cut at its limit is incomplete, so it is left out and said so. */
export function diffFiles(diff: PullDiff, maxFilePatch = MAX_FILE_PATCH): DiffFile[] {
  const pieces = splitPatch(diff.patch);
  return diff.files.map((f, i) => {
    const piece = pieces[i];
    const cut = diff.patch_truncated && (piece === undefined || i === pieces.length - 1);
    const binary = f.additions === null;
    const tooLarge = piece !== undefined && piece.length > maxFilePatch;
    return {
      path: f.path,
      old_path: null,
      status: f.status,
      additions: f.additions ?? 0,
      deletions: f.deletions ?? 0,
      binary,
      patch: piece === undefined || cut || binary || tooLarge ? null : piece,
      too_large: tooLarge && !cut,
      truncated: cut,
    };
  });
}

export type Entry =
  | { kind: "review"; at: string; review: Review }
  | { kind: "comment"; at: string; comment: LineComment };

/** Reviews and line comments in one conversation, oldest first (each list comes oldest first;
 * on the same instant a review comes before a comment). */
export function timeline(reviews: Review[], comments: LineComment[]): Entry[] {
  const entries: Entry[] = [
    ...reviews.map((review) => ({ kind: "review" as const, at: review.created_at, review })),
    ...comments.map((comment) => ({ kind: "comment" as const, at: comment.created_at, comment })),
  ];
  // Array.prototype.sort is stable: ties keep the order above.
  return entries.sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
}

export const REVIEW_TEXT: Record<Review["state"], string> = {
  commented: "commented",
  approved: "approved these changes",
  changes_requested: "requested changes",
};

export type Tone = "good" | "bad" | "warn" | "neutral";

/** The badge of a pull request's mergeability; null once it is not open. */
export function mergeability(pull: Pull): { label: string; tone: Tone } | null {
  if (pull.state !== "open") return null;
  switch (pull.merge_status) {
    case "clean":
      return { label: "mergeable", tone: "good" };
    case "conflicts":
      return { label: "conflicts", tone: "bad" };
    case "unrelated":
      return { label: "unrelated histories", tone: "bad" };
    default:
      return { label: "checking", tone: "neutral" };
  }
}

/** A branch glob as protection reads it (repos/protection/globs.py): `*` within a path segment,
 * `**` across them (`**\/` also none), `?` one character but `/`, the rest literal. */
export function globToRegExp(pattern: string): RegExp {
  let out = "";
  for (let i = 0; i < pattern.length; ) {
    if (pattern.startsWith("**/", i)) {
      out += "(?:.*/)?";
      i += 3;
    } else if (pattern.startsWith("**", i)) {
      out += ".*";
      i += 2;
    } else if (pattern[i] === "*") {
      out += "[^/]*";
      i += 1;
    } else if (pattern[i] === "?") {
      out += "[^/]";
      i += 1;
    } else {
      out += (pattern[i] ?? "").replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");
      i += 1;
    }
  }
  return new RegExp(`^${out}$`, "s");
}

const isGlob = (pattern: string) => pattern.includes("*") || pattern.includes("?");

/** The rule that governs `branch` (rules.matching_rule): the exact one, else the longest
 * matching glob, the older first on a tie. */
export function matchingRule(rules: BranchRule[], branch: string): BranchRule | null {
  const exact = rules.find((r) => !isGlob(r.pattern) && r.pattern === branch);
  if (exact) return exact;
  const globs = rules
    .filter((r) => isGlob(r.pattern) && globToRegExp(r.pattern).test(branch))
    .sort((a, b) => b.pattern.length - a.pattern.length || Date.parse(a.created_at) - Date.parse(b.created_at));
  return globs[0] ?? null;
}

export interface Requirement {
  label: string;
  met: boolean;
}

/** What the base branch's rule asks of a merge (enforce.check_merge), each met or not: the
 * approving reviews, and each required check's latest status on the head. */
export function requirements(pull: Pull, rule: BranchRule | null, status: CombinedStatus | null): Requirement[] {
  if (!rule) return [];
  const found: Requirement[] = [];
  if (rule.required_approvals > 0) {
    found.push({
      label: `${pull.approvals} of ${rule.required_approvals} required approving ${rule.required_approvals === 1 ? "review" : "reviews"}`,
      met: pull.approvals >= rule.required_approvals,
    });
  }
  for (const context of rule.required_checks) {
    const state = status?.statuses.find((s) => s.context === context)?.state;
    found.push({ label: `check ${context}: ${state ?? "not reported"}`, met: state === "success" });
  }
  return found;
}

export type MergeRefusal =
  | { kind: "moved"; message: string; head: string }
  | { kind: "conflicts"; message: string; paths: string[] }
  | { kind: "protection"; message: string; reasons: string[] }
  | { kind: "other"; message: string };

function strings(value: unknown): string[] | null {
  return Array.isArray(value) && value.every((v) => typeof v === "string") ? value : null;
}

/** What a failed merge means for the page: the head moved since it was shown (reload), the
 * branches conflict (which paths), the branch rules refuse (why), or the API's message. */
export function mergeRefusal(error: unknown): MergeRefusal {
  const message = error instanceof Error ? error.message : String(error);
  if (!(error instanceof ApiError) || error.status !== 409) return { kind: "other", message };
  const { head_sha: head, conflicts, protection } = error.details;
  if (typeof head === "string") return { kind: "moved", message, head };
  const paths = strings(conflicts);
  if (paths) return { kind: "conflicts", message, paths };
  const reasons = strings(protection);
  if (reasons) return { kind: "protection", message, reasons };
  return { kind: "other", message };
}

/** The branch a new pull request is from when none is chosen: the first (by name) other than
 * the base. */
export function defaultHead(branches: { name: string }[], base: string): string {
  return branches.find((b) => b.name !== base)?.name ?? "";
}
