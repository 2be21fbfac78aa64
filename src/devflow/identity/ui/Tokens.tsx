/** API tokens: create one with scopes, project and expiry (its secret shown once), list, revoke. */

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState, type FormEvent } from "react";

import {
  api,
  BUTTON,
  Code,
  ConfirmButton,
  CopyButton,
  EmptyState,
  ErrorMessage,
  Field,
  formatWhen,
  INPUT,
  useSession,
  type Page,
} from "@devflow/ui";

import { carriedBy, defaultScopes, scopesToSend, toggleScope } from "./scopes";
import { createToken, EXPIRY_DAYS } from "./secret";
import type { Scope, Token } from "./types";

function SecretOnce({ name, secret, onDone }: { name: string; secret: string; onDone: () => void }) {
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => heading.current?.focus(), []);
  return (
    <section
      aria-labelledby="secret"
      className="space-y-2 rounded-lg border border-emerald-300 bg-emerald-50 p-4 dark:border-emerald-800 dark:bg-emerald-950"
    >
      <h2 id="secret" ref={heading} tabIndex={-1} className="font-semibold focus:outline-none">
        Token {name} created: copy its secret now
      </h2>
      <p className="text-sm">
        You won&apos;t see it again: DevFlow keeps only a hash. Leave this page and it is gone; if you lose it, revoke the
        token and create another.
      </p>
      <div className="flex flex-wrap items-center gap-2">
        <code className="break-all rounded bg-white px-2 py-1 font-mono text-sm dark:bg-slate-900">{secret}</code>
        <CopyButton value={secret} label={`Copy the secret of ${name}`} />
      </div>
      <button type="button" className="text-sm underline" onClick={onDone}>
        I have copied it
      </button>
    </section>
  );
}

