import { useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { useLocation, useNavigate } from "react-router-dom";

import { api, type ApiError } from "../lib/api";
import { Code, ErrorMessage } from "../lib/components";
import { sessionQuery } from "../lib/session";

/** Sign in: the one-time link from `devflow signin-link`, or a pasted token (exchanged for a
 * session cookie with no more power than the token; the token itself is not kept). */
export function SignIn({ reason }: { reason?: ApiError }) {
  const client = useQueryClient();
  const navigate = useNavigate();
  const location = useLocation();
  const [token, setToken] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent): Promise<void> {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await api.post("/api/v1/session", { token: token.trim() });
      setToken("");
      await client.invalidateQueries({ queryKey: sessionQuery.queryKey });
      if (location.pathname === "/signin") navigate("/", { replace: true });
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  }

  // A missing session is the normal reason to be here; anything else is worth saying.
  const shown = reason && reason.status !== 401 ? reason : null;
  return (
    <main id="main" className="mx-auto max-w-xl px-4 py-12">
      <h1 className="text-2xl font-semibold">Sign in to DevFlow</h1>
      {shown ? (
        <div className="mt-4">
          <ErrorMessage error={shown} />
        </div>
      ) : null}
      <section className="mt-6 space-y-2">
        <h2 className="font-semibold">With a sign-in link</h2>
        <p className="text-sm">
          On the machine where DevFlow runs, run <Code>devflow signin-link</Code> and open the link
          it prints. Each link works once and expires in minutes. The first <Code>devflow up</Code>{" "}
          prints one too.
        </p>
      </section>
      <section className="mt-8 space-y-2">
        <h2 className="font-semibold">With a token</h2>
        <p className="text-sm">
          Paste an API token (<Code>dfl_…</Code>, from <Code>devflow token create NAME</Code>). The
          dashboard gets a session with the token&apos;s scopes, project and expiry, never more; the
          token is not stored in this browser.
        </p>
        <form onSubmit={(event) => void submit(event)} className="space-y-2">
          <label className="block text-sm font-medium" htmlFor="token">
            Token
          </label>
          <input
            id="token"
            type="password"
            autoComplete="off"
            spellCheck={false}
            required
            value={token}
            onChange={(event) => setToken(event.target.value)}
            className="w-full rounded border border-slate-300 bg-white px-2 py-1 font-mono dark:border-slate-700 dark:bg-slate-900"
          />
          {error ? <ErrorMessage error={error} /> : null}
          <button
            type="submit"
            disabled={busy || !token.trim()}
            className="rounded bg-indigo-600 px-3 py-1.5 text-sm font-medium text-white hover:bg-indigo-700 disabled:opacity-50"
          >
            {busy ? "Signing in…" : "Sign in"}
          </button>
        </form>
      </section>
    </main>
  );
}
