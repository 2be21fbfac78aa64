/** Choosing a token's scopes from GET /api/v1/scopes: the defaults to start with, and the scopes a
 * chosen one already carries (`admin` carries all), shown checked and not sent twice. */

import type { Scope } from "./types";

export function defaultScopes(catalog: Scope[]): string[] {
  return catalog.filter((s) => s.default).map((s) => s.name);
}

/** The chosen scope that carries `scope`, or null when none does. */
export function carriedBy(scope: Scope, chosen: readonly string[]): string | null {
  return scope.implied_by.find((name) => name !== scope.name && chosen.includes(name)) ?? null;
}

export function toggleScope(chosen: readonly string[], name: string): string[] {
  return chosen.includes(name) ? chosen.filter((s) => s !== name) : [...chosen, name];
}

/** What to send: the chosen scopes in the catalog's order, less those another chosen scope
 * carries (the token's scopes then read as what was meant: `admin`, not `admin, read, write`). */
export function scopesToSend(chosen: readonly string[], catalog: Scope[]): string[] {
  return catalog.filter((s) => chosen.includes(s.name) && carriedBy(s, chosen) === null).map((s) => s.name);
}
