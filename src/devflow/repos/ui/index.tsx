/** Git hosting's part of the dashboard: browsing a repository (its files at a branch or tag, the
 * README, the history, a commit's diff, blame and a comparison of two branches) and its pull
 * requests (the list, a new one, one with its conversation, commits, files and merge box). Each
 * part is a chunk of its own, fetched on the first visit: the first load of the dashboard does
 * not carry them. */

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

const browse = () => import("./browse/pages");
const pulls = () => import("./pulls/pages");

export const contribution: Contribution = {
  domain: "repos",
  routes: [
    { path: "/code", Component: page(browse, "CodeHome") },
    { path: "/code/:project/:name", Component: page(browse, "TreePage") },
    { path: "/code/:project/:name/file", Component: page(browse, "FilePage") },
    { path: "/code/:project/:name/commits", Component: page(browse, "CommitsPage") },
    { path: "/code/:project/:name/commits/:sha", Component: page(browse, "CommitPage") },
    { path: "/code/:project/:name/blame", Component: page(browse, "BlamePage") },
    { path: "/code/:project/:name/compare", Component: page(browse, "ComparePage") },
    { path: "/code/:project/:name/pulls", Component: page(pulls, "PullsPage") },
    { path: "/code/:project/:name/pulls/new", Component: page(pulls, "NewPullPage") },
    { path: "/code/:project/:name/pulls/:number", Component: page(pulls, "PullPage") },
  ],
  nav: [{ to: "/code", label: "Code", order: 250 }],
};
