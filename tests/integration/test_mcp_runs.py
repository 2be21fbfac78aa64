"""The run tools through the MCP SDK's client: what an agent reads of its run and phase, and
the result it submits; `task_create` puts a task in a run's phase."""

from __future__ import annotations

import json

from mcp import Client

from devflow.core.db import unit_of_work
from devflow.identity import service as identity
from devflow.workflows.runs import service
from devflow.workflows.runs.schemas import RunCreate
from tests.factories import make_user
from tests.integration.test_mcp_workflows import gateway, text
from tests.integration.test_workflow_runs_cli import drive

RUN_TOOLS = {"run_info", "run_result"}


async def start_bug_fix(sessions, db_url, token: str) -> None:
    """Run 1 of project default: bug-fix, started by the engine (task #1 in `reproduce`)."""
    async with unit_of_work(sessions) as session:
        principal = await identity.authenticate(session, token=token)
        data = RunCreate(
            workflow="bug-fix",
            goal="Saving a draft crashes",
            params={"report": "Save -> 500", "repository": "app"},
        )
        await service.start_run(session, principal=principal, project=None, data=data)
    await drive(sessions, db_url)


async def test_the_run_tools_are_few_and_small(sessions, admin_token):
    async with Client(gateway(sessions, admin_token)) as client:
        tools = [t for t in (await client.list_tools()).tools if t.name in RUN_TOOLS]
    assert {t.name for t in tools} == RUN_TOOLS
    size = sum(len(json.dumps(t.input_schema)) + len(t.description or "") for t in tools)
    assert size < 1000, size  # about 210 tokens for the two (cl100k, as tools/list sends them)


async def test_an_agent_reads_its_phase_and_submits_the_result(sessions, db_url, admin_token):
    await start_bug_fix(sessions, db_url, admin_token)
    async with Client(gateway(sessions, admin_token)) as client:
        claimed = await client.call_tool("task_next", {})
        assert "run: 1, phase reproduce" in text(claimed), text(claimed)
        info = text(await client.call_tool("run_info", {"task": 1}))
        assert "phase: reproduce (Reproduce)" in info
        assert "instructions: Read the report" in info
        assert "done when: A committed test fails" in info
        assert "leads to: fix (Fix)" in info
        assert "run: 1 (bug-fix v1, running)" in info
        assert "Goal:\nSaving a draft crashes" in info

        made = await client.call_tool(
            "task_create", {"summary": "Fix the save", "run": 1, "phase": "fix"}
        )
        assert "run: 1, phase fix" in text(made), text(made)
        fix = text(await client.call_tool("run_info", {"task": 2}))
        assert "forbidden commands: git push --force" in fix
        assert "checked by: `make test`" in fix

        gated = await client.call_tool(
            "task_create", {"summary": "Review it", "run": 1, "phase": "review"}
        )
        assert "held: until approved" in text(gated), text(gated)
        waiting = text(await client.call_tool("run_info", {"run": 1}))
        assert "waiting for a person: approval 1: phase review task #3" in waiting
        assert "reproduce: in_progress 1" in waiting
        assert "result: none yet (run_result when the goal is met)" in waiting

        refused = await client.call_tool("run_result", {"run": 1, "summary": "fixed"})
        assert refused.is_error  # a person has yet to decide: the run awaits approval
        assert "run 1 is awaiting_approval" in text(refused), text(refused)


async def test_a_result_is_submitted_once_the_run_is_running(sessions, db_url, admin_token):
    await start_bug_fix(sessions, db_url, admin_token)
    async with Client(gateway(sessions, admin_token)) as client:
        done = await client.call_tool(
            "run_result", {"run": 1, "summary": "Fixed in abc123; `make test` passes."}
        )
        assert not done.is_error, text(done)
        assert text(done) == (
            "Result of run 1 submitted; the run is running. "
            "its check runs now; run_info tells the outcome"
        )
        shown = text(await client.call_tool("run_info", {"run": 1}))
    assert "result: submitted" in shown


async def test_mistakes_name_the_fix(sessions, db_url, admin_token):
    await start_bug_fix(sessions, db_url, admin_token)
    async with Client(gateway(sessions, admin_token)) as client:
        await client.call_tool("task_create", {"summary": "Loose"})
        cases = [
            ({}, "invalid: give task (a task of a run) or run (a run's number)"),
            ({"task": 2}, "invalid: task #2 is not part of a run"),
            ({"run": 9}, "not_found: no run 9 in project 'default'"),
            ({"task": 99}, "not_found: no task #99"),
        ]
        for args, said in cases:
            got = await client.call_tool("run_info", args)
            assert got.is_error, args
            assert text(got).startswith(said), text(got)
        bad_phase = await client.call_tool(
            "task_create", {"summary": "x", "run": 1, "phase": "deploy"}
        )
        assert bad_phase.is_error
        assert "has no phase 'deploy'; its phases are reproduce, fix, review" in text(bad_phase)


async def test_a_stranger_sees_no_run(sessions, db_url, admin_token):
    await start_bug_fix(sessions, db_url, admin_token)
    async with unit_of_work(sessions) as session:
        _, stranger = await make_user(session, "outsider")
    async with Client(gateway(sessions, stranger)) as client:
        info = await client.call_tool("run_info", {"run": 1})
        result = await client.call_tool("run_result", {"run": 1, "summary": "mine now"})
    assert text(info).startswith("not_found: no project 'default'"), text(info)
    assert text(result).startswith("not_found: no project 'default'"), text(result)
