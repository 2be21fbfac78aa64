"""A task's history and its moves: the primitives every change of a task goes through (the
service for people and agents, claims, and the run engine, which acts as no one)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core import clock, events
from devflow.core.auth import Principal
from devflow.identity import Project
from devflow.workflows import board
from devflow.workflows.models import BoardColumn, Task, TaskChange


def record(
    session: AsyncSession,
    task: Task,
    actor: Principal | None,
    field: str,
    old: Any,
    new: Any,
    note: str | None = None,
) -> None:
    """Add one change to the task's history (in the caller's transaction)."""
    session.add(
        TaskChange(
            task_id=task.id,
            actor_id=actor.user_id if actor else None,
            at=clock.now(),
            field=field,
            old=old,
            new=new,
            note=note,
        )
    )


async def emit_task(
    session: AsyncSession,
    principal: Principal | None,
    project: Project,
    kind: str,
    task: Task,
    extra: dict[str, Any] | None = None,
) -> None:
    """Record a `task.*` event for the task (in the caller's transaction)."""
    await events.emit(
        session,
        type=kind,
        project_id=project.id,
        actor_id=principal.user_id if principal else None,
        payload={"number": task.number, "version": task.version, **(extra or {})},
    )


async def move_to(
    session: AsyncSession,
    task: Task,
    principal: Principal | None,
    column: BoardColumn,
    cols: list[BoardColumn],
    *,
    before: Task | None = None,
    after: Task | None = None,
    note: str | None = None,
    check_limit: bool = True,
) -> None:
    """Put `task` into `column` (checking its WIP limit when it comes from elsewhere), keeping
    its state, closing time and lease in step with the column's state. `check_limit=False`
    is for the engine's verdicts, which return a task to a column it was counted in before."""
    old = next(c for c in cols if c.id == task.column_id)
    if column.id != old.id and check_limit:
        await board.check_wip(session, column=column)
    task.rank = await board.place(session, column=column, before=before, after=after)
    if column.id == old.id:
        return
    task.column_id = column.id
    task.state = column.state
    if column.state == "done" and task.closed_at is None:
        task.closed_at = clock.now()
    elif column.state != "done":
        task.closed_at = None
    if column.state != "in_progress":
        task.lease_expires_at = None
    record(session, task, principal, "column", old.name, column.name, note)


__all__ = ["emit_task", "move_to", "record"]
