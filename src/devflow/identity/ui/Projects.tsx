/** Projects: the list and create; a project's members with their roles (add, change, remove;
 * the API keeps a project's last owner and says how to name another). */

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Link, useParams } from "react-router-dom";

import { api, BUTTON, ConfirmButton, EmptyState, ErrorMessage, Field, INPUT, useSession } from "@devflow/ui";

import { ROLES, type Member, type ProjectDetail } from "./types";

function CreateProject() {
  const client = useQueryClient();
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const create = useMutation({
    mutationFn: () => api.post("/api/v1/projects", { name: name.trim(), description }),
    onSuccess: async () => {
      setName("");
      setDescription("");
      await client.invalidateQueries({ queryKey: ["projects"] });
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    create.mutate();
  };
  return (
    <form onSubmit={submit} className="grid gap-3 rounded-lg border border-slate-200 bg-white p-4 sm:grid-cols-[1fr_2fr_auto] sm:items-start dark:border-slate-800 dark:bg-slate-900">
      <Field label="New project" hint="Lower-case letters, digits, '.', '_' and '-'.">
        <input className={INPUT} required maxLength={64} pattern="[a-z0-9]([a-z0-9._\-]*[a-z0-9])?" value={name} onChange={(e) => setName(e.target.value)} />
      </Field>
      <Field label="Description">
        <input className={INPUT} maxLength={2000} value={description} onChange={(e) => setDescription(e.target.value)} />
      </Field>
      <button type="submit" className={`${BUTTON} sm:mt-6`} disabled={create.isPending}>
        Create
      </button>
      {create.error ? (
        <div className="sm:col-span-3">
          <ErrorMessage error={create.error} />
        </div>
      ) : null}
    </form>
  );
}

export function Projects() {
  const { projects, session } = useSession();
  return (
    <div className="space-y-4">
      <h1 className="text-xl font-semibold">Projects and people</h1>
      {session.project === null ? <CreateProject /> : null}
      {projects.length === 0 ? <EmptyState title="No projects you can see">Create one above.</EmptyState> : null}
      <ul className="divide-y divide-slate-200 rounded-lg border border-slate-200 bg-white px-4 dark:divide-slate-800 dark:border-slate-800 dark:bg-slate-900">
        {projects.map((p) => (
          <li key={p.id} className="py-2">
            <Link to={`/projects/${encodeURIComponent(p.name)}`} className="font-medium underline">
              {p.name}
            </Link>
            {p.description ? <span className="ml-2 text-sm text-slate-600 dark:text-slate-400">{p.description}</span> : null}
          </li>
        ))}
      </ul>
    </div>
  );
}

function SetMember({ project, onDone }: { project: string; onDone: () => Promise<void> }) {
  const [username, setUsername] = useState("");
  const [role, setRole] = useState("read");
  const add = useMutation({
    mutationFn: () => api.request("PUT", `/api/v1/projects/${encodeURIComponent(project)}/members`, { body: { username: username.trim(), role } }),
    onSuccess: async () => {
      setUsername("");
      await onDone();
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    add.mutate();
  };
  return (
    <form onSubmit={submit} className="grid gap-3 sm:grid-cols-[2fr_1fr_auto] sm:items-start">
      <Field label="Add a member" hint="An existing user's name (an instance admin creates users: devflow user create).">
        <input className={INPUT} required maxLength={64} value={username} onChange={(e) => setUsername(e.target.value)} />
      </Field>
      <Field label="Role">
        <select className={INPUT} value={role} onChange={(e) => setRole(e.target.value)}>
          {ROLES.map((r) => (
            <option key={r} value={r}>
              {r}
            </option>
          ))}
        </select>
      </Field>
      <button type="submit" className={`${BUTTON} sm:mt-6`} disabled={add.isPending}>
        Add
      </button>
      {add.error ? (
        <div className="sm:col-span-3">
          <ErrorMessage error={add.error} />
        </div>
      ) : null}
    </form>
  );
}

function RoleSelect({ project, username, role }: { project: string; username: string; role: string }) {
  const client = useQueryClient();
  const change = useMutation({
    mutationFn: (next: string) => api.request("PUT", `/api/v1/projects/${encodeURIComponent(project)}/members`, { body: { username, role: next } }),
    onSuccess: () => client.invalidateQueries({ queryKey: ["project", project] }),
  });
  return (
    <span className="flex flex-wrap items-center gap-2">
      <label className="text-sm">
        <span className="sr-only">Role of {username}</span>
        <select
          className="rounded border border-slate-300 bg-white px-2 py-1 text-sm dark:border-slate-700 dark:bg-slate-900"
          value={role}
          disabled={change.isPending}
          onChange={(e) => change.mutate(e.target.value)}
        >
          {ROLES.map((r) => (
            <option key={r} value={r}>
              {r}
            </option>
          ))}
        </select>
      </label>
      {change.error ? <ErrorMessage error={change.error} /> : null}
    </span>
  );
}

/** A member with their role and, for those who manage the project, role change and removal;
 * a refusal (the last owner) shows under the row. */
function MemberRow({ project, member, manages }: { project: string; member: Member; manages: boolean }) {
  const client = useQueryClient();
  const remove = useMutation({
    mutationFn: () => api.delete(`/api/v1/projects/${encodeURIComponent(project)}/members/${encodeURIComponent(member.username)}`),
    onSuccess: () => client.invalidateQueries({ queryKey: ["project", project] }),
  });
  return (
    <li className="space-y-2 py-2 text-sm">
      <div className="flex flex-wrap items-center justify-between gap-2">
        <span className="font-medium">{member.username}</span>
        {manages ? (
          <span className="flex flex-wrap items-center gap-2">
            <RoleSelect project={project} username={member.username} role={member.role} />
            <ConfirmButton
              label={`Remove ${member.username} from ${project}`}
              question={`Remove ${member.username} from ${project}?`}
              confirm="Remove"
              busy={remove.isPending}
              onConfirm={() => remove.mutate()}
            />
          </span>
        ) : (
          <span>{member.role}</span>
        )}
      </div>
      {remove.error ? <ErrorMessage error={remove.error} /> : null}
    </li>
  );
}

export function ProjectView() {
  const name = useParams().name ?? "";
  const client = useQueryClient();
  const detail = useQuery({
    queryKey: ["project", name],
    queryFn: () => api.get<ProjectDetail>(`/api/v1/projects/${encodeURIComponent(name)}`),
  });
  const manages = detail.data?.your_role === "owner" || detail.data?.your_role === "admin";
  return (
    <div className="space-y-4">
      <nav aria-label="Breadcrumbs" className="text-sm text-slate-500 dark:text-slate-400">
        <Link to="/projects" className="underline">
          Projects
        </Link>{" "}
        / <span aria-current="page">{name}</span>
      </nav>
      {detail.error ? <ErrorMessage error={detail.error} retry={() => void detail.refetch()} /> : null}
      {detail.data ? (
        <>
          <div>
            <h1 className="text-xl font-semibold">{detail.data.name}</h1>
            <p className="text-sm text-slate-600 dark:text-slate-400">
              {detail.data.description || "No description."} Your role: {detail.data.your_role ?? "none (instance admin)"}.
            </p>
          </div>
          <section aria-labelledby="members" className="space-y-3 rounded-lg border border-slate-200 bg-white p-4 dark:border-slate-800 dark:bg-slate-900">
            <h2 id="members" className="font-semibold">
              Members
            </h2>
            <ul className="divide-y divide-slate-200 dark:divide-slate-800">
              {detail.data.members.map((m) => (
                <MemberRow key={m.user_id} project={name} member={m} manages={manages} />
              ))}
            </ul>
            {manages ? (
              <>
                <SetMember project={name} onDone={() => client.invalidateQueries({ queryKey: ["project", name] })} />
                <p className="text-xs text-slate-500 dark:text-slate-400">
                  A project keeps at least one owner: make someone else owner before the last one leaves.
                </p>
              </>
            ) : (
              <p className="text-xs text-slate-500 dark:text-slate-400">Project owners and admins add and remove members and change roles.</p>
            )}
          </section>
        </>
      ) : null}
    </div>
  );
}
