/** The snippets that connect each coding agent to DevFlow's MCP endpoint, as
 * `devflow mcp config <client> --http` prints them (mcp/clients.py; keep the two in step), with
 * the dashboard's origin as the server: the address this browser evidently reaches. The token is
 * read from DEVFLOW_TOKEN wherever the client can; Claude Desktop cannot, so its snippet is the
 * stdio bridge aimed at the server, with a placeholder where the token goes. */

export const TOKEN_ENV = "DEVFLOW_TOKEN";

export interface ClientSnippet {
  id: string;
  label: string;
  /** Where the snippet goes (a shell, a config file). */
  where: string;
  text: string;
}

export function endpoint(origin: string): string {
  return `${origin.replace(/\/+$/, "")}/mcp`;
}

export function clientSnippets(origin: string): ClientSnippet[] {
  const url = endpoint(origin);
  const json = (value: unknown) => JSON.stringify(value, null, 2);
  return [
    {
      id: "claude-code",
      label: "Claude Code",
      where: "run in a shell",
      text: `claude mcp add --transport http devflow ${url} --header "Authorization: Bearer $${TOKEN_ENV}"`,
    },
    {
      id: "codex",
      label: "Codex",
      where: "add to ~/.codex/config.toml",
      text: `[mcp_servers.devflow]\nurl = ${JSON.stringify(url)}\nbearer_token_env_var = "${TOKEN_ENV}"`,
    },
    {
      id: "cursor",
      label: "Cursor",
      where: "merge into ~/.cursor/mcp.json (or .cursor/mcp.json in a project)",
      text: json({ mcpServers: { devflow: { url, headers: { Authorization: `Bearer \${env:${TOKEN_ENV}}` } } } }),
    },
    {
      id: "opencode",
      label: "OpenCode",
      where: "merge into opencode.json (project) or ~/.config/opencode/opencode.json",
      text: json({
        $schema: "https://opencode.ai/config.json",
        mcp: {
          devflow: { type: "remote", url, headers: { Authorization: `Bearer {env:${TOKEN_ENV}}` }, enabled: true },
        },
      }),
    },
    {
      id: "claude-desktop",
      label: "Claude Desktop",
      where: "merge into claude_desktop_config.json (Settings > Developer); devflow must be on this machine",
      text: json({
        mcpServers: {
          devflow: {
            command: "devflow",
            args: ["mcp", "--url", origin.replace(/\/+$/, "")],
            env: { [TOKEN_ENV]: "<token from `devflow token create claude-desktop`>" },
          },
        },
      }),
    },
  ];
}
