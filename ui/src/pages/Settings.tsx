/** The server's effective configuration, read-only: every setting with its value (secrets
 * masked by the server, never sent), where it came from and the variable that sets it, as
 * `devflow config show` prints it. Instance admins only; settings are read at start, so there
 * is nothing live to follow: a change means a restart. */

import { useQuery } from "@tanstack/react-query";
import { useState } from "react";

import { api, ApiError } from "../lib/api";
import { Code, EmptyState, ErrorMessage } from "../lib/components";
import { INPUT } from "../lib/confirm";
import type { Page } from "../lib/types";
import { filterSettings, sections, showValue, SOURCES, type Setting } from "./settings";

const BADGE: Record<string, string> = {
  environment: "bg-indigo-100 text-indigo-900 dark:bg-indigo-950 dark:text-indigo-200",
  ".env": "bg-emerald-100 text-emerald-900 dark:bg-emerald-950 dark:text-emerald-200",
  "set at start": "bg-amber-100 text-amber-900 dark:bg-amber-950 dark:text-amber-200",
  default: "bg-slate-100 text-slate-800 dark:bg-slate-800 dark:text-slate-200",
};

function Source({ source }: { source: string }) {
  return (
    <span title={`From ${SOURCES[source] ?? source}`} className={`whitespace-nowrap rounded px-1.5 py-0.5 text-xs font-medium ${BADGE[source] ?? BADGE.default ?? ""}`}>
      {source}
    </span>
  );
}

function Value({ setting }: { setting: Setting }) {
  const shown = showValue(setting.value);
  const style = shown.unset ? "italic text-slate-600 dark:text-slate-400" : "font-mono text-xs";
  return (
    <div className="space-y-1">
      {shown.block ? (
        // Wrapped, not scrolled: a scrolling box would need its own keyboard focus.
        <pre className="whitespace-pre-wrap break-all rounded bg-slate-50 p-2 font-mono text-xs dark:bg-slate-950">{shown.text}</pre>
      ) : (
        <span className={`break-all ${style}`}>{shown.text}</span>
      )}
      {setting.secret ? (
        <span className="block text-xs text-slate-600 dark:text-slate-400">holds a secret: masked, never sent</span>
      ) : null}
    </div>
  );
}

function SectionTable({ name, settings }: { name: string; settings: Setting[] }) {
  return (
    <section aria-labelledby={`settings-${name}`} className="rounded-lg border border-slate-200 bg-white p-4 dark:border-slate-800 dark:bg-slate-900">
      <h2 id={`settings-${name}`} className="mb-2 font-semibold">
        {name}
      </h2>
      <div className="overflow-x-auto">
        <table className="w-full table-fixed text-left text-sm">
          <caption className="sr-only">Settings of the {name} section</caption>
          <colgroup>
            <col className="w-2/5" />
            <col className="w-2/5" />
            <col className="w-1/5" />
          </colgroup>
          <thead className="text-xs uppercase text-slate-600 dark:text-slate-400">
            <tr>
              <th scope="col" className="py-1 pr-3 font-medium">Setting</th>
              <th scope="col" className="py-1 pr-3 font-medium">Value</th>
              <th scope="col" className="py-1 font-medium">Source</th>
            </tr>
          </thead>
          <tbody className="divide-y divide-slate-200 align-top dark:divide-slate-800">
            {settings.map((setting) => (
              <tr key={setting.key}>
                <th scope="row" className="py-2 pr-3 font-normal">
                  <span className="block break-all font-mono text-xs font-semibold">{setting.key}</span>
                  <span className="block break-all font-mono text-xs text-slate-600 dark:text-slate-400">{setting.env}</span>
                  {setting.description ? <span className="mt-1 block text-xs text-slate-700 dark:text-slate-300">{setting.description}</span> : null}
                </th>
                <td className="py-2 pr-3">
                  <Value setting={setting} />
                </td>
                <td className="py-2">
                  <Source source={setting.source} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

export function Settings() {
  const settings = useQuery({
    queryKey: ["settings"],
    queryFn: ({ signal }) => api.get<Page<Setting>>("/api/v1/settings", undefined, signal),
    retry: (count, error) => !(error instanceof ApiError && error.status < 500) && count < 1,
  });
  const [filter, setFilter] = useState("");
  const [changed, setChanged] = useState(false);
  const shown = filterSettings(settings.data?.items ?? [], filter, changed);
  const refused = settings.error instanceof ApiError && settings.error.status === 403;
  return (
    <div className="space-y-4">
      <h1 className="text-xl font-semibold">Settings</h1>
      <p className="max-w-3xl text-sm text-slate-700 dark:text-slate-300">
        The server&apos;s effective configuration, as <Code>devflow config show</Code> prints it. DevFlow reads it once at
        start from environment variables, a <Code>.env</Code> file in its working directory, and its defaults: to change a
        value, set its variable and restart DevFlow. Secrets are masked by the server and never sent to the browser.
      </p>
      {settings.error ? (
        <>
          {refused ? (
            <ErrorMessage error={settings.error} />
          ) : (
            <ErrorMessage error={settings.error} retry={() => void settings.refetch()} />
          )}
          {refused ? (
            <p className="text-sm text-slate-700 dark:text-slate-300">
              The configuration says where the database, blobs and providers are, so only an instance admin signed in
              with an unrestricted admin token sees it. On the server, <Code>devflow config show</Code> prints it too.
            </p>
          ) : null}
        </>
      ) : null}
      {settings.isPending ? <p className="text-sm text-slate-600 dark:text-slate-400">Loading settings…</p> : null}
      {settings.data ? (
        <>
          <form role="search" className="flex flex-wrap items-center gap-4 text-sm" onSubmit={(event) => event.preventDefault()}>
            <label className="flex items-center gap-2">
              <span>Filter</span>
              <input
                type="search"
                className={`${INPUT} w-64`}
                placeholder="port, llm, DEVFLOW_…"
                value={filter}
                onChange={(e) => setFilter(e.target.value)}
              />
            </label>
            <label className="flex items-center gap-2">
              <input type="checkbox" checked={changed} onChange={(e) => setChanged(e.target.checked)} />
              only values not at their default
            </label>
            <span className="text-slate-600 dark:text-slate-400" aria-live="polite">
              {shown.length} of {settings.data.total} settings
            </span>
          </form>
          <dl className="grid gap-x-3 gap-y-1 text-xs sm:grid-cols-[auto_1fr]">
            {Object.entries(SOURCES).map(([source, meaning]) => (
              <div key={source} className="contents">
                <dt>
                  <Source source={source} />
                </dt>
                <dd className="text-slate-700 dark:text-slate-300">from {meaning}</dd>
              </div>
            ))}
          </dl>
          {shown.length === 0 ? (
            <EmptyState title={changed && !filter ? "Every setting is at its default" : "No setting matches"}>
              {changed && !filter
                ? "Set one with its DEVFLOW_… variable (in the environment or .env) and restart DevFlow."
                : "Try another word (a key such as server.port, or a variable such as DEVFLOW_LLM), or clear the filter."}
            </EmptyState>
          ) : null}
          {sections(shown).map((section) => (
            <SectionTable key={section.name} name={section.name} settings={section.settings} />
          ))}
        </>
      ) : null}
    </div>
  );
}
