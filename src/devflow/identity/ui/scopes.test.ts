import { MutationObserver, QueryClient } from "@tanstack/react-query";
import { describe, expect, it } from "vitest";

import { carriedBy, defaultScopes, scopesToSend, toggleScope } from "./scopes";
import { createToken } from "./secret";
import type { Scope, TokenCreated } from "./types";

const CATALOG: Scope[] = [
  { name: "read", description: "read", implied_by: ["write", "admin"], default: true },
  { name: "write", description: "write", implied_by: ["admin"], default: true },
  { name: "registry:publish", description: "publish", implied_by: ["admin"], default: false },
  { name: "admin", description: "all", implied_by: [], default: false },
];

describe("choosing scopes", () => {
  it("starts from the scopes the API marks as default", () => {
    expect(defaultScopes(CATALOG)).toEqual(["read", "write"]);
  });

  it("shows a scope another chosen one carries as carried, and does not send it twice", () => {
    const chosen = toggleScope(["read", "write"], "admin");
    expect(carriedBy(CATALOG[0] as Scope, chosen)).toBe("write");
    expect(carriedBy(CATALOG[2] as Scope, chosen)).toBe("admin");
    expect(scopesToSend(chosen, CATALOG)).toEqual(["admin"]);
  });

  it("toggles a scope off again, in the catalog's order", () => {
    expect(scopesToSend(toggleScope(["registry:publish", "read", "admin"], "admin"), CATALOG)).toEqual([
      "read",
      "registry:publish",
    ]);
  });
});

describe("the once-shown secret", () => {
  it("reaches the page's state only, never a query or mutation cache", async () => {
    const secret = "dfl_s3cret_value_shown_once";
    const created: TokenCreated = {
      id: "t1",
      name: "ci",
      hint: "dfl_…once",
      scopes: ["read"],
      project_id: null,
      created_at: "2026-12-04T00:00:00Z",
      expires_at: null,
      last_used_at: null,
      revoked_at: null,
      token: secret,
    };
    const fake = { post: <T,>() => Promise.resolve(created as T) };
    const queryClient = new QueryClient();
    let shown: string | null = null;
    const observer = new MutationObserver(queryClient, {
      mutationFn: () =>
        createToken(fake, { name: "ci", scopes: ["read"], project: null, expires_in_days: 30 }, (s) => {
          shown = s;
        }),
    });
    const token = await observer.mutate();
    expect(shown).toBe(secret);
    expect(JSON.stringify(token)).not.toContain(secret);
    const caches = JSON.stringify([
      queryClient.getMutationCache().getAll().map((m) => m.state),
      queryClient.getQueryCache().getAll().map((q) => q.state),
    ]);
    expect(caches).not.toContain(secret);
  });
});
