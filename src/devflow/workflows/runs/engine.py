"""The run engine: carries out each `run_step` exactly once.

A step is a row written in the transaction that asks for it (`queue.enqueue`), with a job.
The job takes the step's row lock (`SKIP LOCKED`: a second job for the same step finds it
taken and stops) and keeps that transaction open while it works, so the step's effects and
its `done` mark commit together. A worker killed mid-step (kill -9) loses its transaction
and lock; the worker's stalled-job sweep re-queues the job and the step runs again from the
start. A step that committed is never run again: its row is no longer pending.

Kinds: `start` (a pending run gets its first task), `validate_task` (a phase's command check
of a task's work), `validate_result` (the result's command check), `expire_approval` (an
approval's time ran out: its `on_timeout` decides).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from devflow.core import clock
from devflow.core.config import Settings
from devflow.core.db import unit_of_work
from devflow.identity import Project
from devflow.repos import get_repository, repository_folder
from devflow.workflows.definitions.spec import Approval, Validation, WorkflowSpec
from devflow.workflows.models import RunApproval, RunStep, Task, WorkflowRun
from devflow.workflows.reads import find_task
from devflow.workflows.runs import decisions, gates
from devflow.workflows.runs.checks import Source, Verdict, run_check
from devflow.workflows.runs.place import spec_of
from devflow.workflows.schemas import TaskCreate
from devflow.workflows.service import insert_task
from devflow.workflows.settings import WorkflowsSettings

log = logging.getLogger(__name__)
_TITLE = 200


@dataclass
class Step:
    """What a handler works with: the step's transaction, its row, its run and the settings."""

    session: AsyncSession
    row: RunStep
    run: WorkflowRun
    project: Project
    settings: Settings


async def carry_out(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, step_id: int
) -> bool:
    """Carry out step `step_id` if it is pending and no one else holds it; return whether it
    ran here."""
    async with unit_of_work(sessions) as session:
        row = await session.scalar(
            select(RunStep)
            .where(RunStep.id == step_id, RunStep.state == "pending")
            .with_for_update(skip_locked=True)
        )
        if row is None:
            return False
        run = await session.get_one(WorkflowRun, row.run_id)
        project = await session.get_one(Project, run.project_id)
        row.attempts += 1
        handler = HANDLERS.get(row.kind)
        if handler is None:
            row.state, row.output = "failed", f"unknown step kind {row.kind!r}"
        else:
            await handler(Step(session, row, run, project, settings))
            row.state = "done"
        row.done_at = clock.now()
    return True


async def due_steps(session: AsyncSession, *, late_by: timedelta) -> list[int]:
    """Pending steps more than `late_by` past their time (their job was lost or is stuck)."""
    rows = await session.scalars(
        select(RunStep.id)
        .where(RunStep.state == "pending", RunStep.not_before < clock.now() - late_by)
        .order_by(RunStep.id)
        .limit(500)
    )
    return list(rows)


# -- handlers -------------------------------------------------------------------------------------


async def _lock_run(step: Step) -> WorkflowRun:
    return await step.session.get_one(
        WorkflowRun, step.run.id, with_for_update=True, populate_existing=True
    )


async def _start(step: Step) -> None:
    """A pending run starts: its first task, in the definition's first phase."""
    run = await _lock_run(step)
    if run.state != "pending":
        return  # cancelled before it started
    spec = await spec_of(step.session, run)
    first = spec.first
    goal = run.goal.strip()
    title = f"{first.name}: {goal.splitlines()[0]}"
    body = goal if not first.instructions else f"{goal}\n\n## {first.name}\n\n{first.instructions}"
    await gates.set_state(step.session, run, "running", None)
    task = await insert_task(
        step.session,
        step.project,
        None,
        TaskCreate(
            title=title[: _TITLE - 1] + "…" if len(title) > _TITLE else title,
            body=body[:100_000],
            done_definition=first.done_definition,
            run=run.number,
            phase=first.id,
        ),
    )
    step.row.output = f"task #{task.number} in phase {first.id!r}"


