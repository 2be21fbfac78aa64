"""Workflow runs through the services and the engine on real PostgreSQL: start, phases and
their gates, checks by command and by reviewer, the result, pause/resume/cancel, caps."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from devflow.core import clock
from devflow.core.auth import Role
from devflow.core.db import unit_of_work
from devflow.core.errors import Conflict, Invalid, NotFound
from devflow.core.events import Event
from devflow.identity import service as identity
from devflow.identity.schemas import ProjectCreate
from devflow.settings import load_settings
from devflow.workflows import TaskCreate, TaskUpdate, claim_next, create_task, get_task, update_task
from devflow.workflows.definitions.service import apply_definition
from devflow.workflows.models import RunStep, Task, TaskComment
from devflow.workflows.runs import engine, service
from devflow.workflows.runs.schemas import Decision, ResultSubmit, RunCreate
from tests.factories import make_user

P = "ship"
LEASE = timedelta(minutes=15)

FLOW = """
name: flow
description: Three phases, one gated, one checked by a command.
parameters:
  - name: severity
    type: choice
    choices: [low, high]
    required: true
phases:
  - id: plan
    name: Plan
    instructions: Write the plan.
    done_definition: A plan exists.
    next: [build]
  - id: build
    name: Build
    max_agents: 1
    approval:
      timeout_minutes: 30
      on_timeout: reject
    validation:
      kind: command
      command: "test \\"$DEVFLOW_PHASE\\" = build && echo checked $DEVFLOW_TASK"
    next: [review]
  - id: review
    name: Review
    validation:
      kind: reviewer
result:
  validation:
    kind: command
    command: "echo result ok"
"""


@pytest.fixture
async def owner(sessions):
    async with unit_of_work(sessions) as session:
        principal, _ = await make_user(session, "rita")
        await identity.create_project(session, principal=principal, data=ProjectCreate(name=P))
        await apply_definition(session, principal, P, FLOW)
    return principal


@pytest.fixture
async def reviewer(sessions, owner):
    async with unit_of_work(sessions) as session:
        _, token = await make_user(session, "vera")
        await identity.set_membership(
            session, principal=owner, project_name=P, username="vera", role=Role.WRITE
        )
        return await identity.authenticate(session, token=token)


@pytest.fixture
def settings(db_url, monkeypatch):
    monkeypatch.setenv("DEVFLOW_WORKFLOWS__RUN_COMMANDS", "true")
    return load_settings(database_url=db_url)


async def drive(sessions, settings) -> int:
    """Carry out every pending step that is due, as the worker's jobs do; return how many."""
    done = 0
    while True:
        async with sessions() as session:
            due = list(
                await session.scalars(
                    select(RunStep.id)
                    .where(RunStep.state == "pending", RunStep.not_before <= clock.now())
                    .order_by(RunStep.id)
                )
            )
        ran = [await engine.carry_out(sessions, settings, step) for step in due]
        if not any(ran):
            return done
        done += sum(ran)


async def start(sessions, principal, **fields):
    data = {"workflow": "flow", "goal": "Ship the thing", "params": {"severity": "high"}}
    async with unit_of_work(sessions) as session:
        return await service.start_run(
            session, principal=principal, project=P, data=RunCreate(**(data | fields))
        )


async def show(sessions, principal, number=1):
    async with unit_of_work(sessions) as session:
        return await service.get_run(session, principal=principal, project=P, number=number)


async def task(sessions, principal, number):
    async with unit_of_work(sessions) as session:
        return await get_task(session, principal=principal, project=P, number=number)


async def claim(sessions, principal):
    async with unit_of_work(sessions) as session:
        return await claim_next(session, principal=principal, project=P, lease=LEASE)


async def move(sessions, principal, number, column):
    current = await task(sessions, principal, number)
    async with unit_of_work(sessions) as session:
        return await update_task(
            session,
            principal=principal,
            project=P,
            number=number,
            data=TaskUpdate(version=current.version, column=column),
            lease=LEASE,
        )


