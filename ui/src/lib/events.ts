/** Live updates from GET /api/v1/events (Server-Sent Events).
 *
 * One stream per page, shared by every listener. The stream asks for unnamed frames
 * (`event_names=false`): a browser's EventSource can only listen to names it knows in advance,
 * and event types are open-ended. When the connection fails, the stream opens a new one that
 * resumes after the last event it saw (`since=<id>`), waiting longer after each failure in a
 * row, so nothing is missed and a server that is down is not hammered. It never polls. */

import type { DevflowEvent } from "./types";

/** The part of EventSource the stream uses (a fake in tests). */
export interface Source {
  onmessage: ((event: MessageEvent<string>) => void) | null;
  onerror: ((event: Event) => void) | null;
  onopen: ((event: Event) => void) | null;
  close(): void;
}

export type SourceFactory = (url: string) => Source;
export type Listener = (event: DevflowEvent) => void;
export type Status = "connecting" | "live" | "reconnecting";

export interface StreamOptions {
  url?: string;
  open?: SourceFactory;
  schedule?: (run: () => void, ms: number) => unknown;
  cancel?: (handle: unknown) => void;
  /** Milliseconds before the first retry; doubled per failure in a row, up to `maxDelay`. */
  delay?: number;
  maxDelay?: number;
}

export class EventStream {
  private readonly url: string;
  private readonly open: SourceFactory;
  private readonly schedule: (run: () => void, ms: number) => unknown;
  private readonly cancel: (handle: unknown) => void;
  private readonly delay: number;
  private readonly maxDelay: number;
  private readonly listeners = new Set<Listener>();
  private readonly watchers = new Set<(status: Status) => void>();
  private source: Source | null = null;
  private retry: unknown = null;
  private failures = 0;
  private lastId: number | null = null;
  private current: Status = "connecting";

  constructor(options: StreamOptions = {}) {
    this.url = options.url ?? "/api/v1/events";
    this.open = options.open ?? ((url) => new EventSource(url, { withCredentials: true }));
    this.schedule = options.schedule ?? ((run, ms) => setTimeout(run, ms));
    this.cancel = options.cancel ?? ((handle) => clearTimeout(handle as ReturnType<typeof setTimeout>));
    this.delay = options.delay ?? 1000;
    this.maxDelay = options.maxDelay ?? 30_000;
  }

  get status(): Status {
    return this.current;
  }

  /** The id of the last event received (where a new connection resumes). */
  get lastEventId(): number | null {
    return this.lastId;
  }

  /** Call `listener` with every event from now on; returns the unsubscribe function. The
   * connection opens with the first listener and closes with the last. */
  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    if (this.listeners.size === 1) this.connect();
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) this.stop();
    };
  }

  /** Follow the connection's status (for the "live" indicator). */
  watch(watcher: (status: Status) => void): () => void {
    this.watchers.add(watcher);
    return () => this.watchers.delete(watcher);
  }

  private setStatus(status: Status): void {
    this.current = status;
    for (const watcher of this.watchers) watcher(status);
  }

  private connect(): void {
    const query = new URLSearchParams({ event_names: "false" });
    if (this.lastId !== null) query.set("since", String(this.lastId));
    const source = this.open(`${this.url}?${query.toString()}`);
    this.source = source;
    source.onopen = () => {
      this.failures = 0;
      this.setStatus("live");
    };
    source.onmessage = (message) => this.deliver(message);
    source.onerror = () => this.reconnect();
  }

  private deliver(message: MessageEvent<string>): void {
    let event: DevflowEvent;
    try {
      event = JSON.parse(message.data) as DevflowEvent;
    } catch {
      return; // not an event frame; the stream's comments never reach here
    }
    if (typeof event.id !== "number") return;
    if (this.lastId !== null && event.id <= this.lastId) return; // replayed after a reconnect
    this.lastId = event.id;
    for (const listener of this.listeners) listener(event);
  }

  private reconnect(): void {
    // The browser's own retry would resend only its Last-Event-ID and give up on an error
    // status; one retry policy of ours covers both.
    this.source?.close();
    this.source = null;
    this.setStatus("reconnecting");
    const wait = Math.min(this.delay * 2 ** this.failures, this.maxDelay);
    this.failures += 1;
    this.retry = this.schedule(() => {
      this.retry = null;
      if (this.listeners.size > 0) this.connect();
    }, wait);
  }

  private stop(): void {
    if (this.retry !== null) this.cancel(this.retry);
    this.retry = null;
    this.source?.close();
    this.source = null;
    this.setStatus("connecting");
  }
}
