import { QueryCache, QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { useState } from "react";
import { BrowserRouter, Route, Routes } from "react-router-dom";

import { collected } from "./contributions";
import { ApiError } from "./lib/api";
import { ContributionsProvider } from "./lib/contribution";
import { EventStream } from "./lib/events";
import { EventsProvider } from "./lib/live";
import { SessionProvider } from "./lib/session";
import { Layout } from "./Layout";
import { NotFound } from "./pages/NotFound";
import { SignIn } from "./pages/SignIn";

function makeClient(): QueryClient {
  const client: QueryClient = new QueryClient({
    queryCache: new QueryCache({
      // A session that ends meanwhile (expired, signed out elsewhere) shows the sign-in page.
      onError: (error) => {
        if (error instanceof ApiError && error.unauthenticated) {
          void client.invalidateQueries({ queryKey: ["session"] });
        }
      },
    }),
    defaultOptions: {
      // Live data arrives through events; no refetching on a timer or on focus.
      queries: { staleTime: 30_000, refetchOnWindowFocus: false, retry: 1 },
    },
  });
  return client;
}

export function App() {
  const [client] = useState(makeClient);
  const [stream] = useState(() => new EventStream());
  return (
    <QueryClientProvider client={client}>
      <ContributionsProvider value={collected}>
      <EventsProvider stream={stream}>
        <BrowserRouter>
          <Routes>
            <Route path="/signin" element={<SignIn />} />
            <Route
              element={
                <SessionProvider
                  signedOut={(error) => <SignIn reason={error} />}
                  loading={<p className="p-8 text-slate-500">Loading…</p>}
                >
                  <Layout nav={collected.nav} />
                </SessionProvider>
              }
            >
              {collected.routes.map(({ path, Component }) => (
                <Route key={path} path={path} element={<Component />} />
              ))}
              <Route path="*" element={<NotFound />} />
            </Route>
          </Routes>
        </BrowserRouter>
      </EventsProvider>
      </ContributionsProvider>
    </QueryClientProvider>
  );
}
