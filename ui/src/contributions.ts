/** Every domain's pages, found at build time in src/devflow/<domain>/ui/index.ts(x). */

import { collect, type Contribution } from "./lib/contribution";
import { Jobs } from "./pages/Jobs";
import { Overview } from "./pages/Overview";

/** The shell's own pages: the platform's, not a domain's (jobs and events belong to core). */
export const shell: Contribution = {
  domain: "shell",
  routes: [
    { path: "/", Component: Overview },
    { path: "/jobs", Component: Jobs },
  ],
  nav: [
    { to: "/", label: "Overview", order: 0 },
    { to: "/jobs", label: "Jobs", order: 900 },
  ],
};

export const collected = collect(
  import.meta.glob("../../src/devflow/*/ui/index.{ts,tsx}", { eager: true }),
  [shell],
);
