import { QueryClientProvider } from "@tanstack/react-query";
import { useState } from "react";
import { BrowserRouter, Route, Routes } from "react-router-dom";

import { collected } from "./contributions";
import { makeQueryClient } from "./lib/client";
import { ContributionsProvider } from "./lib/contribution";
import { EventStream } from "./lib/events";
import { EventsProvider } from "./lib/live";
import { SessionProvider } from "./lib/session";
import { Layout } from "./Layout";
import { NotFound } from "./pages/NotFound";
import { SignIn } from "./pages/SignIn";

export function App() {
  const [client] = useState(makeQueryClient);
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
