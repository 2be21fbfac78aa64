/** The page's one QueryClient: live data arrives through events, so nothing refetches on a
 * timer or on focus, and a session that ends meanwhile brings the sign-in page back. */

import { QueryCache, QueryClient } from "@tanstack/react-query";

import { ApiError } from "./api";

export const SESSION_KEY = ["session"] as const;

export function makeQueryClient(): QueryClient {
  const client: QueryClient = new QueryClient({
    queryCache: new QueryCache({
      onError: (error, query) => {
        // Another query's 401 means the session ended (expired, signed out elsewhere): ask
        // again who we are. The session query's own 401 is the answer, not a reason to ask.
        if (query.queryKey[0] === SESSION_KEY[0]) return;
        if (error instanceof ApiError && error.unauthenticated) {
          void client.invalidateQueries({ queryKey: SESSION_KEY });
        }
      },
    }),
    defaultOptions: {
      queries: { staleTime: 30_000, refetchOnWindowFocus: false, retry: 1 },
    },
  });
  return client;
}
