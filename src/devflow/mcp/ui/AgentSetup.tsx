/** Agents' setup: the MCP snippet for each client, with copy buttons, and a test of the
 * connection an agent makes (initialize on /mcp with its token). */

import { useState, type FormEvent } from "react";
import { Link } from "react-router-dom";

import { BUTTON, Code, Field, INPUT, Snippet } from "@devflow/ui";

import { clientSnippets, endpoint, TOKEN_ENV } from "./clients";
import { testConnection, type ConnectionResult } from "./connection";

function TestConnection() {
  // The token lives in this form only, and is cleared after each test.
  const [token, setToken] = useState("");
  const [result, setResult] = useState<ConnectionResult | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setResult(await testConnection((input, init) => fetch(input, init), endpoint(window.location.origin), token));
    setToken("");
    setBusy(false);
  };
  return (
    <form onSubmit={(e) => void submit(e)} className="space-y-2 rounded-lg border border-slate-200 bg-white p-4 dark:border-slate-800 dark:bg-slate-900">
      <h2 className="font-semibold">Test connection</h2>
      <Field label="The agent's token" hint={`The value of ${TOKEN_ENV}; sent once to ${endpoint(window.location.origin)} and not kept.`}>
        <input className={INPUT} type="password" autoComplete="off" required value={token} onChange={(e) => setToken(e.target.value)} />
      </Field>
      <button type="submit" className={BUTTON} disabled={busy}>
        {busy ? "Testing…" : "Test connection"}
      </button>
      <div aria-live="polite">
        {result?.ok ? (
          <p className="text-sm text-emerald-700 dark:text-emerald-300">
            Connected: {result.server} {result.version} answered initialize (MCP {result.protocol}).
          </p>
        ) : null}
        {result && !result.ok ? (
          <p role="alert" className="text-sm text-red-700 dark:text-red-300">
            {result.message}
          </p>
        ) : null}
      </div>
    </form>
  );
}

export function AgentSetup() {
  const snippets = clientSnippets(window.location.origin);
  return (
    <div className="space-y-4">
      <h1 className="text-xl font-semibold">Agents&apos; setup</h1>
      <p className="text-sm text-slate-600 dark:text-slate-400">
        Coding agents reach DevFlow&apos;s knowledge and project tools over MCP at <Code>{endpoint(window.location.origin)}</Code>.
        Give each agent its own token (<Link to="/tokens" className="underline">create one</Link> with read and write, limited
        to a project if you like) and export it as <Code>{TOKEN_ENV}</Code> where the agent runs. For the stdio variant on
        this machine, <Code>devflow mcp config &lt;client&gt;</Code> prints the snippet with devflow&apos;s absolute path.
      </p>
      <TestConnection />
      <div className="grid gap-4 lg:grid-cols-2">
        {snippets.map((s) => (
          <section key={s.id} className="rounded-lg border border-slate-200 bg-white p-4 dark:border-slate-800 dark:bg-slate-900">
            <Snippet title={s.label} text={s.text} note={s.where} />
          </section>
        ))}
      </div>
    </div>
  );
}
