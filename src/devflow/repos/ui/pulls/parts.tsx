/** What the pull request pages share: the breadcrumbs, the state and branch badges, and the
 * live refresh from `pull_request.*` events. */

import type { ReactNode } from "react";
import { Link, useParams } from "react-router-dom";

import { Code, useRefetchOn, type DevflowEvent } from "@devflow/ui";

import { repoPage } from "../browse/paths";
import type { Tone } from "./model";
import type { Pull } from "./types";

export const LINK = "underline";
export const CHIP = "rounded px-1.5 py-0.5 text-xs font-medium";
export const TONE: Record<Tone, string> = {
  good: "bg-emerald-100 text-emerald-900 dark:bg-emerald-950 dark:text-emerald-200",
  bad: "bg-red-100 text-red-900 dark:bg-red-950 dark:text-red-200",
  warn: "bg-amber-100 text-amber-900 dark:bg-amber-950 dark:text-amber-200",
  neutral: "bg-slate-100 text-slate-800 dark:bg-slate-800 dark:text-slate-200",
};
const STATE_TONE: Record<Pull["state"], string> = {
  open: TONE.good,
  closed: TONE.bad,
  merged: "bg-violet-100 text-violet-900 dark:bg-violet-950 dark:text-violet-200",
};

export function useRepoParams() {
  const { project = "", name = "" } = useParams();
  return { project, name };
}

/** Refetch `keys` when a pull request of this repository (or one of them) changes. */
export function useLivePulls(project: string, name: string, keys: unknown[][], number?: number) {
  useRefetchOn(keys, (event: DevflowEvent) => {
    const p = event.payload;
    return event.type.startsWith("pull_request.") && p.project === project && p.repository === name && (number === undefined || p.number === number);
  });
}

export function Heading({ project, name, current }: { project: string; name: string; current: ReactNode }) {
  return (
    <nav aria-label="Breadcrumbs" className="break-all text-sm text-slate-600 dark:text-slate-400">
      <Link to="/code" className={LINK}>
        Code
      </Link>{" "}
      / {project} /{" "}
      <Link to={repoPage(project, name)} className={LINK}>
        {name}
      </Link>{" "}
      / {current}
    </nav>
  );
}

export function StateBadge({ pull }: { pull: Pull }) {
  return (
    <>
      <span className={`${CHIP} ${STATE_TONE[pull.state]}`}>{pull.state}</span>
      {pull.draft ? <span className={`${CHIP} ${TONE.neutral}`}>draft</span> : null}
    </>
  );
}

export function Branches({ pull }: { pull: Pull }) {
  return (
    <span className="break-all">
      <Code>{pull.head}</Code> → <Code>{pull.base}</Code>
    </span>
  );
}
