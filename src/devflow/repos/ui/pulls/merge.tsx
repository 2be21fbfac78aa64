/** The merge box of an open pull request: whether it merges cleanly (the conflicting files when
 * not), what the base branch's rule still asks (approvals, required checks on the head), the
 * method, and the merge itself, for the head the page shows (`sha`). A head that moved is the
 * API's 409: the box says so and offers to reload rather than merging unseen commits. */

import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";

import { api, BUTTON, Card, ErrorMessage, INPUT, SECONDARY, useSession, type Page } from "@devflow/ui";

import { repoApi } from "../browse/paths";
import { matchingRule, mergeRefusal, pullsApi, pullsKey, requirements, type MergeRefusal } from "./model";
import type { BranchRule, CombinedStatus, MergeMethod, MergeResult, Pull } from "./types";

const METHODS: [MergeMethod, string][] = [
  ["merge", "Merge commit"],
  ["squash", "Squash and merge"],
  ["rebase", "Rebase and merge"],
  ["ff", "Fast-forward only"],
];

export function MergeBox({ pull, sha, onReload }: { pull: Pull; sha: string; onReload: () => Promise<void> }) {
  const { canWrite } = useSession();
  const client = useQueryClient();
  const base = repoApi(pull.project, pull.repository);
  // Branch rules are the repository's readers' to see; without them the box still merges and
  // the API names what a rule refuses.
  const rules = useQuery({
    queryKey: ["repos", "protections", pull.project, pull.repository],
    queryFn: () => api.get<Page<BranchRule>>(`${base}/protections`),
    retry: false,
  });
  const rule = matchingRule(rules.data?.items ?? [], pull.base);
  const status = useQuery({
    queryKey: ["repos", "status", pull.project, pull.repository, sha],
    queryFn: () => api.get<CombinedStatus>(`${base}/commits/${sha}/status`),
    enabled: Boolean(rule?.required_checks.length),
    retry: false,
  });
  const needs = requirements(pull, rule, status.data ?? null);
  const [method, setMethod] = useState<MergeMethod>("merge");
  const [deleteBranch, setDeleteBranch] = useState(false);
  const [busy, setBusy] = useState(false);
  const [refusal, setRefusal] = useState<MergeRefusal | null>(null);
  const [ready, setReady] = useState<unknown>(null);

  async function merge(): Promise<void> {
    setBusy(true);
    setRefusal(null);
    try {
      const done = await api.post<MergeResult>(pullsApi(pull.project, pull.repository, `/${pull.number}/merge`), {
        sha,
        method,
        delete_branch: deleteBranch,
      });
      client.setQueryData([...pullsKey(pull.project, pull.repository), pull.number], done.pull);
      void client.invalidateQueries({ queryKey: pullsKey(pull.project, pull.repository) });
    } catch (caught) {
      setRefusal(mergeRefusal(caught));
    } finally {
      setBusy(false);
    }
  }

  async function markReady(): Promise<void> {
    setReady(null);
    try {
      const changed = await api.request<Pull>("PATCH", pullsApi(pull.project, pull.repository, `/${pull.number}`), { body: { draft: false } });
      client.setQueryData([...pullsKey(pull.project, pull.repository), pull.number], changed);
    } catch (caught) {
      setReady(caught);
    }
  }

  return (
    <Card title="Merge">
      <div className="space-y-3 text-sm">
        <Mergeability pull={pull} />
        {pull.approvals || pull.changes_requested ? (
          <p>
            {pull.approvals} {pull.approvals === 1 ? "approval" : "approvals"}
            {pull.changes_requested ? `, ${pull.changes_requested} asking for changes` : ""}
          </p>
        ) : (
          <p className="text-slate-600 dark:text-slate-400">No approving reviews yet.</p>
        )}
        {needs.length ? (
          <ul aria-label="Required by the branch rule" className="space-y-1">
            {needs.map((n) => (
              <li key={n.label}>
                <span aria-hidden="true">{n.met ? "✓" : "✗"}</span> <span className="sr-only">{n.met ? "met:" : "missing:"}</span> {n.label}
              </li>
            ))}
          </ul>
        ) : null}
        {pull.draft ? (
          <div className="space-y-2">
            <p>A draft is not merged: mark it ready for review first.</p>
            {canWrite ? (
              <button type="button" className={SECONDARY} onClick={() => void markReady()}>
                Ready for review
              </button>
            ) : null}
            {ready ? <ErrorMessage error={ready} /> : null}
          </div>
        ) : canWrite ? (
          <form
            aria-label="Merge"
            className="space-y-2"
            onSubmit={(e) => {
              e.preventDefault();
              void merge();
            }}
          >
            <label className="block space-y-1">
              <span className="font-medium">Merge method</span>
              <select className={INPUT} value={method} onChange={(e) => setMethod(e.target.value as MergeMethod)}>
                {METHODS.map(([value, label]) => (
                  <option key={value} value={value}>
                    {label}
                  </option>
                ))}
              </select>
            </label>
            <label className="flex items-center gap-2">
              <input type="checkbox" checked={deleteBranch} onChange={(e) => setDeleteBranch(e.target.checked)} />
              Delete {pull.head} afterwards
            </label>
            <p className="text-xs text-slate-600 dark:text-slate-400">
              Merges {pull.head} at <code>{sha.slice(0, 12)}</code>, the head shown here.
            </p>
            <button type="submit" className={BUTTON} disabled={busy || pull.merge_status === "conflicts" || pull.merge_status === "unrelated"}>
              {busy ? "Merging…" : "Merge pull request"}
            </button>
          </form>
        ) : null}
        {refusal ? <Refusal refusal={refusal} onReload={onReload} clear={() => setRefusal(null)} /> : null}
      </div>
    </Card>
  );
}

