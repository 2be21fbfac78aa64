/** A diff as the Code pages show it: each file under its name with its counts, its patch as
 * text with added and removed lines marked (never HTML: a patch is whatever was committed).
 * Shared by a commit, a comparison and a pull request's changes. */

import { Link } from "react-router-dom";

import { diffLineKind, repoPage } from "./paths";
import type { DiffFile } from "./types";

const LINE_CLASS = {
  add: "bg-green-50 text-green-900 dark:bg-green-950 dark:text-green-200",
  del: "bg-red-50 text-red-900 dark:bg-red-950 dark:text-red-200",
  hunk: "text-sky-700 dark:text-sky-300",
  meta: "text-slate-500",
  context: "",
};

export function DiffFiles({ project, name, at, diff }: { project: string; name: string; at: string; diff: { files: DiffFile[] } }) {
  return (
    <>
      {diff.files.map((f) => (
        <section key={`${f.old_path ?? ""}>${f.path}`} aria-label={f.path} className="rounded border border-slate-200 dark:border-slate-800">
          <h3 className="break-all border-b border-slate-200 px-2 py-1 text-sm font-medium dark:border-slate-800">
            {f.old_path ? `${f.old_path} → ` : ""}
            <Link to={repoPage(project, name, "/file", { ref: at, path: f.path })} className="underline">
              {f.path}
            </Link>{" "}
            <span className="text-xs text-slate-500">
              {f.status} +{f.additions} −{f.deletions}
            </span>
          </h3>
          {f.patch === null ? (
            <p className="px-2 py-1 text-xs text-slate-500">
              {f.binary ? "Binary file." : f.too_large ? "Too large to show." : f.truncated ? "Left out: the diff is too large." : "No changes to show."}
            </p>
          ) : (
            <pre className="overflow-x-auto text-xs">
              {f.patch.split("\n").map((line, i) => (
                <div key={i} className={LINE_CLASS[diffLineKind(line)]}>
                  {line || " "}
                </div>
              ))}
            </pre>
          )}
        </section>
      ))}
    </>
  );
}