async def new_task(sessions, principal, title, **fields):
    async with unit_of_work(sessions) as session:
        return await create_task(
            session, principal=principal, project=P, data=TaskCreate(title=title, **fields)
        )


async def decide(sessions, principal, approval, decision, comment=""):
    async with unit_of_work(sessions) as session:
        return await service.decide(
            session,
            principal=principal,
            project=P,
            number=1,
            approval_id=approval,
            data=Decision(decision=decision, comment=comment),
        )


async def event_types(sessions):
    async with sessions() as session:
        return list(await session.scalars(select(Event.type).order_by(Event.id)))


class TestStarting:
    async def test_a_run_is_pending_until_the_engine_gives_it_its_first_task(
        self, sessions, owner, settings
    ):
        run = await start(sessions, owner)
        assert (run.number, run.state, run.workflow, run.workflow_version) == (
            1,
            "pending",
            "flow",
            1,
        )
        assert run.params == {"severity": "high"}
        assert await drive(sessions, settings) == 1
        run = await show(sessions, owner)
        assert run.state == "running"
        assert run.phases[0].tasks == {"open": 1}
        first = await task(sessions, owner, 1)
        assert (first.run, first.phase, first.gate) == (1, "plan", None)
        assert first.title == "Plan: Ship the thing"
        assert "Write the plan." in first.body
        assert first.done_definition == "A plan exists."
        assert {"run.created", "run.running"} <= set(await event_types(sessions))

    async def test_the_step_is_carried_out_once_however_often_its_job_runs(
        self, sessions, owner, settings
    ):
        await start(sessions, owner)
        async with sessions() as session:
            step = await session.scalar(select(RunStep.id))
        assert await engine.carry_out(sessions, settings, step)
        assert not await engine.carry_out(sessions, settings, step)
        async with sessions() as session:
            assert await session.scalar(select(func.count()).select_from(Task)) == 1
        run = await show(sessions, owner)
        assert run.phases[0].tasks == {"open": 1}

    @pytest.mark.parametrize(
        ("params", "said"),
        [
            ({}, "parameter 'severity' is required"),
            ({"severity": "medium"}, "one of low, high"),
            ({"severity": 3}, "is a choice, not int"),
            ({"severity": "low", "colour": "red"}, "unknown parameter 'colour'"),
        ],
    )
    async def test_wrong_parameters_are_refused_naming_them(self, sessions, owner, params, said):
        with pytest.raises(Invalid, match=said):
            await start(sessions, owner, params=params)
        async with sessions() as session:
            assert await session.scalar(select(func.count()).select_from(RunStep)) == 0

    async def test_an_unknown_workflow_version_or_repository_is_not_found(self, sessions, owner):
        with pytest.raises(NotFound, match="no-such"):
            await start(sessions, owner, workflow="no-such")
        with pytest.raises(NotFound, match="no version 7"):
            await start(sessions, owner, version=7)
        with pytest.raises(NotFound, match="no repository 'nope'"):
            await start(sessions, owner, repository="nope")

    async def test_a_built_in_workflow_runs_without_being_applied(self, sessions, owner, settings):
        async with unit_of_work(sessions) as session:
            from devflow.workflows.definitions.builtins import builtins

            name, (_, spec) = next(iter(builtins().items()))
            params = {
                p.name: (p.choices[0] if p.choices else "x")
                for p in spec.parameters
                if p.required and p.type in ("string", "text", "choice")
            }
            run = await service.start_run(
                session,
                principal=owner,
                project=P,
                data=RunCreate(workflow=name, goal="Try it", params=params),
            )
        assert (run.workflow, run.workflow_version) == (name, 1)
        await drive(sessions, settings)
        assert (await show(sessions, owner, run.number)).state in ("running", "awaiting_approval")

    async def test_a_run_keeps_the_definition_version_it_started_with(
        self, sessions, owner, settings
    ):
        await start(sessions, owner)
        async with unit_of_work(sessions) as session:
            changed = (
                FLOW.replace("name: Plan\n", "name: Plan it\n")
                .replace("- id: review", "- id: verify")
                .replace("next: [review]", "next: [verify]")
            )
            applied = await apply_definition(session, owner, P, changed)
        assert applied.version == 2
        await drive(sessions, settings)
        run = await show(sessions, owner)
        assert run.workflow_version == 1
        assert [p.id for p in run.phases] == ["plan", "build", "review"]
        assert (await task(sessions, owner, 1)).title.startswith("Plan: ")


