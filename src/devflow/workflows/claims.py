"""Claiming work: `claim_next` hands each open, unblocked task to exactly one claimant.

The queue is a `SELECT … FOR UPDATE SKIP LOCKED` over the project's open tasks (highest
priority first, then oldest): two claimants at once lock different rows, and a row another
claimant changed in the meantime is checked again against the queue's conditions before it is
taken (PostgreSQL re-reads it under READ COMMITTED). A claim assigns the task to the caller,
moves it to the board's first in-progress column (under that column's WIP limit, whose row
lock serialises claims only when a limit is set) and gives it a lease. Any update of the task
by its claimant renews the lease; once a lease runs out, the task goes back to the queue: at
the next claim in its project, and every minute by the `workflows:release_expired_leases` job.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core import clock, events
from devflow.core.auth import Principal, Role
from devflow.identity import Project, User
from devflow.workflows import board, reads, service
from devflow.workflows.access import project_for
from devflow.workflows.models import Task
from devflow.workflows.schemas import TaskDetail

_RELEASE_BATCH = 500


async def claim_next(
    session: AsyncSession, *, principal: Principal, project: str | None, lease: timedelta
) -> TaskDetail | None:
    """Claim the caller's next task: the highest-priority open task that nothing open blocks,
    free or assigned to the caller already, not an epic. None when there is none.

    Raises:
        NotFound: the project is not the caller's to see.
        PermissionDenied: the caller lacks the write role (or the token the write scope).
        Conflict: the in-progress column is at its WIP limit (naming it), or the board has
            no in-progress column.
    """
    found = await project_for(session, principal=principal, project=project, role=Role.WRITE)
    now = clock.now()
    await release_expired(session, now=now, project_id=found.id)
    cols = await board.columns(session, project=found)
    target = board.first_of(cols, "in_progress")
    await board.check_wip(session, column=target)
    task = await session.scalar(
        select(Task)
        .where(reads.queue_filter(principal.user_id, found.id))
        .order_by(Task.priority.desc(), Task.number)
        .limit(1)
        .with_for_update(skip_locked=True, of=Task)
        .execution_options(populate_existing=True)
    )
    if task is None:
        return None
    if task.assignee_id != principal.user_id:
        service.record(session, task, principal, "assignee", None, principal.username, "claimed")
    task.assignee_id = principal.user_id
    task.assignee_kind = "user"
    await service.move_to(session, task, principal, target, cols, note="claimed")
    task.lease_expires_at = now + lease
    task.version += 1
    task.updated_at = now
    await session.flush()
    await events.emit(
        session,
        type="task.claimed",
        project_id=found.id,
        actor_id=principal.user_id,
        payload={
            "number": task.number,
            "version": task.version,
            "assignee": principal.username,
            "lease_expires_at": task.lease_expires_at.isoformat(),
        },
    )
    return await reads.detail(session, task)


async def release_expired(
    session: AsyncSession, *, now: datetime | None = None, project_id: uuid.UUID | None = None
) -> int:
    """Return the tasks whose lease ran out to the queue: unassigned, at the top of their
    board's last open column. Rows another transaction holds are left for the next pass.

    Returns how many were released (at most one batch).
    """
    moment = now or clock.now()
    query = select(Task).where(Task.lease_expires_at < moment)
    if project_id is not None:
        query = query.where(Task.project_id == project_id)
    expired = list(
        await session.scalars(
            query.order_by(Task.lease_expires_at)
            .limit(_RELEASE_BATCH)
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        )
    )
    for task in expired:
        project = await session.get_one(Project, task.project_id)
        cols = await board.columns(session, project=project)
        queue = [c for c in cols if c.state == "open"]
        claimant = await session.scalar(select(User.username).where(User.id == task.assignee_id))
        note = f"lease expired at {task.lease_expires_at:%Y-%m-%d %H:%M:%S} UTC"
        service.record(session, task, None, "assignee", claimant, None, note)
        task.assignee_id = None
        task.assignee_kind = None
        task.lease_expires_at = None
        if queue:  # a board without an open column keeps the task where it is, unassigned
            # Back to the queue whatever its WIP limit: the task was counted in it before.
            column = queue[-1]
            first = await session.scalar(
                select(Task.rank).where(Task.column_id == column.id).order_by(Task.rank).limit(1)
            )
            old = next(c for c in cols if c.id == task.column_id)
            task.rank = board.rank_between(None, first)
            if column.id != old.id:
                task.column_id, task.state = column.id, column.state
                service.record(session, task, None, "column", old.name, column.name, note)
        task.version += 1
        task.updated_at = moment
        await session.flush()
        await events.emit(
            session,
            type="task.released",
            project_id=task.project_id,
            payload={"number": task.number, "version": task.version, "previous": claimant},
        )
    return len(expired)
