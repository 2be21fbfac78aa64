/** The identity API's shapes the pages read (see /docs, tag identity). */

export interface Member {
  user_id: string;
  username: string;
  role: string;
}

export interface ProjectDetail {
  id: string;
  name: string;
  description: string;
  created_at: string;
  members: Member[];
  your_role: string | null;
}

export interface Scope {
  name: string;
  description: string;
  implied_by: string[];
  default: boolean;
}

export interface Token {
  id: string;
  name: string;
  hint: string;
  scopes: string[];
  project_id: string | null;
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
  revoked_at: string | null;
}

/** POST /api/v1/tokens: the token and, this once, its secret. */
export interface TokenCreated extends Token {
  token: string;
}

export interface TokenCreate {
  name: string;
  scopes: string[];
  project: string | null;
  expires_in_days: number | null;
}

export const ROLES = ["owner", "admin", "write", "read"] as const;
