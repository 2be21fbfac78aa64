/** The secrets API's shapes (src/devflow/secrets/schemas.py): never a value, except `value` on
 * a reveal, which the pages hold only while it is shown. */

export type Tier = "system" | "user" | "project";
export type Provider = "onepassword" | "dotenv" | "environment" | "store";

export interface Secret {
  name: string;
  tier: Tier;
  scope: string;
  environment: string;
  version: number;
  kind: "value" | "reference";
  reference: string | null;
  description: string;
  created_at: string;
  updated_at: string;
  value?: string | null;
}

export interface Version {
  version: number;
  kind: "value" | "reference";
  reference: string | null;
  key_id: string | null;
  note: string;
  created_at: string;
  created_by: string | null;
  current: boolean;
}

/** POST /api/v1/secrets/resolve without `reveal`: which tier and provider wins for a name. */
export interface Resolved {
  name: string;
  tier: Tier;
  provider: Provider;
  environment: string;
  version: number | null;
  reference: string | null;
  stale: boolean;
}

export interface Key {
  key_id: string;
  state: string;
  fingerprint: string;
  sealed: number;
  created_at: string;
  activated_at: string | null;
  retired_at: string | null;
}

export interface AuditEntry {
  seq: number;
  at: string;
  actor: string;
  action: string;
  outcome: string;
  scope: string;
  environment: string;
  name: string;
  version: number | null;
  provider: string;
  reason: string;
  request_id: string;
  hash: string;
}

export interface AuditVerify {
  ok: boolean;
  checked: number;
  broken_at: number | null;
  problem: string | null;
}
