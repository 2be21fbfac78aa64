/** `/secrets?scope=&environment=&tab=`: a scope's secrets (names, environments, versions, kind,
 * when updated and, for a project, which tier and provider a job would get each name from), the
 * form that sets one, history with rollback, delete, and a Reveal that fetches a value only when
 * asked (audited). Instance admins also get the system tier, the keys and the audit log. */

import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Link, useSearchParams } from "react-router-dom";

import { api, ConfirmButton, EmptyState, ErrorMessage, formatWhen, INPUT, SECONDARY, useRefetchOn, useSession } from "@devflow/ui";

import { AuditTab, KeysTab } from "./admin";
import { SecretEditor } from "./form";
import {
  environmentsOf,
  isInstanceAdmin,
  namesByEnvironment,
  parseScope,
  provenanceOf,
  scopeParam,
  secretsApi,
  type Scope,
} from "./model";
import { HistoryDrawer, RevealedValue, useReveal } from "./parts";
import type { Resolved, Secret } from "./types";

const TABS = [
  { id: "secrets", label: "Secrets" },
  { id: "keys", label: "Keys" },
  { id: "audit", label: "Audit log" },
] as const;
const TH = "px-2 py-1 text-left font-medium";
const TD = "px-2 py-1 align-top";

export function SecretsPage() {
  const { session, projects, project } = useSession();
  const admin = isInstanceAdmin(session);
  const [search, setSearch] = useSearchParams();
  const fallback: Scope =
    project || projects[0] ? { tier: "project", project: project ?? projects[0]?.name ?? "" } : { tier: "user" };
  const scope = parseScope(search.get("scope"), fallback, admin);
  const tab = admin ? (search.get("tab") ?? "secrets") : "secrets";
  const set = (changes: Record<string, string>) => {
    const next = new URLSearchParams(search);
    for (const [k, v] of Object.entries(changes)) {
      if (v) next.set(k, v);
      else next.delete(k);
    }
    setSearch(next, { replace: true });
  };
  return (
    <div className="space-y-4">
      <h1 className="text-xl font-semibold">Secrets</h1>
      {admin ? (
        <nav aria-label="Secrets sections" className="flex gap-3 text-sm">
          {TABS.map((t) => (
            <Link
              key={t.id}
              to={`?${new URLSearchParams({ ...Object.fromEntries(search), tab: t.id }).toString()}`}
              aria-current={t.id === tab ? "page" : undefined}
              className={t.id === tab ? "font-semibold" : "underline"}
            >
              {t.label}
            </Link>
          ))}
        </nav>
      ) : null}
      {tab === "keys" ? <KeysTab /> : null}
      {tab === "audit" ? <AuditTab /> : null}
      {tab !== "keys" && tab !== "audit" ? (
        <SecretsTab
          key={scopeParam(scope)}
          scope={scope}
          admin={admin}
          environment={search.get("environment") ?? ""}
          onScope={(s) => set({ scope: s })}
          onEnvironment={(e) => set({ environment: e })}
        />
      ) : null}
    </div>
  );
}

