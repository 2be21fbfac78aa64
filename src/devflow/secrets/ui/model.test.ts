import { describe, expect, it } from "vitest";

import type { SessionInfo } from "@devflow/ui";

import {
  environmentsOf,
  isInstanceAdmin,
  namesByEnvironment,
  parseScope,
  provenanceOf,
  scopeParam,
  secretsApi,
  writeBody,
  type SecretForm,
} from "./model";
import type { Resolved, Secret } from "./types";

const secret: Secret = {
  name: "API_KEY",
  tier: "project",
  scope: "project:default",
  environment: "development",
  version: 2,
  kind: "value",
  reference: null,
  description: "",
  created_at: "2025-01-01T00:00:00Z",
  updated_at: "2025-01-02T00:00:00Z",
};

const resolved: Resolved = {
  name: "API_KEY",
  tier: "project",
  provider: "store",
  environment: "development",
  version: 2,
  reference: null,
  stale: false,
};

const form: SecretForm = {
  name: "API_KEY",
  kind: "value",
  value: "s3cret",
  reference: "",
  environment: "development",
  description: " the key ",
};

describe("scopes", () => {
  it("round-trips a project, the user and the system through ?scope=", () => {
    for (const scope of [{ tier: "project", project: "web" }, { tier: "user" }, { tier: "system" }] as const) {
      expect(parseScope(scopeParam(scope), { tier: "user" }, true)).toEqual(scope);
    }
  });

  it("falls back from system for someone who is not an admin, and from nonsense", () => {
    expect(parseScope("system", { tier: "user" }, false)).toEqual({ tier: "user" });
    expect(parseScope("project:", { tier: "user" }, true)).toEqual({ tier: "user" });
    expect(parseScope(null, { tier: "project", project: "p" }, true)).toEqual({ tier: "project", project: "p" });
  });

  it("builds each tier's API path with the name encoded", () => {
    expect(secretsApi({ tier: "project", project: "my app" })).toBe("/api/v1/projects/my%20app/secrets");
    expect(secretsApi({ tier: "user" }, "TOKEN")).toBe("/api/v1/secrets/user/TOKEN");
    expect(secretsApi({ tier: "system" }, "A_B", "history")).toBe("/api/v1/secrets/system/A_B/history");
  });
});

describe("environmentsOf", () => {
  it("offers the usual three first, then the others seen, once each", () => {
    expect(environmentsOf(["qa", "production", "qa", "demo"])).toEqual([
      "development",
      "staging",
      "production",
      "demo",
      "qa",
    ]);
  });

  it("groups names by environment for one resolve call each", () => {
    const groups = namesByEnvironment([secret, { ...secret, name: "B" }, { ...secret, environment: "production" }]);
    expect([...groups]).toEqual([
      ["development", ["API_KEY", "B"]],
      ["production", ["API_KEY"]],
    ]);
  });
});

describe("isInstanceAdmin", () => {
  const session: SessionInfo = {
    user: { id: "1", username: "admin", email: null, display_name: "", is_admin: true },
    scopes: ["read", "write", "admin"],
    project: null,
    expires_at: null,
    kind: "session",
  };

  it("needs an admin user, the admin scope and no project restriction", () => {
    expect(isInstanceAdmin(session)).toBe(true);
    expect(isInstanceAdmin({ ...session, scopes: ["read", "write"] })).toBe(false);
    expect(isInstanceAdmin({ ...session, project: "web" })).toBe(false);
    expect(isInstanceAdmin({ ...session, user: { ...session.user, is_admin: false } })).toBe(false);
  });
});

describe("writeBody", () => {
  it("sends a value with the trimmed description and environment", () => {
    expect(writeBody(form)).toEqual({
      body: { value: "s3cret", environment: "development", description: "the key" },
    });
  });

  it("keeps a value exactly as typed, spaces included", () => {
    expect(writeBody({ ...form, value: " a b " })).toMatchObject({ body: { value: " a b " } });
  });

  it("sends a 1Password reference instead of a value, never both", () => {
    const sent = writeBody({ ...form, kind: "reference", reference: " op://vault/item/field " });
    expect(sent).toEqual({
      body: { reference: "op://vault/item/field", environment: "development", description: "the key" },
    });
  });

  it("says what to fix: a bad name, an empty value, a reference that is not op://", () => {
    expect(writeBody({ ...form, name: "1BAD" })).toHaveProperty("error");
    expect(writeBody({ ...form, name: "has-dash" })).toHaveProperty("error");
    expect(writeBody({ ...form, value: "" })).toHaveProperty("error");
    expect(writeBody({ ...form, environment: "Prod" })).toHaveProperty("error");
    expect(writeBody({ ...form, kind: "reference", reference: "vault/item" })).toHaveProperty("error");
  });
});

describe("provenanceOf", () => {
  it("is this row when its tier's store answers", () => {
    expect(provenanceOf(secret, resolved)).toEqual({ label: "project · DevFlow store", shadowed: false, note: null });
  });

  it("is this row when a reference is answered by 1Password", () => {
    const reference = { ...secret, kind: "reference" as const, reference: "op://v/i/f" };
    expect(provenanceOf(reference, { ...resolved, provider: "onepassword" })?.shadowed).toBe(false);
  });

  it("says when a .env file or an environment variable shadows the stored version", () => {
    const dotenv = provenanceOf(secret, { ...resolved, provider: "dotenv", version: null });
    expect(dotenv).toMatchObject({ label: "project · .env file", shadowed: true });
    expect(dotenv?.note).toMatch(/\.env file/);
    expect(provenanceOf(secret, { ...resolved, provider: "environment" })?.note).toBe("shadowed by an environment variable: this version is not used");
  });

  it("says when another tier answers, and marks a stale 1Password value", () => {
    expect(provenanceOf(secret, { ...resolved, tier: "user" })).toMatchObject({ shadowed: true });
    expect(provenanceOf(secret, { ...resolved, stale: true })?.label).toBe("project · DevFlow store (stale)");
  });

  it("is unknown until resolved", () => {
    expect(provenanceOf(secret, undefined)).toBeNull();
  });
});
