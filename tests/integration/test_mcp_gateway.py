"""The MCP gateway in-process, through the SDK's own client: tools, errors, identity, settings."""

from __future__ import annotations

import asyncio
import json
import re

import mcp_types
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from devflow.core import render
from devflow.core.auth import Scope
from devflow.core.db import unit_of_work
from devflow.core.errors import NotFound
from devflow.core.jobs import defer
from devflow.core.tools import Call, Contribution, ResourceDef, ToolDef
from devflow.domains import each, scope_catalog
from devflow.identity import service
from devflow.identity.schemas import ProjectCreate, TokenCreate
from devflow.mcp.identity import TokenIdentity
from devflow.mcp.registry import Runtime
from devflow.mcp.server import build_server
from devflow.settings import load_settings
from tests import jobs_plugin
from tests.factories import bootstrap_admin, make_user, run_jobs, services_on

PLATFORM_TOOLS = {"project_info", "job_status"}


def gateway(sessions, token, extra=(), **mcp_settings):
    settings = load_settings(mcp=mcp_settings) if mcp_settings else load_settings()
    runtime = Runtime(services=services_on(sessions, settings), identity=TokenIdentity(token))
    return build_server(runtime, [*each("tools"), *extra])


def text(result: mcp_types.CallToolResult) -> str:
    assert len(result.content) == 1
    block = result.content[0]
    assert isinstance(block, mcp_types.TextContent)
    return block.text


@pytest.fixture
async def admin_token(sessions) -> str:
    return await bootstrap_admin(sessions)


class TestToolsList:
    async def test_lists_the_platform_tools_with_compact_schemas(self, sessions, admin_token):
        async with Client(gateway(sessions, admin_token)) as client:
            tools = (await client.list_tools()).tools
        assert {t.name for t in tools} >= PLATFORM_TOOLS
        for tool in tools:
            schema = json.dumps(tool.input_schema)
            assert '"title"' not in schema, tool.name
            assert len(tool.description or "") <= 120, tool.name
            assert tool.output_schema is None, "structured output would double every answer"

    async def test_a_deployment_offers_only_the_tools_its_settings_enable(
        self, sessions, admin_token
    ):
        server = gateway(
            sessions, admin_token, tools=["project_*", "job_*"], exclude_tools=["job_*"]
        )
        async with Client(server) as client:
            names = {t.name for t in (await client.list_tools()).tools}
            withheld = await client.call_tool("job_status", {"job_id": 1})
        assert names == {"project_info"}
        assert withheld.is_error
        assert "Unknown tool: job_status" in text(withheld)


class TestProjectInfo:
    async def test_describes_the_caller_and_the_default_project(self, sessions, admin_token):
        async with Client(gateway(sessions, admin_token)) as client:
            result = await client.call_tool("project_info", {})
        assert not result.is_error
        assert "project: default" in text(result)
        assert "you: admin (role owner)" in text(result)

    async def test_a_project_scoped_token_acts_in_its_own_project(self, sessions, admin_token):
        async with unit_of_work(sessions) as session:
            admin = await service.authenticate(session, token=admin_token)
            await service.create_project(session, principal=admin, data=ProjectCreate(name="web"))
            _, secret = await service.create_token(
                session,
                principal=admin,
                data=TokenCreate(name="agent", project="web"),
                catalog=scope_catalog(),
            )
        async with Client(gateway(sessions, secret)) as client:
            own = await client.call_tool("project_info", {})
            other = await client.call_tool("project_info", {"project": "default"})
        assert "project: web" in text(own)
        assert "token limited to this project: yes" in text(own)
        assert other.is_error
        assert "not_found: no project 'default'" in text(other)

    async def test_the_principal_comes_from_the_token_not_from_arguments(
        self, sessions, admin_token
    ):
        async with unit_of_work(sessions) as session:
            _, bob = await make_user(session, "bob", scopes=(Scope.READ,))
        async with Client(gateway(sessions, bob)) as client:
            result = await client.call_tool("project_info", {"username": "admin"})
            default = await client.call_tool("project_info", {})
        # Unknown arguments are ignored; bob is no member of `default`, so it is hidden from him.
        assert result.is_error
        assert "no project 'default'" in text(result)
        assert text(default) == text(result)

    async def test_invalid_arguments_are_a_tool_error_naming_the_field(self, sessions, admin_token):
        async with Client(gateway(sessions, admin_token)) as client:
            result = await client.call_tool("project_info", {"project": "x" * 65})
        assert result.is_error
        assert "project" in text(result)
        assert "at most 64 characters" in text(result)