async def _validate_task(step: Step) -> None:
    """A task's work is checked by its phase's command; it moves to done or back."""
    run = step.run
    spec = await spec_of(step.session, run)
    task = await find_task(step.session, step.project, int(step.row.args["task"]))
    phase = spec.phase(task.phase or "")
    if task.gate != "validation" or phase is None:
        step.row.output = "nothing to check: the task is no longer waiting for a check"
        return
    check = phase.validation
    if not _commands_allowed(step):
        await _to_reviewer(step, spec, task, check)
        return
    verdict = await _check(step, check, task)
    task = await find_task(step.session, step.project, task.number, lock=True)
    if task.gate != "validation":
        return
    note = f"check {'passed' if verdict.passed else 'failed'}: `{check.command}`"
    await gates.clear_check(
        step.session,
        step.project,
        task,
        passed=verdict.passed,
        actor=None,
        note=note,
        evidence=verdict.evidence(check.command or ""),
    )
    step.row.output = verdict.output


async def _validate_result(step: Step) -> None:
    """The run's result is checked by the definition's command: it succeeds or fails."""
    spec = await spec_of(step.session, step.run)
    check = spec.result.validation
    if not _commands_allowed(step):
        run = await _lock_run(step)
        note = _reviewer_note(check)
        await gates.request_approval(
            step.session, run, kind="result", gate=Approval(), actor=None, note=note
        )
        return
    verdict = await _check(step, check, None)
    run = await _lock_run(step)
    if run.state != "running" or run.result is None:
        return  # cancelled or paused meanwhile
    step.row.output = verdict.output
    evidence = verdict.evidence(check.command or "")
    if not verdict.passed:
        run.outcome = evidence
        await gates.set_state(step.session, run, "failed", None, reason="result check failed")
        return
    await decisions.after_result_check(step.session, run, spec, None, evidence)


async def _expire_approval(step: Step) -> None:
    """An approval's time ran out: its `on_timeout` decides it."""
    approval = await step.session.get(
        RunApproval, int(step.row.args["approval"]), with_for_update=True
    )
    if approval is None or approval.state != "pending":
        return
    run = await _lock_run(step)
    minutes = (approval.due_at - approval.requested_at) if approval.due_at else None
    waited = f" within {minutes}" if minutes else ""
    await decisions.apply(
        step.session,
        step.project,
        run,
        approval,
        approve=approval.on_timeout == "approve",
        actor=None,
        comment=f"no decision{waited}: {approval.on_timeout}d by its timeout policy",
    )


def _commands_allowed(step: Step) -> bool:
    return step.settings.section(WorkflowsSettings).run_commands


def _reviewer_note(check: Validation) -> str:
    return (
        f"command checks are off on this instance (DEVFLOW_WORKFLOWS__RUN_COMMANDS): a "
        f"reviewer decides instead of `{check.command}`"
    )


async def _to_reviewer(step: Step, spec: WorkflowSpec, task: Task, check: Validation) -> None:
    del spec
    run = await _lock_run(step)
    await gates.request_approval(
        step.session,
        run,
        kind="review",
        gate=Approval(),
        actor=None,
        phase=task.phase,
        task=task,
        note=_reviewer_note(check),
    )


async def _check(step: Step, check: Validation, task: Task | None) -> Verdict:
    run = step.run
    source = await _source(step, task)
    env = {
        "DEVFLOW_PROJECT": step.project.name,
        "DEVFLOW_RUN": str(run.number),
        **({"DEVFLOW_TASK": str(task.number), "DEVFLOW_PHASE": task.phase or ""} if task else {}),
    }
    return await run_check(check.command or "", limit=check.timeout_seconds, source=source, env=env)


async def _source(step: Step, task: Task | None) -> Source | None:
    """The run's repository at the task's last linked branch (or the run's base branch)."""
    run = step.run
    if run.repository is None:
        return None
    repo = await get_repository(step.session, project=step.project.name, name=run.repository)
    if repo is None:
        return None
    branches = [link["ref"] for link in (task.links if task else []) if link["kind"] == "branch"]
    branch = branches[-1] if branches else run.base_branch
    return Source(repository_folder(step.settings, repo), branch)


Handler = Callable[[Step], Awaitable[None]]
HANDLERS: dict[str, Handler] = {
    "start": _start,
    "validate_task": _validate_task,
    "validate_result": _validate_result,
    "expire_approval": _expire_approval,
}

__all__ = ["HANDLERS", "carry_out", "due_steps"]