function SecretsTab({
  scope,
  admin,
  environment,
  onScope,
  onEnvironment,
}: {
  scope: Scope;
  admin: boolean;
  environment: string;
  onScope: (scope: string) => void;
  onEnvironment: (environment: string) => void;
}) {
  const { projects, canWrite } = useSession();
  const [editing, setEditing] = useState<Secret | null>(null);
  const [history, setHistory] = useState<Secret | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const listing = useQuery({
    queryKey: ["secrets", scopeParam(scope), "list"],
    queryFn: () => api.get<Secret[]>(secretsApi(scope)),
    retry: false,
  });
  useRefetchOn([["secrets"]], (event) => event.type.startsWith("secret."));
  const all = listing.data ?? [];
  const environments = environmentsOf(all.map((s) => s.environment).concat(environment ? [environment] : []));
  const shown = environment ? all.filter((s) => s.environment === environment) : all;
  const provenance = useProvenance(scope, shown);
  const current = history ? (all.find((s) => s.name === history.name && s.environment === history.environment) ?? history) : null;

  return (
    <div className="space-y-4">
      <div role="group" aria-label="Which secrets" className="flex flex-wrap items-end gap-3 text-sm">
        <div>
          <label htmlFor="secrets-scope" className="mb-1 block font-medium">
            Scope
          </label>
          <select id="secrets-scope" className={`${INPUT} w-56`} value={scopeParam(scope)} onChange={(e) => onScope(e.target.value)}>
            {scope.tier === "project" && !projects.some((p) => p.name === scope.project) ? (
              <option value={scopeParam(scope)}>Project {scope.project}</option>
            ) : null}
            {projects.map((p) => (
              <option key={p.id} value={`project:${p.name}`}>
                Project {p.name}
              </option>
            ))}
            <option value="user">My secrets</option>
            {admin ? <option value="system">System</option> : null}
          </select>
        </div>
        <div>
          <label htmlFor="secrets-environment" className="mb-1 block font-medium">
            Environment
          </label>
          <select id="secrets-environment" className={`${INPUT} w-44`} value={environment} onChange={(e) => onEnvironment(e.target.value)}>
            <option value="">All environments</option>
            {environments.map((e) => (
              <option key={e} value={e}>
                {e}
              </option>
            ))}
          </select>
        </div>
      </div>
      <p className="text-sm text-slate-600 dark:text-slate-400">
        Values are never shown by default. Reveal fetches one value on request, and every reveal is recorded in the audit log
        with your name.
      </p>
      {canWrite ? (
        <SecretEditor
          key={editing ? `${editing.name}/${editing.environment}` : "new"}
          scope={scope}
          environments={environments}
          environment={environment || "development"}
          editing={editing}
          onSaved={(s) => {
            setEditing(null);
            setNotice(`${s.name} (${s.environment}) is now at version ${s.version}.`);
          }}
          onCancel={() => setEditing(null)}
        />
      ) : null}
      {notice ? (
        <p role="status" className="text-sm text-emerald-800 dark:text-emerald-300">
          {notice}
        </p>
      ) : null}
      {listing.error ? <ErrorMessage error={listing.error} retry={() => void listing.refetch()} /> : null}
      {provenance.error ? (
        <ErrorMessage error={`Provenance is not available: ${errorText(provenance.error)}`} />
      ) : null}
      {listing.data && shown.length === 0 ? (
        <EmptyState title="No secrets here yet">
          {canWrite ? "Set one above; " : ""}jobs and agent sessions get each as an environment variable.
        </EmptyState>
      ) : null}
      {shown.length ? (
        <div className="overflow-x-auto">
          <table aria-label="Secrets" className="w-full text-sm">
            <thead className="border-b border-slate-200 dark:border-slate-800">
              <tr>
                <th className={TH}>Name</th>
                <th className={TH}>Environment</th>
                <th className={`${TH} text-right`}>Version</th>
                <th className={TH}>Kind</th>
                <th className={TH}>Updated</th>
                {scope.tier === "project" ? <th className={TH}>Effective source</th> : null}
                <th className={TH}>
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody className="divide-y divide-slate-200 dark:divide-slate-800">
              {shown.map((s) => (
                <SecretRow
                  key={`${s.name}/${s.environment}`}
                  scope={scope}
                  secret={s}
                  resolved={provenance.data?.get(`${s.environment}/${s.name}`)}
                  canWrite={canWrite}
                  onUpdate={() => setEditing(s)}
                  onHistory={() => setHistory(s)}
                  onDeleted={() => setNotice(`${s.name} (${s.environment}) was deleted.`)}
                />
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      {current ? <HistoryDrawer scope={scope} secret={current} canWrite={canWrite} onClose={() => setHistory(null)} /> : null}
    </div>
  );
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Which tier and provider answers for each shown name of a project, per environment (POST
 * /resolve without `reveal`: provenance only, so it may be cached). Keyed `environment/name`. */
function useProvenance(scope: Scope, shown: Secret[]) {
  const project = scope.tier === "project" ? scope.project : null;
  const groups = [...namesByEnvironment(shown)].sort(([a], [b]) => a.localeCompare(b));
  return useQuery({
    queryKey: ["secrets", scope.tier === "project" ? scopeParam(scope) : "none", "provenance", groups],
    enabled: project !== null && groups.length > 0,
    retry: false,
    queryFn: async () => {
      const answers = await Promise.all(
        groups.map(([environment, names]) =>
          api.post<Resolved[]>("/api/v1/secrets/resolve", { project, environment, names, reveal: false }),
        ),
      );
      return new Map(answers.flat().map((r) => [`${r.environment}/${r.name}`, r]));
    },
  });
}

function SecretRow({
  scope,
  secret,
  resolved,
  canWrite,
  onUpdate,
  onHistory,
  onDeleted,
}: {
  scope: Scope;
  secret: Secret;
  resolved: Resolved | undefined;
  canWrite: boolean;
  onUpdate: () => void;
  onHistory: () => void;
  onDeleted: () => void;
}) {
  const client = useQueryClient();
  const revealed = useReveal(scope, secret);
  const [error, setError] = useState<unknown>(null);
  const origin = provenanceOf(secret, resolved);
  const columns = scope.tier === "project" ? 7 : 6;

  async function remove() {
    setError(null);
    try {
      await api.request<undefined>("DELETE", secretsApi(scope, secret.name), { query: { environment: secret.environment } });
      onDeleted();
      await client.invalidateQueries({ queryKey: ["secrets", scopeParam(scope)] });
    } catch (e) {
      setError(e);
    }
  }

  return (
    <>
      <tr>
        <td className={`${TD} font-mono`}>
          {secret.name}
          {secret.description ? (
            <span className="block font-sans text-xs text-slate-600 dark:text-slate-400">{secret.description}</span>
          ) : null}
        </td>
        <td className={TD}>{secret.environment}</td>
        <td className={`${TD} text-right tabular-nums`}>{secret.version}</td>
        <td className={TD}>
          {secret.kind === "reference" ? (
            <span title="A 1Password reference, resolved on use" className="break-all font-mono text-xs">
              {secret.reference}
            </span>
          ) : (
            "value"
          )}
        </td>
        <td className={TD}>
          <time dateTime={secret.updated_at} title={secret.updated_at}>
            {formatWhen(secret.updated_at)}
          </time>
        </td>
        {scope.tier === "project" ? (
          <td className={TD}>
            {origin ? (
              <span className={origin.shadowed ? "text-amber-800 dark:text-amber-300" : undefined}>
                {origin.label}
                {origin.note ? <span className="block text-xs">{origin.note}</span> : null}
              </span>
            ) : (
              "—"
            )}
          </td>
        ) : null}
        <td className={TD}>
          <div className="flex flex-wrap justify-end gap-1">
            {secret.kind === "value" && revealed.value === null ? (
              <button
                type="button"
                className={SECONDARY}
                aria-label={`Reveal ${secret.name}`}
                disabled={revealed.busy}
                onClick={() => void revealed.reveal()}
              >
                Reveal
              </button>
            ) : null}
            {canWrite ? (
              <button type="button" className={SECONDARY} aria-label={`Update ${secret.name}`} onClick={onUpdate}>
                Update
              </button>
            ) : null}
            <button type="button" className={SECONDARY} aria-label={`History of ${secret.name}`} onClick={onHistory}>
              History
            </button>
            {canWrite ? (
              <ConfirmButton
                label={`Delete ${secret.name}`}
                question={`Delete ${secret.name} (${secret.environment}) and every version?`}
                confirm="Delete"
                onConfirm={() => void remove()}
              />
            ) : null}
          </div>
        </td>
      </tr>
      {revealed.value !== null || revealed.error || error ? (
        <tr>
          <td colSpan={columns} className={`${TD} pb-3`}>
            {revealed.value !== null ? (
              <RevealedValue name={secret.name} value={revealed.value} onClose={revealed.forget} />
            ) : null}
            {revealed.error ? <ErrorMessage error={revealed.error} /> : null}
            {error ? <ErrorMessage error={error} /> : null}
          </td>
        </tr>
      ) : null}
    </>
  );
}
