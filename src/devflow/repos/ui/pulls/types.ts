/** The pull requests API's answers (src/devflow/repos/pulls/schemas.py) and the branch rules and
 * commit statuses the merge box reads (src/devflow/repos/protection/schemas.py). */

export type PullState = "open" | "closed" | "merged";
export type MergeMethod = "merge" | "squash" | "rebase" | "ff";
export type MergeStatus = "clean" | "conflicts" | "unrelated" | "unknown";

export interface Pull {
  number: number;
  project: string;
  repository: string;
  title: string;
  body: string;
  draft: boolean;
  state: PullState;
  head: string;
  /** PROJECT/NAME of the repository `head` is in (this one or a fork); null once that fork was deleted. */
  head_repository: string | null;
  base: string;
  head_sha: string;
  base_sha: string;
  mergeable: boolean | null;
  merge_status: MergeStatus;
  conflicts: string[];
  author: string | null;
  approvals: number;
  changes_requested: number;
  created_at: string;
  updated_at: string;
  closed_at: string | null;
  merged_at: string | null;
  merged_by: string | null;
  merge_method: MergeMethod | null;
  merge_commit_sha: string | null;
}

export interface Review {
  id: string;
  author: string | null;
  state: "commented" | "approved" | "changes_requested";
  body: string;
  commit_sha: string;
  created_at: string;
}

export type ReviewEvent = "comment" | "approve" | "request_changes";

export interface LineComment {
  id: string;
  author: string | null;
  body: string;
  path: string;
  line: number;
  commit_sha: string;
  line_text: string;
  outdated: boolean;
  created_at: string;
}

export interface PullCommit {
  sha: string;
  author_name: string;
  author_email: string;
  authored_at: string;
  title: string;
}

export interface PullDiffFile {
  path: string;
  status: "added" | "modified" | "deleted" | "type_changed" | "other";
  /** null for a binary file. */
  additions: number | null;
  deletions: number | null;
}

export interface PullDiff {
  base_sha: string;
  head_sha: string;
  merge_base: string | null;
  files: PullDiffFile[];
  total_files: number;
  additions: number;
  deletions: number;
  files_truncated: boolean;
  /** Every file's patch in one text, in the order of `files`. */
  patch: string;
  patch_truncated: boolean;
}

export interface MergeResult {
  pull: Pull;
  sha: string;
  closed_tasks: number[];
  branch_deleted: boolean;
}

export interface BranchRule {
  pattern: string;
  required_approvals: number;
  required_checks: string[];
  created_at: string;
}

export type StatusState = "pending" | "success" | "failure" | "error";

export interface CombinedStatus {
  state: StatusState;
  sha: string;
  total_count: number;
  statuses: { context: string; state: StatusState; description: string | null; target_url: string | null }[];
}
