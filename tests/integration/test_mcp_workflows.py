"""The workflows tools through the MCP SDK's client: claim, read, update, create, search."""

from __future__ import annotations

import json

import mcp_types
from mcp import Client

from devflow.core.db import unit_of_work
from devflow.domains import each
from devflow.mcp.identity import TokenIdentity
from devflow.mcp.registry import Runtime
from devflow.mcp.server import build_server
from devflow.settings import load_settings
from tests.factories import make_user, services_on

TOOLS = {"task_next", "task_get", "task_update", "task_create", "task_search"}


def gateway(sessions, token):
    runtime = Runtime(
        services=services_on(sessions, load_settings()), identity=TokenIdentity(token)
    )
    return build_server(runtime, list(each("tools")))


def text(result: mcp_types.CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, mcp_types.TextContent)
    return block.text


async def test_the_tools_are_few_and_small(sessions, admin_token):
    async with Client(gateway(sessions, admin_token)) as client:
        tools = [t for t in (await client.list_tools()).tools if t.name in TOOLS]
    assert {t.name for t in tools} == TOOLS
    size = sum(len(json.dumps(t.input_schema)) + len(t.description or "") for t in tools)
    assert size < 4000, size  # about 1,000 tokens for the five


async def test_an_agent_creates_claims_reports_and_finishes_a_task(sessions, admin_token):
    async with Client(gateway(sessions, admin_token)) as client:
        made = await client.call_tool(
            "task_create", {"summary": "Write the changelog", "done_definition": "merged"}
        )
        assert not made.is_error, text(made)
        assert "Created #1" in text(made)
        claimed = await client.call_tool("task_next", {})
        assert "column: In progress (in_progress)" in text(claimed)
        assert "assignee: admin" in text(claimed)
        noted = await client.call_tool("task_update", {"number": 1, "comment": "half way"})
        assert "comments: 1" in text(noted)
        stale = await client.call_tool(
            "task_update", {"number": 1, "version": 1, "column": "In review"}
        )
        assert stale.is_error
        assert text(stale).startswith("conflict: task #1 changed since version 1")
        moved = await client.call_tool(
            "task_update", {"number": 1, "version": 2, "column": "In review"}
        )
        assert "column: In review (review)" in text(moved), text(moved)
        found = await client.call_tool("task_search", {"query": "half way"})
        # Found through its comment, which the hit names.
        assert text(found).startswith("#1 [review] "), text(found)
        assert "comment: half way" in text(found)
        nothing = await client.call_tool("task_next", {})
        assert text(nothing) == "No task is free to claim."


async def test_the_claimant_is_the_token_s_user_not_an_argument(sessions, admin_token):
    async with unit_of_work(sessions) as session:
        _, other = await make_user(session, "outsider")
    async with Client(gateway(sessions, admin_token)) as client:
        await client.call_tool("task_create", {"summary": "private"})
        spoofed = await client.call_tool("task_next", {"assignee": "outsider"})
        # An argument naming someone else is no argument of the tool: the caller claims.
        assert "assignee: admin" in text(spoofed)
    async with Client(gateway(sessions, other)) as client:
        refused = await client.call_tool("task_next", {})
    assert refused.is_error
    assert text(refused).startswith("not_found: no project 'default'")
