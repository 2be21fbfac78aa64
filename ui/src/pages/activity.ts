/** Recent activity: the last events from the history (GET /api/v1/events?latest=N&follow=false,
 * which ends after replaying them), then the live ones, without progress reports. */

import { useQuery } from "@tanstack/react-query";
import { useState } from "react";

import { api } from "../lib/api";
import { useEvents } from "../lib/live";
import type { DevflowEvent } from "../lib/types";

/** Progress reports (`job.progress`, `knowledge.source.progress` …) are not activity. */
export const NOT_ACTIVITY = "*.progress";

export function isActivity(event: DevflowEvent): boolean {
  return !event.type.endsWith(NOT_ACTIVITY.slice(1));
}

/** Parse the `data:` frames of a finished Server-Sent Events body into events. */
export function parseEvents(body: string): DevflowEvent[] {
  const found: DevflowEvent[] = [];
  for (const frame of body.replace(/\r\n?/g, "\n").split("\n\n")) {
    const data = frame
      .split("\n")
      .filter((line) => line.startsWith("data:"))
      .map((line) => line.slice(5).replace(/^ /, ""))
      .join("\n");
    if (!data) continue;
    try {
      const event = JSON.parse(data) as DevflowEvent;
      if (typeof event.id === "number" && typeof event.type === "string") found.push(event);
    } catch {
      // not an event: skipped
    }
  }
  return found;
}

/** The newest `limit` events of both lists, newest first, each once. */
export function mergeNewest(a: DevflowEvent[], b: DevflowEvent[], limit: number): DevflowEvent[] {
  const byId = new Map<number, DevflowEvent>();
  for (const event of [...a, ...b]) byId.set(event.id, event);
  return [...byId.values()].sort((x, y) => y.id - x.id).slice(0, limit);
}

async function latestEvents(project: string | null, limit: number): Promise<DevflowEvent[]> {
  const response = await api.request<Response>("GET", "/api/v1/events", {
    query: {
      latest: limit,
      follow: false,
      event_names: false,
      exclude_type: NOT_ACTIVITY,
      project: project ?? undefined,
    },
    accept: "text/event-stream",
    raw: true,
  });
  return parseEvents(await response.text());
}

/** The last `limit` events of `project` (null: every project the session sees), newest first:
 * from the history on load, then as they happen. */
export function useRecentActivity(project: string | null, limit: number) {
  const [live, setLive] = useState<DevflowEvent[]>([]);
  const history = useQuery({
    queryKey: ["events", "recent", project, limit],
    queryFn: () => latestEvents(project, limit),
    // Read again whenever the list is shown anew: what happened meanwhile came by no stream.
    staleTime: 0,
  });
  useEvents((event) => {
    if (isActivity(event)) setLive((shown) => mergeNewest([event], shown, limit));
  });
  return { ...history, events: mergeNewest(history.data ?? [], live, limit) };
}
