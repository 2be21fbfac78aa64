import { describe, expect, it } from "vitest";

import { EventStream, type Source } from "./events";
import type { DevflowEvent } from "./types";

class FakeSource implements Source {
  onmessage: ((event: MessageEvent<string>) => void) | null = null;
  onerror: ((event: Event) => void) | null = null;
  onopen: ((event: Event) => void) | null = null;
  closed = false;

  constructor(readonly url: string) {}

  close(): void {
    this.closed = true;
  }

  send(id: number, type = "project.created"): void {
    const data = JSON.stringify({ id, type, project_id: null, actor_id: null, created_at: "", payload: {} });
    this.onmessage?.({ data } as MessageEvent<string>);
  }

  fail(): void {
    this.onerror?.(new Event("error"));
  }
}

function harness() {
  const sources: FakeSource[] = [];
  const timers: { run: () => void; ms: number }[] = [];
  const stream = new EventStream({
    open: (url) => {
      const source = new FakeSource(url);
      sources.push(source);
      return source;
    },
    schedule: (run, ms) => timers.push({ run, ms }),
    cancel: () => undefined,
    delay: 1000,
    maxDelay: 4000,
  });
  return { stream, sources, timers };
}

describe("EventStream", () => {
  it("asks for unnamed frames, so one listener hears every type", () => {
    const { stream, sources } = harness();
    stream.subscribe(() => undefined);
    expect(sources[0]!.url).toBe("/api/v1/events?event_names=false");
  });

  it("reconnects after an error, resuming after the last event it saw", () => {
    const { stream, sources, timers } = harness();
    const seen: number[] = [];
    stream.subscribe((event: DevflowEvent) => seen.push(event.id));
    sources[0]!.send(7);
    sources[0]!.send(8);
    sources[0]!.fail();
    expect(sources[0]!.closed).toBe(true);
    expect(stream.status).toBe("reconnecting");
    timers.shift()!.run();
    expect(sources[1]!.url).toBe("/api/v1/events?event_names=false&since=8");
    sources[1]!.send(8); // a replay of what was already delivered is dropped
    sources[1]!.send(9);
    expect(seen).toEqual([7, 8, 9]);
  });

  it("waits longer after each failure in a row, up to a limit, and resets once connected", () => {
    const { stream, sources, timers } = harness();
    stream.subscribe(() => undefined);
    const waits: number[] = [];
    for (let i = 0; i < 4; i += 1) {
      sources.at(-1)!.fail();
      const timer = timers.shift()!;
      waits.push(timer.ms);
      timer.run();
    }
    expect(waits).toEqual([1000, 2000, 4000, 4000]);
    sources.at(-1)!.onopen?.(new Event("open"));
    expect(stream.status).toBe("live");
    sources.at(-1)!.fail();
    expect(timers.shift()!.ms).toBe(1000);
  });

  it("opens one connection for many listeners and closes it with the last", () => {
    const { stream, sources } = harness();
    const first = stream.subscribe(() => undefined);
    const second = stream.subscribe(() => undefined);
    expect(sources).toHaveLength(1);
    first();
    expect(sources[0]!.closed).toBe(false);
    second();
    expect(sources[0]!.closed).toBe(true);
  });
});
