/** Every domain's pages, found at build time in src/devflow/<domain>/ui/index.ts(x). */

import { collect, type Contribution } from "./lib/contribution";
import { Jobs } from "./pages/Jobs";
import { Overview } from "./pages/Overview";
import { Settings } from "./pages/Settings";

/** The shell's own pages: the platform's, not a domain's (jobs, events and the settings tree
 * belong to core). */
export const shell: Contribution = {
  domain: "shell",
  routes: [
    { path: "/", Component: Overview },
    { path: "/jobs", Component: Jobs },
    { path: "/settings", Component: Settings },
  ],
  nav: [
    { to: "/", label: "Overview", order: 0 },
    { to: "/jobs", label: "Jobs", order: 900 },
    { to: "/settings", label: "Settings", order: 950 },
  ],
};

export const collected = collect(
  import.meta.glob("../../src/devflow/*/ui/index.{ts,tsx}", { eager: true }),
  [shell],
);
