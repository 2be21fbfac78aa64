import { useState } from "react";
import { NavLink, Outlet } from "react-router-dom";

import { ErrorMessage } from "./lib/components";
import type { NavEntry } from "./lib/contribution";
import { useLiveStatus } from "./lib/live";
import { useSession } from "./lib/session";
import { nextTheme, saveTheme, storedTheme, type Theme } from "./lib/theme";

const THEME_LABEL: Record<Theme, string> = {
  system: "Theme: system",
  light: "Theme: light",
  dark: "Theme: dark",
};

function ThemeToggle() {
  const [theme, setTheme] = useState<Theme>(storedTheme);
  return (
    <button
      type="button"
      className="rounded px-2 py-1 text-sm hover:bg-slate-200 dark:hover:bg-slate-800"
      title="Switch between the system's theme, light and dark"
      onClick={() => {
        const next = nextTheme(theme);
        saveTheme(next);
        setTheme(next);
      }}
    >
      {THEME_LABEL[theme]}
    </button>
  );
}

function LiveIndicator() {
  const status = useLiveStatus();
  const text = status === "live" ? "live" : status === "reconnecting" ? "reconnecting…" : "connecting…";
  return (
    // A fixed width: "connecting…" turning "live" must not re-wrap the header on a narrow
    // screen and push the page down (layout shift, bench/ui.py's Lighthouse on mobile).
    <span
      className="inline-block w-28 text-xs text-slate-500 dark:text-slate-400"
      aria-live="polite"
    >
      <span
        aria-hidden="true"
        className={`mr-1 inline-block h-2 w-2 rounded-full ${status === "live" ? "bg-emerald-500" : "bg-amber-500"}`}
      />
      {text}
    </span>
  );
}

function ProjectSwitcher() {
  const { projects, project, setProject, session } = useSession();
  if (session.project) {
    return (
      <span className="text-sm" title="This session's token is restricted to one project">
        Project: <strong>{session.project}</strong>
      </span>
    );
  }
  return (
    <label className="text-sm">
      <span className="mr-1">Project</span>
      <select
        className="w-36 rounded border border-slate-300 bg-white px-1 py-0.5 dark:border-slate-700 dark:bg-slate-900"
        value={project ?? ""}
        onChange={(event) => setProject(event.target.value || null)}
      >
        <option value="">All projects</option>
        {projects.map((p) => (
          <option key={p.id} value={p.name}>
            {p.name}
          </option>
        ))}
      </select>
    </label>
  );
}

function Account() {
  const { session, signOut } = useSession();
  const [error, setError] = useState<unknown>(null);
  const who = session.user.display_name || session.user.username;
  const powers = session.scopes.join(", ");
  return (
    <div className="flex items-center gap-2 text-sm">
      <span title={`Scopes: ${powers}`}>
        {who}
        <span className="ml-1 text-slate-500 dark:text-slate-400">({powers})</span>
      </span>
      <button
        type="button"
        className="rounded px-2 py-1 hover:bg-slate-200 dark:hover:bg-slate-800"
        onClick={() => signOut().catch(setError)}
      >
        Sign out
      </button>
      {error ? <ErrorMessage error={error} /> : null}
    </div>
  );
}

export function Layout({ nav }: { nav: NavEntry[] }) {
  return (
    <div className="min-h-screen">
      <a
        href="#main"
        className="sr-only focus:not-sr-only focus:absolute focus:left-2 focus:top-2 focus:rounded focus:bg-white focus:p-2 dark:focus:bg-slate-900"
      >
        Skip to content
      </a>
      <header className="border-b border-slate-200 bg-white dark:border-slate-800 dark:bg-slate-900">
        <div className="mx-auto flex max-w-6xl flex-wrap items-center gap-x-6 gap-y-2 px-4 py-2">
          <span className="font-semibold">DevFlow</span>
          <nav aria-label="Main">
            <ul className="flex flex-wrap gap-1">
              {nav.map((entry) => (
                <li key={entry.to}>
                  <NavLink
                    to={entry.to}
                    end={entry.to === "/"}
                    className={({ isActive }) =>
                      `rounded px-2 py-1 text-sm ${isActive ? "bg-slate-200 font-medium dark:bg-slate-800" : "hover:bg-slate-100 dark:hover:bg-slate-800"}`
                    }
                  >
                    {entry.label}
                  </NavLink>
                </li>
              ))}
            </ul>
          </nav>
          <div className="ml-auto flex flex-wrap items-center gap-3">
            <LiveIndicator />
            <ProjectSwitcher />
            <ThemeToggle />
            <Account />
          </div>
        </div>
      </header>
      <main id="main" tabIndex={-1} className="mx-auto max-w-6xl px-4 py-6">
        <Outlet />
      </main>
    </div>
  );
}
