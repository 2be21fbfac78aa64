"""Copy-paste configuration for the coding agents that speak MCP (`devflow mcp config <client>`).

stdio variants run `devflow mcp` (absolute path, so GUI apps without the virtual environment on
their PATH find it), which reads the local credentials file. HTTP variants point at `/mcp` and
take the token from the `DEVFLOW_TOKEN` environment variable wherever the client can read one;
Claude Desktop cannot, so its HTTP variant is the stdio bridge aimed at the server's URL.
"""

from __future__ import annotations

import json
import shlex
import sys
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

TOKEN_ENV = "DEVFLOW_TOKEN"  # noqa: S105 - the name of a variable, not a secret
NAME = "devflow"


class Client(StrEnum):
    """The agents `devflow mcp config` knows."""

    CLAUDE_CODE = "claude-code"
    CODEX = "codex"
    CURSOR = "cursor"
    OPENCODE = "opencode"
    CLAUDE_DESKTOP = "claude-desktop"


WHERE: dict[Client, str] = {
    Client.CLAUDE_CODE: "run in a shell",
    Client.CODEX: "add to ~/.codex/config.toml",
    Client.CURSOR: "merge into ~/.cursor/mcp.json (or .cursor/mcp.json in a project)",
    Client.OPENCODE: "merge into opencode.json (project) or ~/.config/opencode/opencode.json",
    Client.CLAUDE_DESKTOP: "merge into claude_desktop_config.json (Settings > Developer)",
}


@dataclass(frozen=True)
class Target:
    """Where the agent reaches DevFlow."""

    url: str  # the server's base URL
    command: str  # absolute path of the `devflow` executable
    home: str | None = None  # DEVFLOW_HOME when not the default
    token: str | None = None  # only for Claude Desktop's HTTP variant, which cannot read env

    @property
    def endpoint(self) -> str:
        """Return the streamable HTTP endpoint."""
        return self.url.rstrip("/") + "/mcp"


def devflow_executable() -> str:
    """Return the absolute path of the `devflow` script next to this Python, else `devflow`."""
    script = Path(sys.executable).with_name("devflow")
    return str(script) if script.exists() else "devflow"


def snippet(client: Client, target: Target, *, http: bool) -> str:
    """Return the exact text to paste (or command to run) for `client`."""
    match client:
        case Client.CLAUDE_CODE:
            return _claude_code(target, http=http)
        case Client.CODEX:
            return _codex(target, http=http)
        case Client.CURSOR:
            return _mcp_servers_json(target, http=http, header=f"Bearer ${{env:{TOKEN_ENV}}}")
        case Client.OPENCODE:
            return _opencode(target, http=http)
        case Client.CLAUDE_DESKTOP:
            return _claude_desktop(target, http=http)


def _stdio_env(target: Target) -> dict[str, str]:
    return {"DEVFLOW_HOME": target.home} if target.home else {}


def _claude_code(target: Target, *, http: bool) -> str:
    if http:
        header = f"Authorization: Bearer ${TOKEN_ENV}"
        return (
            f"claude mcp add --transport http {NAME} {shlex.quote(target.endpoint)} "
            f'--header "{header}"'
        )
    env = "".join(f" --env {k}={shlex.quote(v)}" for k, v in _stdio_env(target).items())
    return f"claude mcp add --transport stdio{env} {NAME} -- {shlex.quote(target.command)} mcp"


def _codex(target: Target, *, http: bool) -> str:
    lines = [f"[mcp_servers.{NAME}]"]
    if http:
        lines += [f"url = {json.dumps(target.endpoint)}", f'bearer_token_env_var = "{TOKEN_ENV}"']
    else:
        lines += [f"command = {json.dumps(target.command)}", 'args = ["mcp"]']
        if target.home:
            lines.append(f"env = {{ DEVFLOW_HOME = {json.dumps(target.home)} }}")
    return "\n".join(lines)


def _mcp_servers_json(target: Target, *, http: bool, header: str) -> str:
    server: dict[str, object]
    if http:
        server = {"url": target.endpoint, "headers": {"Authorization": header}}
    else:
        server = {"command": target.command, "args": ["mcp"]}
        if target.home:
            server["env"] = _stdio_env(target)
    return json.dumps({"mcpServers": {NAME: server}}, indent=2)


def _opencode(target: Target, *, http: bool) -> str:
    server: dict[str, object]
    if http:
        auth = f"Bearer {{env:{TOKEN_ENV}}}"
        server = {"type": "remote", "url": target.endpoint, "headers": {"Authorization": auth}}
    else:
        server = {"type": "local", "command": [target.command, "mcp"]}
        if target.home:
            server["environment"] = _stdio_env(target)
    server["enabled"] = True
    config = {"$schema": "https://opencode.ai/config.json", "mcp": {NAME: server}}
    return json.dumps(config, indent=2)


def _claude_desktop(target: Target, *, http: bool) -> str:
    server: dict[str, object] = {"command": target.command, "args": ["mcp"]}
    env = _stdio_env(target)
    if http:
        # Claude Desktop has no remote servers in its config file: `devflow mcp` bridges to one.
        server["args"] = ["mcp", "--url", target.url]
        env[TOKEN_ENV] = target.token or "<token from `devflow token create claude-desktop`>"
    if env:
        server["env"] = env
    return json.dumps({"mcpServers": {NAME: server}}, indent=2)
