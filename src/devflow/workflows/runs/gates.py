"""What holds a run's work until it clears: a phase's approval gate, the check of a task's
work (a command or a reviewer), the check of the run's result; and the run's state that
follows from them (`awaiting_approval` while some approval waits).

These functions act inside the caller's transaction. People and agents reach them through the
task service (creating a task in a gated phase, moving one to done) and the run service
(deciding an approval, submitting a result); the engine reaches them as no one (a timeout, a
command's verdict), with `actor=None`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core import clock, events
from devflow.core.auth import Principal
from devflow.core.errors import Conflict
from devflow.identity import Project
from devflow.workflows import board
from devflow.workflows.definitions.spec import Approval, Phase, Validation
from devflow.workflows.history import emit_task, move_to
from devflow.workflows.models import RunApproval, Task, TaskComment, WorkflowRun
from devflow.workflows.runs.queue import enqueue

WAITING = ("running", "awaiting_approval")
"""The states in which a run's work goes on (its tasks can be claimed)."""


async def emit_run(
    session: AsyncSession,
    run: WorkflowRun,
    kind: str,
    actor: Principal | None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Record a `run.*` event (in the caller's transaction)."""
    await events.emit(
        session,
        type=kind,
        project_id=run.project_id,
        actor_id=actor.user_id if actor else None,
        payload={"run": run.number, "state": run.state, "version": run.version, **(extra or {})},
    )


async def set_state(
    session: AsyncSession, run: WorkflowRun, state: str, actor: Principal | None, **extra: Any
) -> None:
    """Move the run to `state`, with an event `run.<state>` (nothing when it is there already)."""
    if run.state == state:
        return
    previous = run.state
    run.state = state
    run.version += 1
    run.updated_at = clock.now()
    if state in ("succeeded", "failed", "cancelled"):
        run.finished_at = run.updated_at
    await session.flush()
    await emit_run(session, run, f"run.{state}", actor, {"previous": previous, **extra})


async def settle(session: AsyncSession, run: WorkflowRun, actor: Principal | None) -> None:
    """Keep `running` and `awaiting_approval` true to the approvals that wait."""
    if run.state not in WAITING:
        return
    waiting = await session.scalar(
        select(exists().where(RunApproval.run_id == run.id, RunApproval.state == "pending"))
    )
    await set_state(session, run, "awaiting_approval" if waiting else "running", actor)


async def request_approval(
    session: AsyncSession,
    run: WorkflowRun,
    *,
    kind: str,
    gate: Approval,
    actor: Principal | None,
    phase: str | None = None,
    task: Task | None = None,
    note: str | None = None,
) -> RunApproval:
    """Ask for a human decision; with a timeout, the engine applies `on_timeout` when it ends."""
    now = clock.now()
    due = now + timedelta(minutes=gate.timeout_minutes) if gate.timeout_minutes else None
    approval = RunApproval(
        run_id=run.id,
        task_id=task.id if task else None,
        kind=kind,
        phase=phase,
        state="pending",
        requested_at=now,
        due_at=due,
        on_timeout=gate.on_timeout,
        comment=note,
    )
    session.add(approval)
    await session.flush()
    if due is not None:
        await enqueue(session, run, "expire_approval", {"approval": approval.id}, at=due)
    await emit_run(
        session,
        run,
        "run.approval_requested",
        actor,
        {"approval": approval.id, "kind": kind, "phase": phase, "task": task and task.number},
    )
    await settle(session, run, actor)
    return approval


async def enter_phase(
    session: AsyncSession,
    run: WorkflowRun,
    phase: Phase,
    task: Task,
    actor: Principal | None,
) -> None:
    """Put `task` in `phase` of its run; a gated phase holds it until someone approves."""
    task.run_id = run.id
    task.phase = phase.id
    task.phase_cap = phase.max_agents
    if phase.approval is not None and phase.approval.required:
        task.gate = "approval"
        await session.flush()
        await request_approval(
            session, run, kind="phase", gate=phase.approval, actor=actor, phase=phase.id, task=task
        )


def refuse_if_gated(task: Task) -> None:
    """Refuse to move a task a gate holds (a decision or the engine moves it).

    Raises:
        Conflict: naming the gate and how to clear it.
    """
    if task.gate == "approval":
        raise Conflict(
            f"task #{task.number} waits for approval to enter phase {task.phase!r}; a project "
            "member decides it (`devflow run approve`), then it can move",
            details={"number": task.number, "gate": task.gate},
        )
    if task.gate == "validation":
        raise Conflict(
            f"task #{task.number}'s work is being checked; it moves to done when the check "
            "passes and back to in progress when it fails",
            details={"number": task.number, "gate": task.gate},
        )


async def check_before_done(
    session: AsyncSession,
    project: Project,
    run: WorkflowRun,
    phase: Phase,
    task: Task,
    actor: Principal | None,
) -> bool:
    """A task of `phase` asks to be done: start its phase's check. Return whether a check
    holds it (it then waits in review instead of done)."""
    check = phase.validation
    if check.kind == "none":
        return False
    cols = await board.columns(session, project=project)
    review = next((c for c in cols if c.state == "review"), None)
    if review is not None and review.id != task.column_id:
        await move_to(session, task, actor, review, cols, note=f"checking: {_said(check)}")
    task.gate = "validation"
    await session.flush()
    if check.kind == "command":
        await enqueue(session, run, "validate_task", {"task": task.number})
    else:
        await request_approval(
            session,
            run,
            kind="review",
            gate=Approval(),
            actor=actor,
            phase=phase.id,
            task=task,
            note="a reviewer checks the work against the phase's done definition",
        )
    await emit_task(session, actor, project, "task.check_requested", task, {"check": check.kind})
    return True


def _said(check: Validation) -> str:
    return f"`{check.command}`" if check.kind == "command" else "a reviewer"


async def clear_check(
    session: AsyncSession,
    project: Project,
    task: Task,
    *,
    passed: bool,
    actor: Principal | None,
    note: str,
    evidence: str | None = None,
) -> None:
    """End a task's check: to done when it passed, back to in progress when not."""
    cols = await board.columns(session, project=project)
    target = board.first_of(cols, "done" if passed else "in_progress")
    task.gate = None
    if target.id != task.column_id:
        await move_to(session, task, actor, target, cols, note=note, check_limit=False)
    if evidence:
        session.add(TaskComment(task_id=task.id, author_id=None, body=evidence))
    task.version += 1
    task.updated_at = clock.now()
    await session.flush()
    await emit_task(session, actor, project, "task.checked", task, {"passed": passed})


async def tasks_by_phase(session: AsyncSession, run: WorkflowRun) -> dict[str, dict[str, int]]:
    """How many of the run's tasks each phase has in each state."""
    rows = await session.execute(
        select(Task.phase, Task.state, func.count())
        .where(Task.run_id == run.id)
        .group_by(Task.phase, Task.state)
    )
    counts: dict[str, dict[str, int]] = {}
    for phase, state, count in rows:
        counts.setdefault(phase or "", {})[state] = count
    return counts


__all__ = [
    "WAITING",
    "check_before_done",
    "clear_check",
    "emit_run",
    "enter_phase",
    "refuse_if_gated",
    "request_approval",
    "set_state",
    "settle",
    "tasks_by_phase",
]
