/** "Test connection": what an agent does first, an MCP `initialize` on /mcp with the token the
 * agent will use as its bearer. The token is typed in by the person and sent once; it is kept
 * in no store. The answer is JSON or, when the server streams, one SSE `data:` frame. */

export type Fetch = (input: string, init: RequestInit) => Promise<Response>;

export type ConnectionResult =
  | { ok: true; server: string; version: string; protocol: string }
  | { ok: false; message: string };

const PROTOCOL = "2025-03-26";

/** The JSON-RPC message in a response body, plain or as the first SSE data frame. */
export function readMessage(body: string): unknown {
  const text = body.trim();
  if (text.startsWith("{")) return JSON.parse(text);
  const data = text
    .split(/\r?\n/)
    .filter((line) => line.startsWith("data:"))
    .map((line) => line.slice(5).trim())
    .join("\n");
  return data ? JSON.parse(data) : null;
}

function messageOf(value: unknown): string | null {
  if (typeof value !== "object" || value === null) return null;
  const record = value as Record<string, unknown>;
  const error = record.error;
  if (typeof error === "object" && error !== null && typeof (error as { message?: unknown }).message === "string") {
    return (error as { message: string }).message;
  }
  if (typeof error === "string") return error;
  return null;
}

export async function testConnection(fetchImpl: Fetch, url: string, token: string): Promise<ConnectionResult> {
  let response: Response;
  try {
    response = await fetchImpl(url, {
      method: "POST",
      credentials: "omit", // the agent has no dashboard cookie: test what it will send
      headers: {
        Authorization: `Bearer ${token.trim()}`,
        "Content-Type": "application/json",
        Accept: "application/json, text/event-stream",
      },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "initialize",
        params: { protocolVersion: PROTOCOL, capabilities: {}, clientInfo: { name: "devflow-dashboard", version: "1" } },
      }),
    });
  } catch {
    return { ok: false, message: "DevFlow did not answer: check that it is still running (devflow up)" };
  }
  const body = await response.text().catch(() => "");
  let parsed: unknown = null;
  try {
    parsed = readMessage(body);
  } catch {
    parsed = null;
  }
  if (!response.ok) {
    const message = messageOf(parsed) ?? `${response.status} ${response.statusText}`.trim();
    return { ok: false, message: response.status === 401 ? `The token was refused: ${message}` : message };
  }
  const result = (parsed as { result?: { serverInfo?: { name?: unknown; version?: unknown }; protocolVersion?: unknown } } | null)?.result;
  if (!result?.serverInfo) return { ok: false, message: messageOf(parsed) ?? "The answer was not an MCP initialize result" };
  return {
    ok: true,
    server: String(result.serverInfo.name ?? "devflow"),
    version: String(result.serverInfo.version ?? ""),
    protocol: String(result.protocolVersion ?? PROTOCOL),
  };
}