function Mergeability({ pull }: { pull: Pull }) {
  switch (pull.merge_status) {
    case "clean":
      return <p className="text-emerald-800 dark:text-emerald-300">Merges cleanly into {pull.base}.</p>;
    case "conflicts":
      return (
        <div>
          <p className="text-red-800 dark:text-red-300">Conflicts with {pull.base} in:</p>
          <ul aria-label="Conflicting files" className="list-inside list-disc break-all">
            {pull.conflicts.map((path) => (
              <li key={path}>
                <code>{path}</code>
              </li>
            ))}
          </ul>
          <p className="text-xs text-slate-600 dark:text-slate-400">Merge {pull.base} into {pull.head} and resolve them, then push.</p>
        </div>
      );
    case "unrelated":
      return <p className="text-red-800 dark:text-red-300">{pull.head} and {pull.base} share no history.</p>;
    default:
      return <p className="text-slate-600 dark:text-slate-400">Whether it merges cleanly is not known yet.</p>;
  }
}

function Refusal({ refusal, onReload, clear }: { refusal: MergeRefusal; onReload: () => Promise<void>; clear: () => void }) {
  if (refusal.kind === "moved") {
    return (
      <div role="alert" className="space-y-2 rounded-md border border-amber-300 bg-amber-50 p-3 text-amber-900 dark:border-amber-800 dark:bg-amber-950 dark:text-amber-100">
        <p>
          Not merged: the branch moved to <code>{refusal.head.slice(0, 12)}</code> since this page loaded. Reload to see the new commits,
          then merge again.
        </p>
        <button
          type="button"
          className={SECONDARY}
          onClick={() => {
            clear();
            void onReload();
          }}
        >
          Reload
        </button>
      </div>
    );
  }
  const list = refusal.kind === "conflicts" ? refusal.paths : refusal.kind === "protection" ? refusal.reasons : [];
  return (
    <div className="space-y-1">
      <ErrorMessage error={new Error(refusal.message)} />
      {list.length ? (
        <ul className="list-inside list-disc break-all text-xs">
          {list.map((item) => (
            <li key={item}>{item}</li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}
