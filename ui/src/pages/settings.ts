/** The Settings page's logic: GET /api/v1/settings's rows, filtered, grouped by section, and
 * values as text. Pure functions, tested in settings.test.ts. */

export interface Setting {
  key: string;
  env: string;
  /** The effective value, every secret in it already masked by the server. */
  value: unknown;
  source: string;
  description: string;
  secret: boolean;
}

export interface Section {
  name: string;
  settings: Setting[];
}

/** What each source means, for the page's legend and the badges' titles. */
export const SOURCES: Record<string, string> = {
  environment: "an environment variable of the server's process",
  ".env": "the .env file in the server's working directory",
  "set at start": "the command that started the server (--host, --port, devflow up's embedded PostgreSQL)",
  default: "DevFlow's default",
};

/** Keep the settings whose key, variable or description holds every word of `filter`, and
 * with `changed` only those not at their default. */
export function filterSettings(settings: Setting[], filter: string, changed: boolean): Setting[] {
  const words = filter.toLowerCase().split(/\s+/).filter(Boolean);
  return settings.filter((s) => {
    if (changed && s.source === "default") return false;
    const text = `${s.key} ${s.env} ${s.description}`.toLowerCase();
    return words.every((word) => text.includes(word));
  });
}

/** Group by the key's first part (`server.port` -> `server`); top-level keys go in `general`. */
export function sections(settings: Setting[]): Section[] {
  const found = new Map<string, Setting[]>();
  for (const setting of settings) {
    const dot = setting.key.indexOf(".");
    const name = dot < 0 ? "general" : setting.key.slice(0, dot);
    found.set(name, [...(found.get(name) ?? []), setting]);
  }
  const names = [...found.keys()];
  // `general` first (home, database), then the sections in the server's order.
  names.sort((a, b) => Number(b === "general") - Number(a === "general"));
  return names.map((name) => ({ name, settings: found.get(name) ?? [] }));
}

/** A value as the page shows it: `null` as "not set", structures as indented JSON. */
export function showValue(value: unknown): { text: string; block: boolean; unset: boolean } {
  if (value === null || value === undefined) return { text: "not set", block: false, unset: true };
  if (typeof value === "string") return { text: value === "" ? '""' : value, block: false, unset: false };
  if (typeof value === "object") {
    const empty = Array.isArray(value) ? value.length === 0 : Object.keys(value).length === 0;
    return { text: JSON.stringify(value, null, empty ? 0 : 2), block: !empty, unset: false };
  }
  return { text: String(value), block: false, unset: false };
}
