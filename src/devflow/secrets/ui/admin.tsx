/** Instance admins' tabs: the key-encryption keys (ids, states, how many values each seals;
 * never a key) and the hash-chained audit log with a check of its chain. */

import { useInfiniteQuery, useMutation, useQuery } from "@tanstack/react-query";
import { useState } from "react";

import { api, BUTTON, EmptyState, ErrorMessage, formatCount, formatWhen, INPUT, SECONDARY, StatusBadge } from "@devflow/ui";

import { AUDIT_ACTIONS } from "./model";
import type { AuditEntry, AuditVerify, Key } from "./types";

const TH = "px-2 py-1 text-left font-medium";
const TD = "px-2 py-1 align-top";
const AUDIT_PAGE = 100;

function When({ at }: { at: string | null }) {
  if (!at) return <>—</>;
  return (
    <time dateTime={at} title={at}>
      {formatWhen(at)}
    </time>
  );
}

export function KeysTab() {
  const keys = useQuery({ queryKey: ["secrets", "keys"], queryFn: () => api.get<Key[]>("/api/v1/secrets/keys") });
  if (keys.error) return <ErrorMessage error={keys.error} retry={() => void keys.refetch()} />;
  if (!keys.data) return <p className="text-sm text-slate-500">Loading…</p>;
  return (
    <div className="space-y-2">
      <p className="text-sm text-slate-600 dark:text-slate-400">
        The keys themselves never enter the database or this page: each is known by its id and check value. Rotate with{" "}
        <code className="font-mono">devflow secrets rotate-key</code>.
      </p>
      <div className="overflow-x-auto">
        <table aria-label="Keys" className="w-full text-sm">
          <thead className="border-b border-slate-200 dark:border-slate-800">
            <tr>
              <th className={TH}>Key</th>
              <th className={TH}>State</th>
              <th className={TH}>Check value</th>
              <th className={`${TH} text-right`}>Values sealed</th>
              <th className={TH}>Created</th>
              <th className={TH}>Activated</th>
              <th className={TH}>Retired</th>
            </tr>
          </thead>
          <tbody className="divide-y divide-slate-200 dark:divide-slate-800">
            {keys.data.map((k) => (
              <tr key={k.key_id}>
                <td className={`${TD} font-mono`}>{k.key_id}</td>
                <td className={TD}>
                  <StatusBadge status={k.state} />
                </td>
                <td className={`${TD} font-mono text-xs`}>{k.fingerprint}</td>
                <td className={`${TD} text-right tabular-nums`}>{formatCount(k.sealed)}</td>
                <td className={TD}>
                  <When at={k.created_at} />
                </td>
                <td className={TD}>
                  <When at={k.activated_at} />
                </td>
                <td className={TD}>
                  <When at={k.retired_at} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}

function VerifyChain() {
  const verify = useMutation({ mutationFn: () => api.post<AuditVerify>("/api/v1/secrets/audit/verify") });
  const report = verify.data;
  return (
    <div className="flex flex-wrap items-center gap-2">
      <button type="button" className={BUTTON} disabled={verify.isPending} onClick={() => verify.mutate()}>
        {verify.isPending ? "Verifying…" : "Verify chain"}
      </button>
      {report?.ok ? (
        <p role="status" className="text-sm text-emerald-800 dark:text-emerald-300">
          The chain is intact: {formatCount(report.checked)} records checked.
        </p>
      ) : null}
      {report && !report.ok ? (
        <ErrorMessage error={`The chain is broken at record ${report.broken_at ?? "?"}: ${report.problem ?? "unknown problem"}`} />
      ) : null}
      {verify.error ? <ErrorMessage error={verify.error} /> : null}
    </div>
  );
}

export function AuditTab() {
  const [name, setName] = useState("");
  const [action, setAction] = useState("");
  const filter = { name: name.trim(), action };
  const log = useInfiniteQuery({
    queryKey: ["secrets", "audit", filter],
    queryFn: ({ pageParam }) =>
      api.get<AuditEntry[]>("/api/v1/secrets/audit", { ...filter, before: pageParam, limit: AUDIT_PAGE }),
    initialPageParam: undefined as number | undefined,
    getNextPageParam: (last) => (last.length === AUDIT_PAGE ? last[last.length - 1]?.seq : undefined),
  });
  const entries = log.data?.pages.flat() ?? [];
  return (
    <div className="space-y-3">
      <VerifyChain />
      <div className="flex flex-wrap items-end gap-3">
        <label className="text-sm">
          <span className="mb-1 block font-medium">Name</span>
          <input className={`${INPUT} w-48 font-mono`} value={name} onChange={(e) => setName(e.target.value)} />
        </label>
        <label className="text-sm">
          <span className="mb-1 block font-medium">Action</span>
          <select className={`${INPUT} w-40`} value={action} onChange={(e) => setAction(e.target.value)}>
            <option value="">Any</option>
            {AUDIT_ACTIONS.map((a) => (
              <option key={a} value={a}>
                {a}
              </option>
            ))}
          </select>
        </label>
      </div>
      {log.error ? <ErrorMessage error={log.error} retry={() => void log.refetch()} /> : null}
      {log.data && entries.length === 0 ? <EmptyState title="No records">Nothing matches these filters.</EmptyState> : null}
      {entries.length ? (
        <div className="overflow-x-auto">
          <table aria-label="Audit log" className="w-full text-sm">
            <thead className="border-b border-slate-200 dark:border-slate-800">
              <tr>
                <th className={`${TH} text-right`}>#</th>
                <th className={TH}>When</th>
                <th className={TH}>Who</th>
                <th className={TH}>Action</th>
                <th className={TH}>Outcome</th>
                <th className={TH}>Secret</th>
                <th className={TH}>Provider</th>
                <th className={TH}>Reason</th>
              </tr>
            </thead>
            <tbody className="divide-y divide-slate-200 dark:divide-slate-800">
              {entries.map((e) => (
                <tr key={e.seq}>
                  <td className={`${TD} text-right tabular-nums`}>{e.seq}</td>
                  <td className={TD}>
                    <When at={e.at} />
                  </td>
                  <td className={TD}>{e.actor}</td>
                  <td className={`${TD} font-mono`}>{e.action}</td>
                  <td className={TD}>{e.outcome}</td>
                  <td className={TD}>
                    {e.name ? <span className="font-mono">{e.name}</span> : null}
                    {e.version ? ` v${e.version}` : ""}
                    <span className="block text-xs text-slate-600 dark:text-slate-400">
                      {e.scope}
                      {e.environment ? ` · ${e.environment}` : ""}
                    </span>
                  </td>
                  <td className={TD}>{e.provider}</td>
                  <td className={`${TD} break-words`}>{e.reason}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      {log.hasNextPage ? (
        <button type="button" className={SECONDARY} disabled={log.isFetchingNextPage} onClick={() => void log.fetchNextPage()}>
          Older records
        </button>
      ) : null}
    </div>
  );
}
