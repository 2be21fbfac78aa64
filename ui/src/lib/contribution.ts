/** What a domain adds to the dashboard, from its own folder.
 *
 * `src/devflow/<domain>/ui/index.ts(x)` exports `contribution` (a `Contribution`); the shell
 * finds every such file at build time and puts its routes, nav entries and overview cards in
 * place. Adding a domain's pages means writing that folder and nothing else. */

import { createContext, useContext, type ComponentType } from "react";

export interface PageRoute {
  /** A client-side path such as `/knowledge` or `/knowledge/sources/:id`; never one the server
   * owns (`/api`, `/auth`, `/docs`, protocol paths such as `/pypi`). */
  path: string;
  Component: ComponentType;
}

export interface NavEntry {
  to: string;
  label: string;
  /** Lower comes first; the shell's own entries use 0 (Overview) and 900 (Jobs). */
  order?: number;
}

export interface OverviewCard {
  id: string;
  /** Lower comes first. */
  order?: number;
  Component: ComponentType<{ project: string | null }>;
}

export interface Contribution {
  /** The domain's name (`knowledge`, `registry` …), for messages. */
  domain: string;
  routes?: PageRoute[];
  nav?: NavEntry[];
  overview?: OverviewCard[];
}

/** Every domain's contribution, merged and ordered. */
export interface Collected {
  contributions: Contribution[];
  routes: PageRoute[];
  nav: NavEntry[];
  overview: OverviewCard[];
}

function byOrder<T extends { order?: number }>(a: T, b: T): number {
  return (a.order ?? 500) - (b.order ?? 500);
}

function isContribution(value: unknown): value is Contribution {
  return (
    typeof value === "object" && value !== null && typeof (value as Contribution).domain === "string"
  );
}

/** Merge the modules `import.meta.glob` found, each exporting `contribution`.
 *
 * Throws on a module without a contribution, and on two pages claiming one path, naming the
 * files: both are mistakes a build should stop on, not pages that silently vanish. */
export function collect(modules: Record<string, unknown>, shell: Contribution[] = []): Collected {
  const contributions = [...shell];
  for (const [file, module] of Object.entries(modules).sort(([a], [b]) => a.localeCompare(b))) {
    const found = (module as { contribution?: unknown }).contribution;
    if (!isContribution(found)) {
      throw new Error(`${file} must export \`contribution\` (a Contribution from @devflow/ui)`);
    }
    contributions.push(found);
  }
  const owners = new Map<string, string>();
  for (const contribution of contributions) {
    for (const route of contribution.routes ?? []) {
      const owner = owners.get(route.path);
      if (owner !== undefined) {
        throw new Error(
          `${contribution.domain} and ${owner} both contribute the page ${route.path}; rename one`,
        );
      }
      owners.set(route.path, contribution.domain);
    }
  }
  return {
    contributions,
    routes: contributions.flatMap((c) => c.routes ?? []),
    nav: contributions.flatMap((c) => c.nav ?? []).sort(byOrder),
    overview: contributions.flatMap((c) => c.overview ?? []).sort(byOrder),
  };
}

const ContributionsContext = createContext<Collected | null>(null);

/** Provides what `collect` gathered to the pages (the overview shows every domain's cards). */
export const ContributionsProvider = ContributionsContext.Provider;

export function useContributions(): Collected {
  const collected = useContext(ContributionsContext);
  if (!collected) throw new Error("useContributions needs a <ContributionsProvider> above it");
  return collected;
}
