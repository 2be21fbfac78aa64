import { describe, expect, it } from "vitest";

import { clientSnippets } from "./clients";
import { readMessage, testConnection, type Fetch } from "./connection";

describe("clientSnippets", () => {
  const byId = Object.fromEntries(clientSnippets("https://devflow.example.com").map((s) => [s.id, s.text]));

  it("prints what devflow mcp config --http prints, on the dashboard's origin", () => {
    expect(byId["claude-code"]).toBe(
      'claude mcp add --transport http devflow https://devflow.example.com/mcp --header "Authorization: Bearer $DEVFLOW_TOKEN"',
    );
    expect(byId.codex).toBe('[mcp_servers.devflow]\nurl = "https://devflow.example.com/mcp"\nbearer_token_env_var = "DEVFLOW_TOKEN"');
  });

  it("writes JSON each client parses, the token read from the environment", () => {
    const cursor = JSON.parse(byId.cursor ?? "") as { mcpServers: { devflow: { url: string; headers: Record<string, string> } } };
    expect(cursor.mcpServers.devflow).toEqual({
      url: "https://devflow.example.com/mcp",
      headers: { Authorization: "Bearer ${env:DEVFLOW_TOKEN}" },
    });
    const opencode = JSON.parse(byId.opencode ?? "") as { mcp: { devflow: Record<string, unknown> } };
    expect(opencode.mcp.devflow.headers).toEqual({ Authorization: "Bearer {env:DEVFLOW_TOKEN}" });
    expect(opencode.mcp.devflow.type).toBe("remote");
    expect(JSON.parse(byId["claude-desktop"] ?? "")).toBeTruthy();
  });
});

describe("testConnection", () => {
  const answer = (status: number, body: string, type = "application/json"): Fetch =>
    () => Promise.resolve(new Response(body, { status, headers: { "Content-Type": type } }));

  it("reads an initialize result, plain or streamed", async () => {
    const result = { jsonrpc: "2.0", id: 1, result: { protocolVersion: "2025-03-26", serverInfo: { name: "devflow", version: "0.9" } } };
    expect(await testConnection(answer(200, JSON.stringify(result)), "/mcp", "dfl_x")).toEqual({
      ok: true,
      server: "devflow",
      version: "0.9",
      protocol: "2025-03-26",
    });
    const sse = `event: message\ndata: ${JSON.stringify(result)}\n\n`;
    expect((await testConnection(answer(200, sse, "text/event-stream"), "/mcp", "dfl_x")).ok).toBe(true);
  });

  it("says the token was refused, with the server's message", async () => {
    const refused = await testConnection(answer(401, JSON.stringify({ error: { code: "unauthenticated", message: "token revoked" } })), "/mcp", "x");
    expect(refused).toEqual({ ok: false, message: "The token was refused: token revoked" });
  });

  it("sends the token as a bearer, without the dashboard's cookie", async () => {
    let seen: RequestInit | undefined;
    const spy: Fetch = (_url, init) => {
      seen = init;
      return Promise.resolve(new Response("{}", { status: 200 }));
    };
    expect((await testConnection(spy, "/mcp", " dfl_abc ")).ok).toBe(false);
    expect(seen?.credentials).toBe("omit");
    expect((seen?.headers as Record<string, string>).Authorization).toBe("Bearer dfl_abc");
    expect(readMessage("")).toBeNull();
  });
});