class TestJobStatus:
    async def test_reports_a_jobs_status_and_progress(self, sessions, admin_token):
        async with unit_of_work(sessions) as session:
            job_id = await defer(session, task="tests:count_to", args={"n": 3})
        async with Client(gateway(sessions, admin_token)) as client:
            result = await client.call_tool("job_status", {"job_id": job_id})
        assert not result.is_error
        assert f"job: {job_id} tests:count_to" in text(result)
        assert "status: todo" in text(result)
        assert "message: queued" in text(result)

    async def test_a_running_phase_is_named_with_its_unit_and_rate(
        self, db_url, sessions, admin_token
    ):
        async with unit_of_work(sessions) as session:
            job_id = await defer(session, task="tests:two_phases", args={"pause": 0.1})
        await run_jobs(db_url, [jobs_plugin.blueprint])
        async with Client(gateway(sessions, admin_token)) as client:
            result = await client.call_tool("job_status", {"job_id": job_id})
        assert "phase: second" in text(result)
        assert re.search(r"progress: 4/4 chunks, [\d.]+/s\n", text(result)), text(result)

    async def test_a_job_of_a_project_the_caller_cannot_see_is_not_found(
        self, sessions, admin_token
    ):
        async with unit_of_work(sessions) as session:
            admin = await service.authenticate(session, token=admin_token)
            web = await service.create_project(
                session, principal=admin, data=ProjectCreate(name="web")
            )
            job_id = await defer(session, task="tests:count_to", args={"n": 1}, project_id=web.id)
            _, carol = await make_user(session, "carol")
        async with Client(gateway(sessions, carol)) as client:
            result = await client.call_tool("job_status", {"job_id": job_id})
        assert result.is_error
        assert f"not_found: no job {job_id}" in text(result)

    @pytest.mark.parametrize(
        ("arguments", "complaint"),
        [
            ({}, "job_id"),
            ({"job_id": "seven"}, "valid integer"),
            ({"job_id": 0}, "greater than or equal to 1"),
            ({"job_id": 987654}, "not_found: no job 987654"),
        ],
    )
    async def test_bad_arguments_get_a_clear_tool_error(
        self, sessions, admin_token, arguments, complaint
    ):
        async with Client(gateway(sessions, admin_token)) as client:
            result = await client.call_tool("job_status", arguments)
        assert result.is_error
        assert complaint in text(result)


def _contribution_with_trouble() -> Contribution:
    async def boom(call: Call) -> str:
        raise RuntimeError("secret internals: postgresql://user:pw@db")

    async def flood(call: Call) -> str:
        return "\n".join(f"line {i} " + "x" * 60 for i in range(5_000))

    return Contribution(tools=[ToolDef("boom", "Fails.", boom), ToolDef("flood", "Floods.", flood)])


