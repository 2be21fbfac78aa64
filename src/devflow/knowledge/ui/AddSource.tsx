/** Add a source: a web site with the crawl options `devflow knowledge add` has, a git
 * repository with its ref, or files and folders uploaded from the browser. */

import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState, type FormEvent } from "react";
import { Link, useNavigate } from "react-router-dom";

import { api, ErrorMessage, ProgressBar, useSession, BUTTON, Field, INPUT } from "@devflow/ui";

import { KnowledgeHeader } from "./parts";
import { plural } from "./progress";
import type { Source } from "./types";
import { addUploadSource, pickedFolder, toUploads, type Uploaded } from "./uploads";

type Kind = "web" | "git" | "upload";

const KINDS: { value: Kind; label: string }[] = [
  { value: "web", label: "Web site" },
  { value: "git", label: "Git repository" },
  { value: "upload", label: "Files or a folder" },
];

/** Patterns written one a line or comma-separated. */
function patterns(text: string): string[] {
  return text
    .split(/[\n,]/)
    .map((p) => p.trim())
    .filter(Boolean);
}

function optionalInt(text: string): number | undefined {
  return text.trim() === "" ? undefined : Number(text);
}

function ProjectField({ value, onChange }: { value: string; onChange: (value: string) => void }) {
  const { projects, session } = useSession();
  if (session.project) {
    return (
      <Field label="Project">
        <input className={INPUT} value={session.project} readOnly />
      </Field>
    );
  }
  return (
    <Field label="Project">
      <select className={INPUT} value={value} onChange={(event) => onChange(event.target.value)}>
        {projects.length === 0 ? <option value="default">default</option> : null}
        {projects.map((p) => (
          <option key={p.id} value={p.name}>
            {p.name}
          </option>
        ))}
      </select>
    </Field>
  );
}

