/** React access to the one event stream of the page. */

import { useQueryClient, type QueryKey } from "@tanstack/react-query";
import { createContext, useContext, useEffect, useRef, useState, type ReactNode } from "react";

import { EventStream, type Listener, type Status } from "./events";
import type { DevflowEvent } from "./types";

const StreamContext = createContext<EventStream | null>(null);

export function EventsProvider({ stream, children }: { stream: EventStream; children: ReactNode }) {
  return <StreamContext.Provider value={stream}>{children}</StreamContext.Provider>;
}

function useStream(): EventStream {
  const stream = useContext(StreamContext);
  if (!stream) throw new Error("useEvents needs an <EventsProvider> above it");
  return stream;
}

/** Call `listener` for every event while the component is shown. */
export function useEvents(listener: Listener): void {
  const stream = useStream();
  const latest = useRef(listener);
  useEffect(() => {
    latest.current = listener;
  });
  useEffect(() => stream.subscribe((event) => latest.current(event)), [stream]);
}

/** The connection's status, for the "live" indicator. */
export function useLiveStatus(): Status {
  const stream = useStream();
  const [status, setStatus] = useState<Status>(stream.status);
  useEffect(() => stream.watch(setStatus), [stream]);
  return status;
}

/** Refetch `keys` when an event matching `matches` arrives: at most once per `spacing` ms, so
 * a burst of progress events costs one request, and never when nothing happens. */
export function useRefetchOn(
  keys: QueryKey[],
  matches: (event: DevflowEvent) => boolean,
  spacing = 750,
): void {
  const client = useQueryClient();
  const pending = useRef<ReturnType<typeof setTimeout> | null>(null);
  const wanted = useRef({ keys, matches });
  useEffect(() => {
    wanted.current = { keys, matches };
  });
  useEffect(
    () => () => {
      if (pending.current) clearTimeout(pending.current);
    },
    [],
  );
  useEvents((event) => {
    if (!wanted.current.matches(event) || pending.current) return;
    pending.current = setTimeout(() => {
      pending.current = null;
      for (const queryKey of wanted.current.keys) void client.invalidateQueries({ queryKey });
    }, spacing);
  });
}
