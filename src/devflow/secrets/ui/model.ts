/** What the secrets pages compute without React: where a scope's secrets live in the API, the
 * environments to offer, what a form sends, and how a name's provenance reads. */

import type { SessionInfo } from "@devflow/ui";

import type { Provider, Resolved, Secret } from "./types";

/** Whose secrets the page shows: a project's, the signed-in user's, or the instance's. */
export type Scope = { tier: "project"; project: string } | { tier: "user" } | { tier: "system" };

export const ENVIRONMENTS = ["development", "staging", "production"] as const;

/** The audit log's actions (src/devflow/secrets/service.py and api.py), for its filter. */
export const AUDIT_ACTIONS = [
  "read",
  "write",
  "show",
  "list",
  "history",
  "rollback",
  "delete",
  "resolve",
  "key.rotate",
  "key.reencrypt",
] as const;

/** `project:<name>`, `user` or `system`, as the page's `?scope=` holds it. */
export function scopeParam(scope: Scope): string {
  return scope.tier === "project" ? `project:${scope.project}` : scope.tier;
}

/** The scope `?scope=` names, else `fallback`; `system` only for those who may see it. */
export function parseScope(text: string | null, fallback: Scope, admin: boolean): Scope {
  if (text === "user") return { tier: "user" };
  if (text === "system") return admin ? { tier: "system" } : fallback;
  if (text?.startsWith("project:") && text.length > "project:".length) {
    return { tier: "project", project: text.slice("project:".length) };
  }
  return fallback;
}

/** The API path of a scope's secrets, of one secret, or of one of its sub-resources. */
export function secretsApi(scope: Scope, name?: string, sub?: "history" | "rollback"): string {
  const base =
    scope.tier === "project"
      ? `/api/v1/projects/${encodeURIComponent(scope.project)}/secrets`
      : `/api/v1/secrets/${scope.tier}`;
  if (name === undefined) return base;
  return `${base}/${encodeURIComponent(name)}${sub ? `/${sub}` : ""}`;
}

/** The three usual environments first, then every other one seen, once each. */
export function environmentsOf(seen: Iterable<string>): string[] {
  const standard: readonly string[] = ENVIRONMENTS;
  const others = [...new Set(seen)].filter((e) => e && !standard.includes(e)).sort();
  return [...standard, ...others];
}

/** The names of `secrets` per environment: one resolve call each. */
export function namesByEnvironment(secrets: Secret[]): Map<string, string[]> {
  const groups = new Map<string, string[]>();
  for (const s of secrets) groups.set(s.environment, [...(groups.get(s.environment) ?? []), s.name]);
  return groups;
}

/** Whether the session is an instance admin with an unrestricted admin token (what system
 * secrets, keys and the audit log ask; the API decides, the page only hides what it refuses). */
export function isInstanceAdmin(session: SessionInfo): boolean {
  return session.user.is_admin && session.scopes.includes("admin") && session.project === null;
}

export interface SecretForm {
  name: string;
  kind: "value" | "reference";
  value: string;
  reference: string;
  environment: string;
  description: string;
}

export interface SecretWriteBody {
  value?: string;
  reference?: string;
  environment: string;
  description: string;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
const ENVIRONMENT = /^[a-z][a-z0-9-]{0,31}$/;

/** The PUT body for the form, or what to fix first. The API checks again (its word is final);
 * this only spares a round trip for the obvious. */
export function writeBody(form: SecretForm): { body: SecretWriteBody } | { error: string } {
  if (!NAME.test(form.name)) {
    return { error: "A name is letters, digits and _, not starting with a digit, at most 128 (API_KEY)" };
  }
  if (!ENVIRONMENT.test(form.environment.trim())) {
    return { error: "An environment is lower-case letters, digits and -, starting with a letter" };
  }
  const common = { environment: form.environment.trim(), description: form.description.trim() };
  if (form.kind === "reference") {
    const reference = form.reference.trim();
    if (!reference.startsWith("op://")) {
      return { error: "A 1Password reference reads op://vault/item/field" };
    }
    return { body: { ...common, reference } };
  }
  if (form.value === "") return { error: "Enter the value" };
  return { body: { ...common, value: form.value } };
}

const PROVIDER_LABEL: Record<Provider, string> = {
  onepassword: "1Password",
  dotenv: ".env file",
  environment: "environment variable",
  store: "DevFlow store",
};

const SHADOWED_BY: Record<Provider, string> = {
  onepassword: "a 1Password reference",
  dotenv: "a .env file",
  environment: "an environment variable",
  store: "a stored value",
};

export interface Provenance {
  /** "project · DevFlow store" */
  label: string;
  /** Something other than this row's stored version answers for the name. */
  shadowed: boolean;
  /** Why, when shadowed. */
  note: string | null;
}

/** Where the value a job would get for `secret`'s name comes from, and whether that is this
 * row (its tier's store, or 1Password for a reference) or something ahead of it. */
export function provenanceOf(secret: Secret, resolved: Resolved | undefined): Provenance | null {
  if (!resolved) return null;
  const label = `${resolved.tier} · ${PROVIDER_LABEL[resolved.provider]}${resolved.stale ? " (stale)" : ""}`;
  const own = secret.kind === "reference" ? "onepassword" : "store";
  if (resolved.tier !== secret.tier) {
    return { label, shadowed: true, note: `the ${resolved.tier} tier answers for ${secret.name}` };
  }
  if (resolved.provider !== own) {
    const note = `shadowed by ${SHADOWED_BY[resolved.provider]}: this version is not used`;
    return { label, shadowed: true, note };
  }
  return { label, shadowed: false, note: null };
}

/** What stands for a value that is hidden: the same length whatever the value, so the mask
 * tells nothing about it. */
export const MASK = "••••••••••••";