function UploadSummary({ result }: { result: Uploaded }) {
  const failed = result.uploaded.filter((u) => u.status === "failed");
  return (
    <div role="status" className="space-y-2 rounded-md border border-emerald-300 p-3 text-sm dark:border-emerald-800">
      <p>
        Uploaded {plural(result.uploaded.length, "file")} into {result.source.name}
        {failed.length ? `; ${failed.length} failed` : ""}.{" "}
        <Link to="/knowledge" className="underline">
          See the sources
        </Link>
      </p>
      {failed.length ? (
        <ul className="list-disc pl-5 text-red-700 dark:text-red-300">
          {failed.map((f) => (
            <li key={f.filename}>
              {f.filename}: {f.error}
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}

export function AddSource() {
  const { project, session, canWrite } = useSession();
  const client = useQueryClient();
  const navigate = useNavigate();
  const [kind, setKind] = useState<Kind>("web");
  const [location, setLocation] = useState("");
  const [name, setName] = useState("");
  const [chosenProject, setChosenProject] = useState(session.project ?? project ?? "default");
  const [depth, setDepth] = useState("");
  const [maxPages, setMaxPages] = useState("");
  const [include, setInclude] = useState("");
  const [exclude, setExclude] = useState("");
  const [singlePage, setSinglePage] = useState(false);
  const [allowPrivate, setAllowPrivate] = useState(false);
  const [ref, setRef] = useState("");
  const [files, setFiles] = useState<File[]>([]);
  const [sent, setSent] = useState<[number, number] | null>(null);
  const folderInput = useRef<HTMLInputElement>(null);

  // React does not know `webkitdirectory`; set it on the element (a folder picker).
  useEffect(() => {
    folderInput.current?.setAttribute("webkitdirectory", "");
  }, [kind]);

  const add = useMutation({
    mutationFn: async (): Promise<Uploaded | Source> => {
      const targetProject = session.project ?? chosenProject;
      if (kind === "upload") {
        const uploads = toUploads(files);
        const folder = pickedFolder(files);
        const sourceName = name.trim() || folder || (files.length === 1 ? (files[0]?.name ?? "") : "");
        if (!sourceName) throw new Error("Name the source: several loose files have no folder name to use");
        setSent([0, uploads.length]);
        return addUploadSource(api, { name: sourceName, project: targetProject }, uploads, (done, total) =>
          setSent([done, total]),
        );
      }
      const settings: Record<string, unknown> = {
        include: patterns(include),
        exclude: patterns(exclude),
      };
      if (kind === "web") {
        const d = optionalInt(depth);
        const m = optionalInt(maxPages);
        if (d !== undefined) settings.max_depth = d;
        if (m !== undefined) settings.max_pages = m;
        settings.single_page = singlePage;
        if (allowPrivate) settings.allow_private = true;
      } else if (ref.trim()) {
        settings.ref = ref.trim();
      }
      const body: Record<string, unknown> = {
        location: location.trim(),
        kind,
        project: targetProject,
        settings,
      };
      if (name.trim()) body.name = name.trim();
      return api.post<Source>("/api/v1/knowledge/sources", body);
    },
    onSuccess: (result) => {
      void client.invalidateQueries({ queryKey: ["knowledge"] });
      if (!("uploaded" in result)) navigate("/knowledge", { state: { added: result.name } });
    },
    onSettled: () => setSent(null),
  });

  function submit(event: FormEvent): void {
    event.preventDefault();
    add.mutate();
  }

  if (!canWrite) {
    return (
      <div className="space-y-4">
        <KnowledgeHeader title="Add a source" />
        <p className="text-sm">
          This session's token may only read. Sign in with a token that has the <code>write</code> scope to add sources.
        </p>
      </div>
    );
  }

  const uploadCount = toUploads(files).length;
  return (
    <div className="space-y-4">
      <KnowledgeHeader title="Add a source" />
      <form onSubmit={submit} className="max-w-2xl space-y-4">
        <fieldset className="space-y-1">
          <legend className="text-sm font-medium">What to add</legend>
          <div className="flex flex-wrap gap-4 text-sm">
            {KINDS.map((k) => (
              <label key={k.value} className="flex items-center gap-1">
                <input
                  type="radio"
                  name="kind"
                  value={k.value}
                  checked={kind === k.value}
                  onChange={() => setKind(k.value)}
                />
                {k.label}
              </label>
            ))}
          </div>
        </fieldset>

        {kind === "upload" ? (
          <div className="grid gap-4 sm:grid-cols-2">
            <Field label="A folder" hint="Every file in it except hidden ones (.git, .env …).">
              <input
                ref={folderInput}
                type="file"
                multiple
                className="block w-full text-sm"
                onChange={(event) => setFiles(Array.from(event.target.files ?? []))}
              />
            </Field>
            <Field label="Or files">
              <input
                type="file"
                multiple
                className="block w-full text-sm"
                onChange={(event) => setFiles(Array.from(event.target.files ?? []))}
              />
            </Field>
            <p className="text-sm text-slate-600 sm:col-span-2 dark:text-slate-400" aria-live="polite">
              {files.length
                ? `${plural(uploadCount, "file")} to upload${files.length > uploadCount ? ` (${files.length - uploadCount} hidden left out)` : ""}`
                : "Nothing picked yet."}
            </p>
          </div>
        ) : (
          <Field
            label={kind === "web" ? "URL" : "Git URL"}
            hint={
              kind === "web"
                ? "The start page, e.g. https://docs.example.com/; the crawl follows its links."
                : "A clone URL, e.g. https://github.com/org/repo.git"
            }
          >
            <input
              className={INPUT}
              type={kind === "web" ? "url" : "text"}
              required
              value={location}
              onChange={(event) => setLocation(event.target.value)}
              placeholder={kind === "web" ? "https://docs.example.com/" : "https://github.com/org/repo.git"}
            />
          </Field>
        )}

        <div className="grid gap-4 sm:grid-cols-2">
          <Field label="Name" hint={kind === "upload" ? "Default: the folder's name." : "Default: from the URL."}>
            <input className={INPUT} value={name} maxLength={200} onChange={(event) => setName(event.target.value)} />
          </Field>
          <ProjectField value={chosenProject} onChange={setChosenProject} />
        </div>

        {kind === "git" ? (
          <Field label="Ref" hint="Branch, tag or commit (default: the default branch).">
            <input className={INPUT} value={ref} maxLength={200} onChange={(event) => setRef(event.target.value)} />
          </Field>
        ) : null}

        {kind === "web" ? (
          <div className="grid gap-4 sm:grid-cols-2">
            <Field label="Link depth" hint="How many links away from the start page.">
              <input className={INPUT} type="number" min={0} max={50} value={depth} onChange={(event) => setDepth(event.target.value)} />
            </Field>
            <Field label="Page limit">
              <input className={INPUT} type="number" min={1} max={100000} value={maxPages} onChange={(event) => setMaxPages(event.target.value)} />
            </Field>
            <label className="flex items-center gap-2 text-sm">
              <input type="checkbox" checked={singlePage} onChange={(event) => setSinglePage(event.target.checked)} />
              Only this page
            </label>
            {session.user.is_admin ? (
              <label className="flex items-center gap-2 text-sm">
                <input type="checkbox" checked={allowPrivate} onChange={(event) => setAllowPrivate(event.target.checked)} />
                Allow private addresses (intranet docs)
              </label>
            ) : null}
          </div>
        ) : null}

        {kind !== "upload" ? (
          <div className="grid gap-4 sm:grid-cols-2">
            <Field label="Include" hint="Only URLs or paths matching these patterns (*/docs/*), one a line.">
              <textarea className={INPUT} rows={2} value={include} onChange={(event) => setInclude(event.target.value)} />
            </Field>
            <Field label="Exclude" hint="Skip URLs or paths matching these patterns, one a line.">
              <textarea className={INPUT} rows={2} value={exclude} onChange={(event) => setExclude(event.target.value)} />
            </Field>
          </div>
        ) : null}

        <button type="submit" className={BUTTON} disabled={add.isPending || (kind === "upload" && files.length === 0)}>
          {add.isPending ? "Adding…" : "Add source"}
        </button>
        {sent ? <ProgressBar label="Upload" done={sent[0]} total={sent[1]} unit="files uploaded" /> : null}
        {add.error ? <ErrorMessage error={add.error} /> : null}
        {add.data && "uploaded" in add.data ? <UploadSummary result={add.data} /> : null}
      </form>
    </div>
  );
}
