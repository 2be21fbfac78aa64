/** The browsing API's answers (src/devflow/repos/browse/schemas.py). */

export interface Repo {
  name: string;
  project: string;
  description: string;
  visibility: string;
  default_branch: string;
  clone_url: string;
  size_bytes: number;
  last_pushed_at: string | null;
}

export interface Branch {
  name: string;
  commit: string;
  default: boolean;
}

export interface Tag {
  name: string;
  commit: string | null;
}

export interface TreeEntry {
  name: string;
  path: string;
  type: "blob" | "tree" | "commit";
  mode: string;
  size: number | null;
  sha: string;
}

export interface Tree {
  ref: string;
  commit: string;
  path: string;
  entries: TreeEntry[];
}

export interface FileView {
  ref: string;
  commit: string;
  path: string;
  name: string;
  size: number;
  binary: boolean;
  too_large: boolean;
  language: string | null;
  text: string | null;
}

export interface Person {
  name: string;
  email: string;
  date: string;
}

export interface Commit {
  sha: string;
  parents: string[];
  author: Person;
  committer: Person;
  subject: string;
  message: string;
}

export interface CommitPage {
  ref: string;
  commit: string;
  path: string | null;
  items: Commit[];
  total: number;
}

export interface DiffFile {
  path: string;
  old_path: string | null;
  status: string;
  additions: number;
  deletions: number;
  binary: boolean;
  patch: string | null;
  too_large: boolean;
  truncated: boolean;
}

export interface CommitDetail extends Commit {
  diff: {
    files: DiffFile[];
    stats: { files: number; additions: number; deletions: number };
    truncated: boolean;
  };
}

export interface Readme {
  path: string;
  format: "markdown" | "text";
  text: string | null;
}

export interface BlameRange {
  commit: string;
  start: number;
  count: number;
}

export interface Blame {
  ref: string;
  commit: string;
  path: string;
  lines: string[];
  ranges: BlameRange[];
  commits: Record<string, { sha: string; author: string; date: string; summary: string }>;
}

export interface Comparison {
  base: string;
  head: string;
  merge_base: string | null;
  ahead: number;
  behind: number;
  commits: Commit[];
  total_commits: number;
  diff: CommitDetail["diff"];
}