class TestFailures:
    async def test_an_unknown_tool_is_an_error_and_the_server_keeps_serving(
        self, sessions, admin_token
    ):
        async with Client(gateway(sessions, admin_token)) as client:
            unknown = await client.call_tool("no_such_tool", {})
            after = await client.call_tool("project_info", {})
        assert unknown.is_error
        assert "Unknown tool: no_such_tool" in text(unknown)
        assert not after.is_error

    async def test_a_tool_that_raises_reports_an_error_without_internals(
        self, sessions, admin_token, caplog
    ):
        server = gateway(sessions, admin_token, extra=[_contribution_with_trouble()])
        async with Client(server) as client:
            crashed = await client.call_tool("boom", {})
            after = await client.call_tool("project_info", {})
        assert crashed.is_error
        assert text(crashed) == "Error executing tool boom"
        assert "secret internals" not in text(crashed)
        assert not after.is_error

    async def test_output_is_cut_at_the_configured_cap(self, sessions, admin_token):
        extra = [_contribution_with_trouble()]
        server = gateway(sessions, admin_token, extra=extra, max_output_chars=2000)
        async with Client(server) as client:
            result = await client.call_tool("flood", {})
        assert len(text(result)) <= 2000
        assert text(result).endswith("page with the cursor]")
        assert text(result).startswith("line 0 ")

    async def test_a_revoked_token_stops_working_on_the_next_call(self, sessions, admin_token):
        async with unit_of_work(sessions) as session:
            admin = await service.authenticate(session, token=admin_token)
            _, agent = await service.create_token(
                session, principal=admin, data=TokenCreate(name="agent2"), catalog=scope_catalog()
            )
        async with Client(gateway(sessions, agent)) as client:
            before = await client.call_tool("project_info", {})
            async with unit_of_work(sessions) as session:
                admin = await service.authenticate(session, token=admin_token)
                await service.revoke_token(session, principal=admin, token_ref="agent2")
            after = await client.call_tool("project_info", {})
        assert not before.is_error
        assert after.is_error
        assert "unauthenticated: this token was revoked" in text(after)

    async def test_concurrent_calls_each_get_their_own_unit_of_work(self, sessions, admin_token):
        async with Client(gateway(sessions, admin_token)) as client:
            results = await asyncio.gather(
                *(client.call_tool("project_info", {}) for _ in range(20))
            )
        assert all(not r.is_error and "project: default" in text(r) for r in results)


def _contribution_with_cli_hints() -> Contribution:
    async def pick(call: Call, which: str) -> str:
        hints = {
            "job": "no job 7; `devflow jobs show 7` says more",
            "project": "no project 'x'; `devflow project show x` says more",
            "token": "this token lacks the 'write' scope; create one with "
            "`devflow token create --scope write`",
        }
        raise NotFound(hints[which])

    return Contribution(tools=[ToolDef("pick", "Raises a message with a CLI hint.", pick)])


class TestErrorsForAgents:
    """Ordinary mistakes read `code: message` and name the tool to call; only a bug reads
    `Error executing tool <name>`."""

    async def test_a_domain_error_is_not_dressed_as_a_bug(self, sessions, admin_token):
        async with Client(gateway(sessions, admin_token)) as client:
            result = await client.call_tool("job_status", {"job_id": 987654})
        assert result.is_error
        assert text(result).startswith("not_found: no job 987654")
        assert "Error executing tool" not in text(result)

    @pytest.mark.parametrize(
        ("arguments", "problem"),
        [
            ({"job_id": "seven"}, "invalid: job_id: Input should be a valid integer"),
            ({"job_id": 0}, "invalid: job_id: Input should be greater than or equal to 1"),
            ({}, "invalid: job_id: Field required"),
        ],
    )
    async def test_arguments_the_schema_refuses_name_the_field_and_the_tool_to_call_again(
        self, sessions, admin_token, arguments, problem
    ):
        async with Client(gateway(sessions, admin_token)) as client:
            result = await client.call_tool("job_status", arguments)
        assert result.is_error
        assert text(result).startswith(problem)
        assert text(result).endswith("Correct the arguments and call job_status again.")
        assert "Error executing tool" not in text(result)
        assert "validation error for" not in text(result)

    async def test_an_unknown_tool_lists_the_tools_there_are(self, sessions, admin_token):
        server = gateway(sessions, admin_token, tools=["project_*", "job_*"])
        async with Client(server) as client:
            result = await client.call_tool("knowledge_sources", {})
        assert result.is_error
        assert text(result) == (
            "Unknown tool: knowledge_sources. This server offers: job_status, project_info."
        )

    async def test_a_missing_source_points_at_the_knowledge_sources_tool(
        self, sessions, admin_token
    ):
        async with Client(gateway(sessions, admin_token)) as client:
            result = await client.call_tool("knowledge_search", {"query": "x", "source": "nope"})
        assert result.is_error
        assert text(result).startswith("not_found: no source named 'nope'")
        assert "`knowledge_sources`" in text(result)
        assert "devflow knowledge" not in text(result)

    async def test_cli_hints_become_the_tools_offered_and_others_stay_for_the_person(
        self, sessions, admin_token
    ):
        extra = [_contribution_with_cli_hints()]
        server = gateway(sessions, admin_token, extra=extra, exclude_tools=["project_info"])
        async with Client(server) as client:
            job = await client.call_tool("pick", {"which": "job"})
            project = await client.call_tool("pick", {"which": "project"})
            token = await client.call_tool("pick", {"which": "token"})
        assert text(job) == "not_found: no job 7; the `job_status` tool says more"
        # project_info is withheld here: the agent is not sent to a tool it cannot call.
        assert text(project) == "not_found: no project 'x'; `devflow project show x` says more"
        assert "`devflow token create --scope write`" in text(token)


