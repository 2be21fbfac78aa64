/** Setting a secret: a new one, or a new version of one (update). The value is typed into a
 * password field React does not control, so it is never written into the page's HTML (a
 * controlled input mirrors its value into the `value` attribute), and it is sent with a plain
 * request rather than a mutation, whose variables the query client would keep for minutes. */

import { useQueryClient } from "@tanstack/react-query";
import { useRef, useState, type FormEvent } from "react";

import { api, BUTTON, Card, ErrorMessage, Field, INPUT, SECONDARY } from "@devflow/ui";

import { scopeParam, secretsApi, writeBody, type Scope, type SecretForm } from "./model";
import type { Secret } from "./types";

export function SecretEditor({
  scope,
  environments,
  environment,
  editing,
  onSaved,
  onCancel,
}: {
  scope: Scope;
  environments: string[];
  /** The environment a new secret goes to (the page's filter, or development). */
  environment: string;
  /** The secret updated; null: a new one. */
  editing: Secret | null;
  onSaved: (secret: Secret) => void;
  onCancel: () => void;
}) {
  const client = useQueryClient();
  const value = useRef<HTMLInputElement>(null);
  const [name, setName] = useState(editing?.name ?? "");
  const [kind, setKind] = useState<SecretForm["kind"]>(editing?.kind ?? "value");
  const [reference, setReference] = useState(editing?.reference ?? "");
  const [env, setEnv] = useState(editing?.environment ?? environment);
  const [description, setDescription] = useState(editing?.description ?? "");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  async function submit(event: FormEvent) {
    event.preventDefault();
    const form = { name, kind, value: value.current?.value ?? "", reference, environment: env, description };
    const built = writeBody(form);
    if ("error" in built) {
      setError(built.error);
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const secret = await api.request<Secret>("PUT", secretsApi(scope, name), { body: built.body });
      if (value.current) value.current.value = "";
      await client.invalidateQueries({ queryKey: ["secrets", scopeParam(scope)] });
      if (!editing) {
        setName("");
        setReference("");
        setDescription("");
      }
      onSaved(secret);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }

  const title = editing ? `Update ${editing.name}` : "Set a secret";
  return (
    <Card title={title}>
      <form onSubmit={(e) => void submit(e)} className="grid gap-3 sm:grid-cols-2" aria-label={title}>
        <Field label="Name" hint="Letters, digits and _: the environment variable it becomes.">
          <input
            className={`${INPUT} font-mono`}
            value={name}
            onChange={(e) => setName(e.target.value)}
            readOnly={editing !== null}
            autoComplete="off"
            spellCheck={false}
            required
          />
        </Field>
        <Field label="Environment">
          <input
            className={INPUT}
            list="secret-environments"
            value={env}
            onChange={(e) => setEnv(e.target.value)}
            readOnly={editing !== null}
            autoComplete="off"
            required
          />
          <datalist id="secret-environments">
            {environments.map((e) => (
              <option key={e} value={e} />
            ))}
          </datalist>
        </Field>
        <fieldset className="space-y-1 text-sm sm:col-span-2">
          <legend className="font-medium">Kind</legend>
          <label className="mr-4 inline-flex items-center gap-1">
            <input type="radio" name="kind" checked={kind === "value"} onChange={() => setKind("value")} />
            Value (stored encrypted)
          </label>
          <label className="inline-flex items-center gap-1">
            <input type="radio" name="kind" checked={kind === "reference"} onChange={() => setKind("reference")} />
            1Password reference
          </label>
        </fieldset>
        {kind === "value" ? (
          <Field label="Value" hint={editing ? "The new value: the current one is not shown here." : "Never shown again on this page unless revealed."}>
            <input ref={value} type="password" className={`${INPUT} font-mono`} autoComplete="new-password" spellCheck={false} />
          </Field>
        ) : (
          <Field label="1Password reference" hint="Resolved on use; DevFlow stores only the reference.">
            <input
              className={`${INPUT} font-mono`}
              placeholder="op://vault/item/field"
              value={reference}
              onChange={(e) => setReference(e.target.value)}
              autoComplete="off"
              spellCheck={false}
            />
          </Field>
        )}
        <Field label="Description">
          <input className={INPUT} value={description} maxLength={500} onChange={(e) => setDescription(e.target.value)} />
        </Field>
        <div className="flex flex-wrap items-center gap-2 sm:col-span-2">
          <button type="submit" className={BUTTON} disabled={busy}>
            {editing ? "Save new version" : "Set secret"}
          </button>
          {editing ? (
            <button type="button" className={SECONDARY} onClick={onCancel}>
              Cancel
            </button>
          ) : null}
        </div>
        {error ? (
          <div className="sm:col-span-2">
            <ErrorMessage error={error} />
          </div>
        ) : null}
      </form>
    </Card>
  );
}
