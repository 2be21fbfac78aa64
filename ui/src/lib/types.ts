/** The API's shapes the shell reads (see /docs for the full schema). */

export interface Page<T> {
  items: T[];
  total: number;
}

export interface User {
  id: string;
  username: string;
  email: string | null;
  display_name: string;
  is_admin: boolean;
}

/** GET /api/v1/session: who the dashboard acts as, and with what powers. */
export interface SessionInfo {
  user: User;
  scopes: string[];
  project: string | null;
  expires_at: string | null;
  kind: string;
}

export interface Project {
  id: string;
  name: string;
  description: string;
}

export interface Job {
  id: number;
  task: string;
  status: string;
  attempts: number;
  done: number;
  total: number | null;
  message: string;
  error: string | null;
  project_id: string | null;
  scheduled_at: string | null;
  updated_at: string | null;
  phase: string | null;
  unit: string | null;
  rate: number | null;
  eta_seconds: number | null;
  /** What the session may do with the job now (the API decides: status, role, scopes). */
  actions: JobAction[];
}

export type JobAction = "cancel" | "retry";

/** One frame of GET /api/v1/events. */
export interface DevflowEvent {
  id: number;
  type: string;
  project_id: string | null;
  actor_id: string | null;
  created_at: string;
  payload: Record<string, unknown>;
}
