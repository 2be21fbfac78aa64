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

from sqlalchemy import func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from devflow.core import clock, events
from devflow.core.auth import Principal, Role
from devflow.identity import Project, User
from devflow.workflows import board, history, reads
from devflow.workflows.access import project_for
from devflow.workflows.models import Task
from devflow.workflows.schemas import TaskDetail

_RELEASE_BATCH = 500
_CAP_TRIES = 20  # phases at their cap passed over before a claim gives up


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
    task = await _take(session, principal, found)
    if task is None:
        return None
    if task.assignee_id != principal.user_id:
        history.record(session, task, principal, "assignee", None, principal.username, "claimed")
    task.assignee_id = principal.user_id
    task.assignee_kind = "user"
    await history.move_to(session, task, principal, target, cols, note="claimed")
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


_BUSY = aliased(Task, name="busy")
_UNDER_CAP = or_(
    Task.phase_cap.is_(None),
    select(func.count())
    .select_from(_BUSY)
    .where(_BUSY.run_id == Task.run_id, _BUSY.phase == Task.phase, _BUSY.state == "in_progress")
    .scalar_subquery()
    < Task.phase_cap,
)


async def _take(session: AsyncSession, principal: Principal, project: Project) -> Task | None:
    """Lock the first task of the caller's queue whose phase is under its cap of tasks in
    progress. The cap is counted again under a lock on (run, phase), so two claimants at once
    cannot both take the last place; a task found at its cap is passed over."""
    passed: list[uuid.UUID] = []
    for _ in range(_CAP_TRIES):
        task = await session.scalar(
            select(Task)
            .where(reads.queue_filter(principal.user_id, project.id), _UNDER_CAP)
            .where(Task.id.not_in(passed) if passed else true())
            .order_by(Task.priority.desc(), Task.number)
            .limit(1)
            .with_for_update(skip_locked=True, of=Task)
            .execution_options(populate_existing=True)
        )
        if task is None or task.phase_cap is None:
            return task
        key = f"workflows:phase:{task.run_id}:{task.phase}"
        await session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(key, 0))))
        busy = await session.scalar(
            select(func.count())
            .select_from(Task)
            .where(
                Task.run_id == task.run_id, Task.phase == task.phase, Task.state == "in_progress"
            )
        )
        if (busy or 0) < task.phase_cap:
            return task
        passed.append(task.id)
    return None


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
        history.record(session, task, None, "assignee", claimant, None, note)
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
                history.record(session, task, None, "column", old.name, column.name, note)
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