class TestPhases:
    async def _running(self, sessions, owner, settings):
        await start(sessions, owner)
        await drive(sessions, settings)

    async def test_a_task_entering_a_gated_phase_waits_and_the_run_awaits_approval(
        self, sessions, owner, reviewer, settings
    ):
        await self._running(sessions, owner, settings)
        built = await new_task(sessions, owner, "Build it", run=1, phase="build")
        assert built.gate == "approval"
        run = await show(sessions, owner)
        assert run.state == "awaiting_approval"
        (approval,) = [a for a in run.approvals if a.state == "pending"]
        assert (approval.kind, approval.phase, approval.task) == ("phase", "build", built.number)
        assert approval.due_at is not None
        # Claiming passes over it (the plan task comes first by number anyway: claim both).
        assert (await claim(sessions, owner)).number == 1
        assert await claim(sessions, owner) is None
        with pytest.raises(Conflict, match="waits for approval"):
            await move(sessions, owner, built.number, "In progress")
        run = await decide(sessions, reviewer, approval.id, "approve", "go")
        assert run.state == "running"
        assert (await task(sessions, owner, built.number)).gate is None
        assert (await claim(sessions, owner)).number == built.number

    async def test_a_rejected_entry_closes_the_task_labelled_rejected(
        self, sessions, owner, reviewer, settings
    ):
        await self._running(sessions, owner, settings)
        built = await new_task(sessions, owner, "Build it", run=1, phase="build")
        approval = (await show(sessions, owner)).approvals[0]
        run = await decide(sessions, reviewer, approval.id, "reject", "not yet")
        assert run.state == "running"
        closed = await task(sessions, owner, built.number)
        assert (closed.state, closed.gate, "rejected" in closed.labels) == ("done", None, True)
        with pytest.raises(Conflict, match="rejected already"):
            await decide(sessions, reviewer, approval.id, "approve")

    async def test_an_approval_that_times_out_follows_its_policy(
        self, sessions, owner, settings, monkeypatch
    ):
        await self._running(sessions, owner, settings)
        built = await new_task(sessions, owner, "Build it", run=1, phase="build")
        assert await drive(sessions, settings) == 0  # not due yet
        later = clock.now() + timedelta(minutes=31)
        monkeypatch.setattr(clock, "now", lambda: later)
        assert await drive(sessions, settings) == 1
        run = await show(sessions, owner)
        assert run.state == "running"
        assert run.approvals[0].state == "rejected"
        assert "no decision" in (run.approvals[0].comment or "")
        assert (await task(sessions, owner, built.number)).state == "done"

    async def test_a_phase_change_must_follow_next(self, sessions, owner, settings):
        await self._running(sessions, owner, settings)
        current = await task(sessions, owner, 1)
        async with unit_of_work(sessions) as session:
            with pytest.raises(Conflict, match="leads to build, not 'review'"):
                await update_task(
                    session,
                    principal=owner,
                    project=P,
                    number=1,
                    data=TaskUpdate(version=current.version, phase="review"),
                    lease=LEASE,
                )
        with pytest.raises(Invalid, match="no phase 'ship'"):
            await new_task(sessions, owner, "x", run=1, phase="ship")
        with pytest.raises(NotFound, match="no run 9"):
            await new_task(sessions, owner, "x", run=9)

    async def test_a_command_check_moves_the_task_to_done_with_its_output(
        self, sessions, owner, reviewer, settings
    ):
        await self._running(sessions, owner, settings)
        built = await new_task(sessions, owner, "Build it", run=1, phase="build")
        await decide(sessions, reviewer, (await show(sessions, owner)).approvals[0].id, "approve")
        await move(sessions, owner, built.number, "In progress")
        held = await move(sessions, owner, built.number, "Done")
        assert (held.state, held.gate) == ("review", "validation")
        assert await drive(sessions, settings) == 1
        checked = await task(sessions, owner, built.number)
        assert (checked.state, checked.gate) == ("done", None)
        async with sessions() as session:
            (comment,) = await session.scalars(select(TaskComment.body))
        assert comment.startswith("Check passed:")
        assert f"checked {built.number}" in comment  # the command saw its task and phase
        assert "task.checked" in await event_types(sessions)

    async def test_a_failing_command_sends_the_task_back_to_in_progress(
        self, sessions, owner, reviewer, settings
    ):
        await self._running(sessions, owner, settings)
        async with unit_of_work(sessions) as session:
            failing = FLOW.replace("echo checked $DEVFLOW_TASK", "echo broken; exit 3")
            await apply_definition(session, owner, P, failing)
        await start(sessions, owner)
        await drive(sessions, settings)
        built = await new_task(sessions, owner, "Build it", run=2, phase="build")
        run2 = await _show(sessions, owner, 2)
        approval = next(a for a in run2.approvals if a.state == "pending")
        async with unit_of_work(sessions) as session:
            await service.decide(
                session,
                principal=reviewer,
                project=P,
                number=2,
                approval_id=approval.id,
                data=Decision(decision="approve"),
            )
        await move(sessions, owner, built.number, "In progress")
        await move(sessions, owner, built.number, "Done")
        await drive(sessions, settings)
        back = await task(sessions, owner, built.number)
        assert (back.state, back.gate) == ("in_progress", None)
        assert back.comment_count == 1

    async def test_a_reviewer_check_needs_someone_else(self, sessions, owner, reviewer, settings):
        await self._running(sessions, owner, settings)
        done = await new_task(sessions, owner, "Review it", run=1, phase="review", assignee="rita")
        await move(sessions, owner, done.number, "In progress")
        held = await move(sessions, owner, done.number, "Done")
        assert held.gate == "validation"
        approval = next(a for a in (await show(sessions, owner)).approvals if a.kind == "review")
        with pytest.raises(Conflict, match="someone else reviews it"):
            await decide(sessions, owner, approval.id, "approve")
        await decide(sessions, reviewer, approval.id, "approve", "looks right")
        assert (await task(sessions, owner, done.number)).state == "done"

    async def test_a_phase_cap_limits_its_tasks_in_progress(
        self, sessions, owner, reviewer, settings
    ):
        await self._running(sessions, owner, settings)
        made = [await new_task(sessions, owner, f"b{i}", run=1, phase="build") for i in range(2)]
        for approval in (await show(sessions, owner)).approvals:
            await decide(sessions, reviewer, approval.id, "approve")
        await move(sessions, owner, 1, "Done")  # the plan task out of the way
        first = await claim(sessions, owner)
        assert first.number == made[0].number
        assert await claim(sessions, reviewer) is None  # build allows one in progress
        await move(sessions, owner, first.number, "Backlog")
        assert (await claim(sessions, reviewer)).number in {t.number for t in made}


