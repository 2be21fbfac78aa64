"""Deciding what a run waits for: an approval (by a person, or by its timeout policy) and
the run's result once its check passed."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core import clock
from devflow.core.auth import Principal
from devflow.identity import Project
from devflow.workflows import board
from devflow.workflows.definitions.spec import WorkflowSpec
from devflow.workflows.history import emit_task, move_to, record
from devflow.workflows.models import RunApproval, Task, WorkflowRun
from devflow.workflows.runs import gates


async def apply(
    session: AsyncSession,
    project: Project,
    run: WorkflowRun,
    approval: RunApproval,
    *,
    approve: bool,
    actor: Principal | None,
    comment: str,
) -> None:
    """Decide a pending approval and carry out what follows (the run row is locked)."""
    approval.state = "approved" if approve else "rejected"
    approval.decided_by = actor.user_id if actor else None
    approval.decided_at = clock.now()
    approval.comment = comment or approval.comment
    await session.flush()
    await gates.emit_run(
        session,
        run,
        "run.approval_decided",
        actor,
        {"approval": approval.id, "kind": approval.kind, "decision": approval.state},
    )
    if approval.kind == "result":
        if approve:
            await gates.set_state(session, run, "succeeded", actor)
        else:
            run.outcome = f"result not approved: {comment}" if comment else "result not approved"
            run.result = None
        await gates.settle(session, run, actor)
        return
    task = await session.get_one(Task, approval.task_id, with_for_update=True)
    said = f"{approval.state}: {comment}" if comment else approval.state
    if approval.kind == "review":
        await gates.clear_check(
            session, project, task, passed=approve, actor=actor, note=f"review {said}"
        )
    elif approve:
        task.gate = None
        task.version += 1
        task.updated_at = clock.now()
        record(session, task, actor, "gate", "approval", None, f"phase entry {said}")
        await session.flush()
        await emit_task(session, actor, project, "task.updated", task, {"fields": ["gate"]})
    else:
        await _turn_away(session, project, task, actor, said)
    await gates.settle(session, run, actor)


async def _turn_away(
    session: AsyncSession, project: Project, task: Task, actor: Principal | None, said: str
) -> None:
    """A task refused entry to its phase is closed, labelled `rejected`, with why."""
    cols = await board.columns(session, project=project)
    done = board.first_of(cols, "done")
    task.gate = None
    task.labels = [*task.labels, "rejected"] if "rejected" not in task.labels else task.labels
    await move_to(session, task, actor, done, cols, note=f"phase entry {said}", check_limit=False)
    task.version += 1
    task.updated_at = clock.now()
    await session.flush()
    await emit_task(session, actor, project, "task.updated", task, {"fields": ["column", "gate"]})


async def after_result_check(
    session: AsyncSession,
    run: WorkflowRun,
    spec: WorkflowSpec,
    actor: Principal | None,
    evidence: str | None,
) -> None:
    """The result passed its check (or had none): a gate asks a human, else the run succeeded."""
    if evidence:
        run.result = f"{run.result}\n\n---\n\n{evidence}"
    gate = spec.result.approval
    if gate is not None and gate.required:
        await gates.request_approval(
            session, run, kind="result", gate=gate, actor=actor, note="the result awaits approval"
        )
        return
    await gates.set_state(session, run, "succeeded", actor)


__all__ = ["after_result_check", "apply"]
