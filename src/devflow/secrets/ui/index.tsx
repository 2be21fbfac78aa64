/** The secrets domain's part of the dashboard: names, versions and provenance of a project's,
 * the user's or (instance admins) the system's secrets, set, updated, rolled back and deleted;
 * a value only on an explicit, audited Reveal. Keys and the audit log for instance admins. The
 * page is a chunk of its own, fetched on the first visit. */

import { lazy, Suspense, type ComponentType } from "react";

import type { Contribution } from "@devflow/ui";

function page<T extends Record<string, unknown>>(load: () => Promise<T>, name: keyof T): ComponentType {
  const Lazy = lazy(async () => ({ default: (await load())[name] as ComponentType }));
  return function LazyPage() {
    return (
      <Suspense fallback={<p className="text-sm text-slate-500">Loading…</p>}>
        <Lazy />
      </Suspense>
    );
  };
}

const pages = () => import("./pages");

export const contribution: Contribution = {
  domain: "secrets",
  routes: [{ path: "/secrets", Component: page(pages, "SecretsPage") }],
  nav: [{ to: "/secrets", label: "Secrets", order: 720 }],
};
