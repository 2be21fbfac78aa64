/** The workflows domain's part of the dashboard: a project's board, a task, and runs (a list
 * and a run with its phases and approvals). The pages are a chunk of their own, fetched on the
 * first visit: the first load of the dashboard does not carry them (bench/ui.py). */

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

const boards = () => import("./Board");
const runs = () => import("./Runs");

export const contribution: Contribution = {
  domain: "workflows",
  routes: [
    { path: "/board", Component: page(boards, "BoardHome") },
    { path: "/board/:project", Component: page(boards, "BoardPage") },
    { path: "/board/:project/tasks/:number", Component: page(() => import("./TaskView"), "TaskView") },
    { path: "/runs", Component: page(runs, "RunsHome") },
    { path: "/runs/:project", Component: page(runs, "RunList") },
    { path: "/runs/:project/:number", Component: page(runs, "RunView") },
  ],
  nav: [
    { to: "/board", label: "Board", order: 300 },
    { to: "/runs", label: "Runs", order: 310 },
  ],
};
