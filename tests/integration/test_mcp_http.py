"""Streamable HTTP at /mcp on the real app, served by uvicorn on a socket, with the SDK client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import httpx2
import mcp_types
import pytest
import uvicorn
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from devflow.core.auth import Scope
from devflow.core.db import unit_of_work
from devflow.core.embedded_pg import free_port
from devflow.identity import service
from devflow.settings import load_settings
from devflow.web import create_app
from tests.factories import bootstrap_admin, make_user


@asynccontextmanager
async def serving(db_url: str, **mcp_settings) -> AsyncIterator[str]:
    port = free_port()
    settings = load_settings(database_url=db_url, mcp=mcp_settings, server={"port": port})
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "uvicorn stopped during start-up"
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def base_url(db_url) -> AsyncIterator[str]:
    async with serving(db_url) as url:
        yield url


@pytest.fixture
async def admin_token(sessions) -> str:
    return await bootstrap_admin(sessions)


@asynccontextmanager
async def mcp_client(base_url: str, token: str, **client_options) -> AsyncIterator[Client]:
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http:
        transport = streamable_http_client(f"{base_url}/mcp", http_client=http)
        async with Client(transport, **client_options) as client:
            yield client


def text(result: mcp_types.CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, mcp_types.TextContent)
    return block.text


class TestAuthentication:
    @pytest.mark.parametrize(
        ("header", "challenge"),
        [
            (None, 'Bearer realm="devflow"'),
            ("Basic YWRtaW46eA==", 'error="invalid_token"'),
            ("Bearer nope", 'error="invalid_token"'),
            ("Bearer dfl_" + "z" * 43, 'error_description="unknown token: '),
        ],
    )
    async def test_missing_or_wrong_tokens_get_401_with_a_challenge(
        self, base_url, admin_token, header, challenge
    ):
        headers = {"Accept": "application/json, text/event-stream"}
        if header:
            headers["Authorization"] = header
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
        async with httpx.AsyncClient() as http:
            response = await http.post(f"{base_url}/mcp", json=body, headers=headers)
        assert response.status_code == 401
        assert challenge in response.headers["www-authenticate"]
        error = response.json()["error"]
        assert error["data"]["code"] == "unauthenticated"
        assert error["message"]

    async def test_the_sdk_client_with_a_bad_token_is_told_why(self, base_url, admin_token):
        with pytest.raises(BaseExceptionGroup) as failure:
            async with mcp_client(base_url, "dfl_" + "q" * 43) as client:
                await client.list_tools()
        assert failure.group_contains(MCPError, match="unknown token", depth=None)

    async def test_a_token_revoked_between_calls_is_refused_on_the_next_one(
        self, base_url, sessions, admin_token
    ):
        async with unit_of_work(sessions) as session:
            dora, secret = await make_user(session, "dora")
        async with mcp_client(base_url, secret) as client:
            before = await client.call_tool("job_status", {"job_id": 1})
            async with unit_of_work(sessions) as session:
                admin = await service.authenticate(session, token=admin_token)
                await service.revoke_token(session, principal=admin, token_ref=str(dora.token_id))
            with pytest.raises(MCPError, match="this token was revoked"):
                await client.call_tool("job_status", {"job_id": 1})
        assert "no job 1" in text(before)


class TestTools:
    async def test_lists_and_calls_tools_over_http(self, base_url, admin_token):
        async with mcp_client(base_url, admin_token) as client:
            names = {t.name for t in (await client.list_tools()).tools}
            info = await client.call_tool("project_info", {})
            bad = await client.call_tool("job_status", {"job_id": "x"})
            unknown = await client.call_tool("nope", {})
            again = await client.call_tool("project_info", {})
            sources = await client.call_tool("knowledge_sources", {})
            resources = await client.list_resources()
        assert text(sources) == "No sources. Add one with knowledge_add_source."
        assert resources.resources == []
        assert {"project_info", "job_status", "knowledge_search"} <= names
        assert "you: admin (role owner)" in text(info)
        assert bad.is_error
        assert "valid integer" in text(bad)
        assert unknown.is_error
        assert not again.is_error

    async def test_the_legacy_handshake_works_too(self, base_url, admin_token):
        async with mcp_client(base_url, admin_token, mode="legacy") as client:
            info = await client.call_tool("project_info", {})
        assert "project: default" in text(info)

    async def test_concurrent_sessions_each_act_as_their_own_principal(
        self, base_url, sessions, admin_token
    ):
        async with unit_of_work(sessions) as session:
            _, reader = await make_user(session, "reader", scopes=(Scope.READ,))

        async def ask(token: str) -> list[str]:
            async with mcp_client(base_url, token) as client:
                results = await asyncio.gather(
                    *(client.call_tool("project_info", {}) for _ in range(5))
                )
            return [text(r) for r in results]

        admin_answers, reader_answers = await asyncio.gather(ask(admin_token), ask(reader))
        assert all("you: admin" in a for a in admin_answers)
        assert all("no project 'default'" in a for a in reader_answers)


async def _list_tools_as(
    url: str, token: str, host: str, *, versioned: bool = True
) -> httpx.Response:
    """POST a bare tools/list to `url`/mcp with the given Host header."""
    headers = {
        "Authorization": f"Bearer {token}",
        "Host": host,
        "Accept": "application/json, text/event-stream",
    }
    if versioned:
        headers["MCP-Protocol-Version"] = "2025-11-25"
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    async with httpx.AsyncClient() as http:
        return await http.post(f"{url}/mcp", json=body, headers=headers)


class TestHostCheck:
    async def test_a_foreign_host_header_is_refused_on_a_loopback_bind(self, base_url, admin_token):
        response = await _list_tools_as(base_url, admin_token, "evil.example", versioned=False)
        assert response.status_code == 421

    async def test_local_names_without_a_port_are_accepted(self, base_url, admin_token):
        response = await _list_tools_as(base_url, admin_token, "localhost")
        assert response.status_code == 200

    async def test_allowed_hosts_admits_a_named_host(self, db_url, admin_token):
        async with serving(db_url, allowed_hosts=["devflow.lan:*"]) as url:
            port = url.rsplit(":", 1)[1]
            response = await _list_tools_as(url, admin_token, f"devflow.lan:{port}")
        assert response.status_code == 200
        assert "project_info" in response.text