async def _show(sessions, principal, number):
    return await show(sessions, principal, number)


class TestLifecycle:
    async def test_pause_holds_its_tasks_and_resume_goes_back(self, sessions, owner, settings):
        await start(sessions, owner)
        await drive(sessions, settings)
        async with unit_of_work(sessions) as session:
            paused = await service.pause_run(session, principal=owner, project=P, number=1)
        assert paused.state == "paused"
        assert await claim(sessions, owner) is None
        async with unit_of_work(sessions) as session:
            with pytest.raises(Conflict, match="is paused: it cannot pause"):
                await service.pause_run(session, principal=owner, project=P, number=1)
        async with unit_of_work(sessions) as session:
            resumed = await service.resume_run(session, principal=owner, project=P, number=1)
        assert resumed.state == "running"
        assert (await claim(sessions, owner)).number == 1

    async def test_cancel_drops_what_waits_and_ends_the_run(self, sessions, owner, settings):
        await start(sessions, owner)
        await drive(sessions, settings)
        await new_task(sessions, owner, "Build it", run=1, phase="build")
        async with unit_of_work(sessions) as session:
            run = await service.cancel_run(session, principal=owner, project=P, number=1)
        assert run.state == "cancelled"
        assert run.finished_at is not None
        assert [a.state for a in run.approvals] == ["cancelled"]
        assert await drive(sessions, settings) == 0
        assert await claim(sessions, owner) is None
        with pytest.raises(Conflict, match="takes no new tasks"):
            await new_task(sessions, owner, "more", run=1)

    async def test_a_result_that_passes_its_check_succeeds_the_run(self, sessions, owner, settings):
        await start(sessions, owner)
        await drive(sessions, settings)
        async with unit_of_work(sessions) as session:
            run = await service.submit_result(
                session,
                principal=owner,
                project=P,
                number=1,
                data=ResultSubmit(summary="Shipped: see #1"),
            )
        assert run.state == "running"
        assert await drive(sessions, settings) == 1
        run = await show(sessions, owner)
        assert run.state == "succeeded"
        assert run.finished_at is not None
        assert run.result.startswith("Shipped: see #1")
        assert "result ok" in run.result
        assert "run.succeeded" in await event_types(sessions)

    async def test_a_result_that_fails_its_check_fails_the_run(self, sessions, owner, settings):
        async with unit_of_work(sessions) as session:
            await apply_definition(session, owner, P, FLOW.replace("echo result ok", "exit 1"))
        await start(sessions, owner)
        await drive(sessions, settings)
        async with unit_of_work(sessions) as session:
            await service.submit_result(
                session, principal=owner, project=P, number=1, data=ResultSubmit(summary="done")
            )
        await drive(sessions, settings)
        run = await show(sessions, owner)
        assert run.state == "failed"
        assert "exited with 1" in run.outcome

    async def test_without_command_checks_a_reviewer_decides(
        self, sessions, owner, reviewer, db_url
    ):
        settings = load_settings(database_url=db_url)  # commands off: the default
        await start(sessions, owner)
        await drive(sessions, settings)
        async with unit_of_work(sessions) as session:
            await service.submit_result(
                session, principal=owner, project=P, number=1, data=ResultSubmit(summary="done")
            )
        await drive(sessions, settings)
        run = await show(sessions, owner)
        assert run.state == "awaiting_approval"
        approval = run.approvals[-1]
        assert approval.kind == "result"
        assert "RUN_COMMANDS" in approval.comment
        run = await decide(sessions, reviewer, approval.id, "approve")
        assert run.state == "succeeded"

    async def test_readers_see_runs_but_cannot_change_them(self, sessions, owner, settings):
        async with unit_of_work(sessions) as session:
            _, token = await make_user(session, "rob")
            await identity.set_membership(
                session, principal=owner, project_name=P, username="rob", role=Role.READ
            )
            reader = await identity.authenticate(session, token=token)
        await start(sessions, owner)
        assert (await show(sessions, reader)).number == 1
        from devflow.core.errors import PermissionDenied

        with pytest.raises(PermissionDenied):
            await start(sessions, reader)
        async with unit_of_work(sessions) as session:
            with pytest.raises(PermissionDenied):
                await service.pause_run(session, principal=reader, project=P, number=1)
