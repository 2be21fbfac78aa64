"""`devflow mcp` over stdio against a running `devflow up`, and every client's config snippet.

The SDK's stdio client spawns the command exactly as an agent would; each snippet printed by
`devflow mcp config` is parsed in its own format (JSON, TOML, shell) and then used to connect.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import tomllib
import uuid
from contextlib import asynccontextmanager

import httpx2
import mcp_types
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from devflow.core.embedded_pg import free_port

pytestmark = pytest.mark.e2e

CLIENTS = ["claude-code", "codex", "cursor", "opencode", "claude-desktop"]


def text(result: mcp_types.CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, mcp_types.TextContent)
    return block.text


def stdio(devflow, *args: str, env: dict[str, str] | None = None) -> Client:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "devflow", "mcp", *args],
        env={
            "DEVFLOW_HOME": str(devflow.home),
            "PYTHONPATH": devflow.env["PYTHONPATH"],
            **(env or {}),
        },
    )
    return Client(params)


@asynccontextmanager
async def over_http(url: str, token: str):
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        yield client


class TestStdio:
    async def test_an_agent_spawns_devflow_mcp_and_calls_tools(self, devflow):
        async with stdio(devflow) as client:
            tools = {t.name for t in (await client.list_tools()).tools}
            info = await client.call_tool("project_info", {})
            bad = await client.call_tool("job_status", {"job_id": "x"})
            unknown = await client.call_tool("nope", {})
            again = await client.call_tool("project_info", {})
            templates = await client.list_resource_templates()
            resources = await client.list_resources()
            with pytest.raises(MCPError, match="no document"):
                await client.read_resource(f"devflow://knowledge/documents/{uuid.uuid4()}")
        assert {"project_info", "job_status", "knowledge_search"} <= tools
        assert "devflow://knowledge/documents/{document_id}" in {
            t.uri_template for t in templates.resource_templates
        }
        assert resources.resources == []
        assert "you: admin (role owner)" in text(info)
        assert bad.is_error
        assert "valid integer" in text(bad)
        assert unknown.is_error
        assert "Unknown tool: nope" in text(unknown)
        assert not again.is_error

    async def test_a_wrong_token_is_reported_on_use(self, devflow):
        async with stdio(devflow, "--token", "dfl_" + "w" * 43) as client:
            result = await client.call_tool("project_info", {})
            with pytest.raises(MCPError, match="unknown token"):
                await client.list_tools()
        assert result.is_error
        assert "unknown token" in text(result)

    async def test_when_devflow_is_down_the_tools_say_how_to_start_it(self, devflow):
        url = f"http://127.0.0.1:{free_port()}"
        async with stdio(devflow, "--url", url) as client:
            result = await client.call_tool("project_info", {})
            with pytest.raises(MCPError, match="not running"):
                await client.list_tools()
        assert result.is_error
        assert f"DevFlow is not running at {url}/mcp: start it with `devflow up`" in text(result)

    def test_without_any_token_it_exits_with_a_clear_error(self, devflow, tmp_path):
        env = {**devflow.env, "DEVFLOW_HOME": str(tmp_path / "empty")}
        env.pop("DEVFLOW_TOKEN", None)
        import subprocess

        done = subprocess.run(
            [sys.executable, "-m", "devflow", "mcp"],
            env=env,
            input="",
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 3
        assert "no token" in done.stderr
        assert done.stdout == ""

    def test_a_mistyped_token_is_refused_at_start_saying_what_is_wrong(self, tmp_path):
        import subprocess

        env = {**os.environ, "DEVFLOW_HOME": str(tmp_path / "empty")}
        done = subprocess.run(
            [sys.executable, "-m", "devflow", "mcp", "--token", "dfl_wrong"],
            env=env,
            input="",
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 3
        assert "is not a DevFlow token: it is 9 characters long" in done.stderr
        assert "`devflow token create agent`" in done.stderr
        assert done.stdout == ""


def config(devflow, client: str, *args: str) -> str:
    """Run `devflow mcp config` in-process (the CLI's start-up costs seconds per subprocess)."""
    from typer.testing import CliRunner

    from devflow.cli.main import app

    done = CliRunner().invoke(
        app, ["mcp", "config", client, *args], env={"DEVFLOW_HOME": str(devflow.home)}
    )
    assert done.exit_code == 0, done.output
    return done.stdout


def stdio_launch(client: str, snippet: str) -> tuple[str, list[str], dict[str, str]]:
    """Return command, args and env from a stdio snippet, read the way the client reads it."""
    if client == "claude-code":
        words = shlex.split(snippet)
        assert words[:5] == ["claude", "mcp", "add", "--transport", "stdio"]
        command, *args = words[words.index("--") + 1 :]
        return command, args, {}
    if client == "codex":
        server = tomllib.loads(snippet)["mcp_servers"]["devflow"]
        return server["command"], server["args"], server.get("env", {})
    if client == "opencode":
        parsed = json.loads(snippet)
        assert parsed["$schema"] == "https://opencode.ai/config.json"
        server = parsed["mcp"]["devflow"]
        assert server["type"] == "local"
        assert server["enabled"] is True
        command, *args = server["command"]
        return command, args, server.get("environment", {})
    server = json.loads(snippet)["mcpServers"]["devflow"]
    return server["command"], server["args"], server.get("env", {})


def http_endpoint(client: str, snippet: str, token: str) -> tuple[str, str]:
    """Return the URL and the Authorization header a client would send, its variable expanded."""
    if client == "claude-code":
        words = shlex.split(snippet)
        assert words[:5] == ["claude", "mcp", "add", "--transport", "http"]
        header = words[words.index("--header") + 1]
        assert header == "Authorization: Bearer $DEVFLOW_TOKEN"  # the shell expands it
        return words[6], f"Bearer {token}"
    if client == "codex":
        server = tomllib.loads(snippet)["mcp_servers"]["devflow"]
        assert server["bearer_token_env_var"] == "DEVFLOW_TOKEN"
        return server["url"], f"Bearer {token}"
    if client == "opencode":
        server = json.loads(snippet)["mcp"]["devflow"]
        assert server["type"] == "remote"
        auth = server["headers"]["Authorization"]
        return server["url"], auth.replace("{env:DEVFLOW_TOKEN}", token)
    server = json.loads(snippet)["mcpServers"]["devflow"]
    auth = server["headers"]["Authorization"]
    return server["url"], auth.replace("${env:DEVFLOW_TOKEN}", token)


class TestClientConfigs:
    @pytest.mark.parametrize("client", CLIENTS)
    async def test_the_stdio_snippet_starts_a_server_that_answers(self, devflow, client):
        command, args, env = stdio_launch(client, config(devflow, client))
        assert command.endswith("devflow")
        assert args == ["mcp"]
        params = StdioServerParameters(
            command=command, args=args, env={"DEVFLOW_HOME": str(devflow.home), **env}
        )
        async with Client(params) as session:
            result = await session.call_tool("project_info", {})
        assert "project: default" in text(result)

    @pytest.mark.parametrize("client", [c for c in CLIENTS if c != "claude-desktop"])
    async def test_the_http_snippet_reaches_the_endpoint(self, devflow, client):
        url, authorization = http_endpoint(client, config(devflow, client, "--http"), devflow.token)
        assert url == f"{devflow.url}/mcp"
        token = authorization.removeprefix("Bearer ")
        async with over_http(url, token) as session:
            result = await session.call_tool("project_info", {})
        assert "you: admin" in text(result)

    async def test_claude_desktops_http_variant_bridges_over_stdio(self, devflow):
        snippet = config(devflow, "claude-desktop", "--http", "--token", devflow.token)
        server = json.loads(snippet)["mcpServers"]["devflow"]
        assert server["args"] == ["mcp", "--url", devflow.url]
        params = StdioServerParameters(
            command=server["command"], args=server["args"], env=server["env"]
        )
        async with Client(params) as session:
            result = await session.call_tool("project_info", {})
        assert "you: admin" in text(result)

    def test_an_unknown_client_is_refused_with_the_choices(self, devflow):
        done = devflow.cli("mcp", "config", "vscode")
        assert done.returncode == 2
        assert "unknown client 'vscode'; choose one of: claude-code, codex" in done.stderr