function CreateToken({ onCreated }: { onCreated: (secret: string, token: Token) => void }) {
  const { projects, session } = useSession();
  const client = useQueryClient();
  const scopes = useQuery({ queryKey: ["scopes"], queryFn: () => api.get<Scope[]>("/api/v1/scopes") });
  const [name, setName] = useState("");
  const [chosen, setChosen] = useState<string[] | null>(null);
  const [project, setProject] = useState(session.project ?? "");
  const [days, setDays] = useState("90");
  const catalog = scopes.data ?? [];
  const picked = chosen ?? defaultScopes(catalog);
  const create = useMutation({
    mutationFn: () =>
      createToken(
        api,
        {
          name: name.trim(),
          scopes: scopesToSend(picked, catalog),
          project: project || null,
          expires_in_days: days ? Number(days) : null,
        },
        onCreated,
      ),
    gcTime: 0,
    onSuccess: async () => {
      setName("");
      setChosen(null);
      await client.invalidateQueries({ queryKey: ["tokens"] });
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    create.mutate();
  };
  return (
    <form onSubmit={submit} className="space-y-3 rounded-lg border border-slate-200 bg-white p-4 dark:border-slate-800 dark:bg-slate-900">
      <h2 className="font-semibold">Create a token</h2>
      <div className="grid gap-3 sm:grid-cols-3">
        <Field label="Name" hint="What it is for: ci, claude, laptop.">
          <input className={INPUT} required maxLength={100} value={name} onChange={(e) => setName(e.target.value)} />
        </Field>
        <Field label="Project" hint={session.project ? "This session is limited to one project." : "Limit the token to one project."}>
          <select className={INPUT} value={project} disabled={session.project !== null} onChange={(e) => setProject(e.target.value)}>
            <option value="">every project of yours</option>
            {projects.map((p) => (
              <option key={p.id} value={p.name}>
                {p.name}
              </option>
            ))}
          </select>
        </Field>
        <Field label="Expires">
          <select className={INPUT} value={days} onChange={(e) => setDays(e.target.value)}>
            {EXPIRY_DAYS.map((d) => (
              <option key={d ?? "never"} value={d ?? ""}>
                {d === null ? "never" : `in ${d} days`}
              </option>
            ))}
          </select>
        </Field>
      </div>
      <fieldset className="space-y-1">
        <legend className="text-sm font-medium">Scopes</legend>
        {scopes.error ? <ErrorMessage error={scopes.error} /> : null}
        {catalog.map((scope) => {
          const carrier = carriedBy(scope, picked);
          return (
            <label key={scope.name} className="flex items-start gap-2 text-sm">
              <input
                type="checkbox"
                className="mt-1"
                checked={carrier !== null || picked.includes(scope.name)}
                disabled={carrier !== null}
                onChange={() => setChosen(toggleScope(picked, scope.name))}
              />
              <span>
                <code className="font-mono">{scope.name}</code>{" "}
                <span className="text-slate-600 dark:text-slate-400">
                  {scope.description}
                  {carrier ? ` (carried by ${carrier})` : ""}
                </span>
              </span>
            </label>
          );
        })}
      </fieldset>
      <button type="submit" className={BUTTON} disabled={create.isPending || scopesToSend(picked, catalog).length === 0}>
        {create.isPending ? "Creating…" : "Create token"}
      </button>
      {create.error ? <ErrorMessage error={create.error} /> : null}
    </form>
  );
}

function TokenItem({ token, projectName }: { token: Token; projectName: string | null }) {
  const client = useQueryClient();
  const revoke = useMutation({
    mutationFn: () => api.delete<Token>(`/api/v1/tokens/${encodeURIComponent(token.id)}`),
    onSuccess: () => client.invalidateQueries({ queryKey: ["tokens"] }),
  });
  const expired = token.expires_at !== null && new Date(token.expires_at) < new Date();
  return (
    <li className="flex flex-wrap items-start justify-between gap-2 py-2">
      <div className="min-w-0 text-sm">
        <p className="flex flex-wrap items-baseline gap-2">
          <span className="font-medium">{token.name}</span>
          <code className="font-mono text-xs">{token.hint}</code>
          {token.revoked_at ? <span className="text-xs text-red-700 dark:text-red-300">revoked {formatWhen(token.revoked_at)}</span> : null}
          {expired && !token.revoked_at ? <span className="text-xs text-amber-700 dark:text-amber-300">expired</span> : null}
        </p>
        <p className="text-xs text-slate-600 dark:text-slate-400">
          {token.scopes.join(", ")} · {projectName ? `project ${projectName}` : "every project"} · expires{" "}
          {token.expires_at ? new Date(token.expires_at).toLocaleDateString() : "never"} · last used{" "}
          {token.last_used_at ? formatWhen(token.last_used_at) : "never"}
        </p>
      </div>
      {token.revoked_at ? null : (
        <ConfirmButton
          label={`Revoke token ${token.name}`}
          question={`Revoke ${token.name}? Anything using it stops working.`}
          confirm="Revoke"
          busy={revoke.isPending}
          onConfirm={() => revoke.mutate()}
        />
      )}
      {revoke.error ? <ErrorMessage error={revoke.error} /> : null}
    </li>
  );
}

export function Tokens() {
  const { projects } = useSession();
  const tokens = useQuery({ queryKey: ["tokens"], queryFn: () => api.get<Page<Token>>("/api/v1/tokens") });
  // Held by this page only: unmounting it (leaving) drops the secret for good.
  const [revealed, setRevealed] = useState<{ name: string; secret: string } | null>(null);
  const [showRevoked, setShowRevoked] = useState(false);
  const names = new Map(projects.map((p) => [p.id, p.name]));
  const items = tokens.data?.items ?? [];
  const shown = items.filter((t) => showRevoked || t.revoked_at === null);
  return (
    <div className="space-y-4">
      <h1 className="text-xl font-semibold">API tokens</h1>
      {revealed ? <SecretOnce name={revealed.name} secret={revealed.secret} onDone={() => setRevealed(null)} /> : null}
      <CreateToken onCreated={(secret, token) => setRevealed({ name: token.name, secret })} />
      <section aria-labelledby="your-tokens" className="rounded-lg border border-slate-200 bg-white px-4 py-2 dark:border-slate-800 dark:bg-slate-900">
        <div className="flex flex-wrap items-center justify-between gap-2">
          <h2 id="your-tokens" className="font-semibold">
            Your tokens
          </h2>
          <label className="flex items-center gap-2 text-sm">
            <input type="checkbox" checked={showRevoked} onChange={(e) => setShowRevoked(e.target.checked)} />
            show revoked
          </label>
        </div>
        {tokens.error ? <ErrorMessage error={tokens.error} retry={() => void tokens.refetch()} /> : null}
        {tokens.data && shown.length === 0 ? (
          <EmptyState title="No tokens yet">
            Create one above, or <Code>devflow token create ci --scope registry:publish</Code>.
          </EmptyState>
        ) : null}
        <ul className="divide-y divide-slate-200 dark:divide-slate-800">
          {shown.map((t) => (
            <TokenItem key={t.id} token={t} projectName={t.project_id ? (names.get(t.project_id) ?? t.project_id) : null} />
          ))}
        </ul>
      </section>
    </div>
  );
}