def _paged_resources(count: int, prefix: str):
    async def lister(call: Call, offset: int, limit: int) -> list[mcp_types.Resource]:
        return [
            mcp_types.Resource(uri=f"devflow://test/{prefix}/{i}", name=f"{prefix}{i}")
            for i in range(offset, min(count, offset + limit))
        ]

    async def read(call: Call, item: str) -> str:
        if item == "missing":
            from devflow.core.errors import NotFound

            raise NotFound(f"no {prefix} {item}")
        return f"{prefix} {item} read by {call.principal.username}"

    template = f"devflow://test/{prefix}/{{item}}"
    return Contribution(
        resources=[ResourceDef(template, prefix, "Test items.", read)], list_resources=lister
    )


class TestResources:
    async def test_listing_pages_across_domains_with_one_cursor(self, sessions, admin_token):
        extra = [_paged_resources(3, "a"), _paged_resources(4, "b")]
        server = gateway(sessions, admin_token, extra=extra, page_size=5)
        async with Client(server) as client:
            first = await client.list_resources()
            second = await client.list_resources(cursor=first.next_cursor)
        assert [r.name for r in first.resources] == ["a0", "a1", "a2", "b0", "b1"]
        assert first.next_cursor is not None
        assert [r.name for r in second.resources] == ["b2", "b3"]
        assert second.next_cursor is None

    async def test_a_resource_is_read_as_the_caller(self, sessions, admin_token):
        server = gateway(sessions, admin_token, extra=[_paged_resources(1, "a")])
        async with Client(server) as client:
            templates = await client.list_resource_templates()
            read = await client.read_resource("devflow://test/a/7")
            with pytest.raises(MCPError, match="no a missing"):
                await client.read_resource("devflow://test/a/missing")
        assert "devflow://test/a/{item}" in [t.uri_template for t in templates.resource_templates]
        content = read.contents[0]
        assert isinstance(content, mcp_types.TextResourceContents)
        assert content.text == "a 7 read by admin"

    async def test_a_forged_cursor_is_refused(self, sessions, admin_token):
        server = gateway(sessions, admin_token, extra=[_paged_resources(1, "a")])
        async with Client(server) as client:
            with pytest.raises(MCPError, match="invalid cursor"):
                await client.list_resources(cursor="bm9wZQ")


class TestRender:
    def test_cap_keeps_short_text_and_cuts_long_text_at_a_line(self):
        assert render.cap("short", 100) == "short"
        cut = render.cap("\n".join("x" * 50 for _ in range(100)), 1000)
        assert len(cut) <= 1000
        assert cut.split("\n")[-2] == "x" * 50

    def test_cursors_round_trip_and_refuse_garbage(self):
        from devflow.core.errors import Invalid

        assert render.decode_cursor(render.encode_cursor(40)) == 40
        assert render.decode_cursor(None) == 0
        for bad in ("!!!", "bm9wZQ", render.encode_cursor(-1)):
            with pytest.raises(Invalid):
                render.decode_cursor(bad)
