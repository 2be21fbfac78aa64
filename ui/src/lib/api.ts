/** The dashboard's one way to call DevFlow's REST API: same origin, the session cookie, and the
 * header that lets a cookie-authenticated request write (the server refuses writes without it,
 * so a cross-site form cannot act for the user). Every failure becomes an `ApiError` carrying
 * the API's own message, which the pages show as it is. */

export const REQUEST_HEADER = "X-DevFlow-Request";

/** A failed call: the API's `{"error": {"code", "message", "details"}}`, or what went wrong
 * before an answer came. `status` 0 means no answer at all. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: Record<string, unknown>;

  constructor(status: number, code: string, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = details;
  }

  /** The session is missing or over: the page should offer to sign in. */
  get unauthenticated(): boolean {
    return this.status === 401;
  }
}

export type Query = Record<string, string | number | boolean | null | undefined>;

export interface RequestOptions {
  query?: Query;
  /** JSON, or a FormData sent as multipart. */
  body?: unknown;
  signal?: AbortSignal;
  /** The Accept header (default: JSON). */
  accept?: string;
  /** Resolve to the successful Response itself (a stream the caller reads). */
  raw?: boolean;
}

export type Fetch = (input: string, init: RequestInit) => Promise<Response>;

/** Build `path?query`, leaving out empty values. */
export function withQuery(path: string, query: Query = {}): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== "") params.append(key, String(value));
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Turn a non-2xx answer into an ApiError: the API's shape when it is there, else the status
 * and the start of the body (a proxy's HTML page says more than "error"). */
export async function errorFrom(response: Response): Promise<ApiError> {
  const text = await response.text().catch(() => "");
  try {
    const body: unknown = JSON.parse(text);
    if (isRecord(body) && isRecord(body.error) && typeof body.error.message === "string") {
      const { code, message, details } = body.error;
      return new ApiError(
        response.status,
        typeof code === "string" ? code : "error",
        message,
        isRecord(details) ? details : {},
      );
    }
  } catch {
    // not JSON: described below
  }
  const snippet = text.replace(/\s+/g, " ").trim().slice(0, 200);
  const reason = `${response.status} ${response.statusText}`.trim();
  return new ApiError(response.status, "http", snippet ? `${reason}: ${snippet}` : reason);
}

export class ApiClient {
  private readonly fetchImpl: Fetch;

  constructor(fetchImpl: Fetch = (input, init) => fetch(input, init)) {
    this.fetchImpl = fetchImpl;
  }

  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const headers: Record<string, string> = { Accept: "application/json", [REQUEST_HEADER]: "1" };
    const init: RequestInit = { method, headers, credentials: "same-origin" };
    if (options.signal) init.signal = options.signal;
    if (options.body instanceof FormData) {
      init.body = options.body; // the browser writes the multipart boundary
    } else if (options.body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(options.body);
    }
    if (options.accept) headers.Accept = options.accept;
    let response: Response;
    try {
      response = await this.fetchImpl(withQuery(path, options.query), init);
    } catch (error) {
      if (error instanceof DOMException && error.name === "AbortError") throw error;
      throw new ApiError(
        0,
        "unreachable",
        "DevFlow did not answer: check that it is still running (`devflow up`), then retry",
      );
    }
    if (!response.ok) throw await errorFrom(response);
    if (options.raw) return response as T;
    if (response.status === 204) return undefined as T;
    return (await response.json()) as T;
  }

  get<T>(path: string, query?: Query, signal?: AbortSignal): Promise<T> {
    const options: RequestOptions = {};
    if (query) options.query = query;
    if (signal) options.signal = signal;
    return this.request<T>("GET", path, options);
  }

  post<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>("POST", path, body === undefined ? {} : { body });
  }

  delete<T>(path: string): Promise<T> {
    return this.request<T>("DELETE", path);
  }
}

/** The client every page uses. */
export const api = new ApiClient();
