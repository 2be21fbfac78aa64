/** The workflows API's shapes the pages read (src/devflow/workflows/schemas.py; /docs has them
 * all). Runs: src/devflow/workflows/runs/schemas.py. */

export type TaskType = "task" | "bug" | "feature" | "epic";
export type Priority = "low" | "medium" | "high" | "urgent";
export type State = "open" | "in_progress" | "review" | "done";
export type Gate = "approval" | "validation";

export const TASK_TYPES: TaskType[] = ["task", "bug", "feature", "epic"];
export const PRIORITIES: Priority[] = ["low", "medium", "high", "urgent"];

export interface Task {
  number: number;
  title: string;
  type: TaskType;
  priority: Priority;
  labels: string[];
  state: State;
  column: string;
  assignee: string | null;
  assignee_kind: string | null;
  lease_expires_at: string | null;
  parent: number | null;
  blocked_by: number[];
  blocked: boolean;
  milestone: string | null;
  run: number | null;
  phase: string | null;
  gate: Gate | null;
  version: number;
  created_at: string;
  updated_at: string;
  closed_at: string | null;
}

export interface TaskLink {
  kind: "branch" | "commit" | "url" | "pull_request";
  ref: string;
  title: string;
}

export interface TaskDetail extends Task {
  body: string;
  done_definition: string;
  links: TaskLink[];
  children: number[];
  created_by: string | null;
  comment_count: number;
}

export interface Column {
  id: string;
  name: string;
  state: State;
  position: number;
  wip_limit: number | null;
  count: number;
}

export interface BoardColumn extends Column {
  tasks: Task[];
}

export interface Board {
  project: string;
  columns: BoardColumn[];
}

export interface Comment {
  id: number;
  author: string | null;
  body: string;
  created_at: string;
}

export interface Change {
  id: number;
  at: string;
  actor: string | null;
  field: string;
  old: unknown;
  new: unknown;
  note: string | null;
}

export type RunState =
  | "pending"
  | "running"
  | "paused"
  | "awaiting_approval"
  | "succeeded"
  | "failed"
  | "cancelled";

export const RUN_STATES: RunState[] = [
  "pending",
  "running",
  "paused",
  "awaiting_approval",
  "succeeded",
  "failed",
  "cancelled",
];

export interface RunPhase {
  id: string;
  name: string;
  description: string;
  max_agents: number | null;
  approval: boolean;
  tasks: Partial<Record<State, number>>;
}

export interface Approval {
  id: string | number;
  kind: "phase" | "review" | "result";
  phase: string | null;
  task: number | null;
  state: "pending" | "approved" | "rejected" | "cancelled";
  requested_at: string;
  due_at: string | null;
  on_timeout?: "approve" | "reject";
  decided_by?: string | null;
  decided_at?: string | null;
  comment: string | null;
}

export interface Run {
  number: number;
  workflow: string;
  workflow_version: number | string | null;
  goal: string;
  params: Record<string, unknown>;
  state: RunState;
  result: string | null;
  outcome: string | null;
  phases?: RunPhase[];
  approvals?: Approval[];
  created_by?: string | null;
  created_at: string;
  finished_at: string | null;
}
