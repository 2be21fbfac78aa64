/** Who the dashboard acts as (GET /api/v1/session) and which project it shows. */

import { useQuery, useQueryClient } from "@tanstack/react-query";
import { createContext, useCallback, useContext, useMemo, useState, type ReactNode } from "react";

import { api, ApiError } from "./api";
import { SESSION_KEY } from "./client";
import type { Page, Project, SessionInfo } from "./types";

const PROJECT_KEY = "devflow.project";

export interface SessionState {
  session: SessionInfo;
  projects: Project[];
  /** The project the pages show; null: every project the session can see. */
  project: string | null;
  setProject(name: string | null): void;
  /** The session's token may write (`write` or `admin` scope). */
  canWrite: boolean;
  signOut(): Promise<void>;
}

const SessionContext = createContext<SessionState | null>(null);

export function useSession(): SessionState {
  const state = useContext(SessionContext);
  if (!state) throw new Error("useSession needs a signed-in <SessionProvider> above it");
  return state;
}

export const sessionQuery = {
  queryKey: SESSION_KEY,
  queryFn: () => api.get<SessionInfo>("/api/v1/session"),
  retry: (count: number, error: Error) =>
    !(error instanceof ApiError && error.status < 500) && count < 2,
};

/** Resolve the session; while signed out, render `signedOut` with the reason. */
export function SessionProvider({
  children,
  signedOut,
  loading,
}: {
  children: ReactNode;
  signedOut: (error: ApiError) => ReactNode;
  loading: ReactNode;
}) {
  const client = useQueryClient();
  const session = useQuery(sessionQuery);
  const projects = useQuery({
    queryKey: ["projects"],
    queryFn: () => api.get<Page<Project>>("/api/v1/projects"),
    enabled: session.isSuccess,
  });
  const [chosen, setChosen] = useState<string | null>(
    () => globalThis.localStorage?.getItem(PROJECT_KEY) ?? null,
  );
  const setProject = useCallback((name: string | null) => {
    if (name) globalThis.localStorage?.setItem(PROJECT_KEY, name);
    else globalThis.localStorage?.removeItem(PROJECT_KEY);
    setChosen(name);
  }, []);
  const signOut = useCallback(async () => {
    await api.delete<undefined>("/api/v1/session");
    // Forget what the session could see, then ask again who we are: the sign-in page shows.
    client.removeQueries({ predicate: (query) => query.queryKey[0] !== SESSION_KEY[0] });
    await client.resetQueries({ queryKey: SESSION_KEY });
  }, [client]);

  const state = useMemo<SessionState | null>(() => {
    if (!session.data) return null;
    const items = projects.data?.items ?? [];
    // A session restricted to a project shows that one; a remembered name that is gone is not.
    const restricted = session.data.project;
    const project = restricted ?? (items.some((p) => p.name === chosen) ? chosen : null);
    const scopes = session.data.scopes;
    return {
      session: session.data,
      projects: items,
      project,
      setProject,
      canWrite: scopes.includes("write") || scopes.includes("admin"),
      signOut,
    };
  }, [session.data, projects.data, chosen, setProject, signOut]);

  if (session.error) {
    const error =
      session.error instanceof ApiError
        ? session.error
        : new ApiError(0, "error", session.error.message);
    return <>{signedOut(error)}</>;
  }
  if (!state) return <>{loading}</>;
  return <SessionContext.Provider value={state}>{children}</SessionContext.Provider>;
}
