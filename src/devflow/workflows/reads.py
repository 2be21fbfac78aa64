"""Reading tasks: one statement shapes a task with its column, assignee, parent and blockers;
listings, filters, keyword search, the board, comments and history.

Every function takes the caller's `Principal` and the project's name and checks the read role.
"""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    exists,
    func,
    literal,
    or_,
    select,
    text,
    true,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, aliased

from devflow.core.auth import Principal
from devflow.core.errors import NotFound
from devflow.identity import Project, User
from devflow.workflows import board
from devflow.workflows.access import project_for
from devflow.workflows.models import BoardColumn, Task, TaskChange, TaskComment, WorkflowRun
from devflow.workflows.models import TaskDependency as Dep
from devflow.workflows.schemas import (
    PRIORITIES,
    PRIORITY_NAMES,
    BoardColumnRead,
    BoardRead,
    ChangeRead,
    CommentRead,
    Link,
    TaskDetail,
    TaskFilter,
    TaskRead,
)

BLOCKER = aliased(Task, name="blocker")
"""A second `Task` in a query: the blocker of a dependency."""
_Parent = aliased(Task, name="parent_task")
_Assignee = aliased(User, name="assignee_user")
_BLOCKED_BY = (
    select(func.coalesce(func.array_agg(BLOCKER.number), text("'{}'::int[]")))
    .select_from(Dep)
    .join(BLOCKER, BLOCKER.id == Dep.blocker_id)
    .where(Dep.task_id == Task.id)
    .scalar_subquery()
)
_BLOCKED = exists(
    select(literal(1))
    .select_from(Dep)
    .join(BLOCKER, BLOCKER.id == Dep.blocker_id)
    .where(Dep.task_id == Task.id, BLOCKER.state != "done")
)
_ROWS = (
    select(
        Task.number,
        Task.title,
        Task.type,
        Task.priority,
        Task.labels,
        Task.state,
        BoardColumn.name.label("column"),
        _Assignee.username.label("assignee"),
        Task.assignee_kind,
        Task.lease_expires_at,
        _Parent.number.label("parent"),
        _BLOCKED_BY.label("blocked_by"),
        _BLOCKED.label("blocked"),
        Task.milestone,
        WorkflowRun.number.label("run"),
        Task.phase,
        Task.gate,
        Task.duplicate_of,
        Task.duplicate_score,
        Task.version,
        Task.created_at,
        Task.updated_at,
        Task.closed_at,
    )
    .join(BoardColumn, BoardColumn.id == Task.column_id)
    .outerjoin(_Assignee, _Assignee.id == Task.assignee_id)
    .outerjoin(_Parent, _Parent.id == Task.parent_id)
    .outerjoin(WorkflowRun, WorkflowRun.id == Task.run_id)
)
_COLUMNS = len(_ROWS.selected_columns)
_Q = TypeVar("_Q", bound=Select[*tuple[Any, ...]])


# -- reading --------------------------------------------------------------------------------------


def _read(row: Any) -> TaskRead:
    # Built without validation: every value comes from a column of the right type. A board
    # of 250 tasks took a third of its time validating them again.
    fields = dict(zip(TaskRead.model_fields, row, strict=True))
    fields["priority"] = PRIORITY_NAMES[fields["priority"]]
    fields["labels"] = list(fields["labels"])
    fields["blocked_by"] = sorted(fields["blocked_by"] or [])
    fields["blocked"] = bool(fields["blocked"])
    return TaskRead.model_construct(**fields)


async def read_tasks(session: AsyncSession, query: Select[*tuple[Any, ...]]) -> list[TaskRead]:
    """Return the tasks of a query built on `_ROWS`."""
    return [_read(row) for row in await session.execute(query)]


_Child = aliased(Task, name="child")
_Creator = aliased(User, name="creator")
_DETAIL = _ROWS.add_columns(
    select(func.coalesce(func.array_agg(_Child.number), text("'{}'::int[]")))
    .where(_Child.parent_id == Task.id)
    .scalar_subquery(),
    select(func.count())
    .select_from(TaskComment)
    .where(TaskComment.task_id == Task.id)
    .scalar_subquery(),
    select(_Creator.username).where(_Creator.id == Task.created_by).scalar_subquery(),
)


async def detail(session: AsyncSession, task: Task) -> TaskDetail:
    """Return a task with its text, links, sub-tasks and comment count (one statement)."""
    row = (
        await session.execute(
            _DETAIL.where(Task.id == task.id).execution_options(populate_existing=True)
        )
    ).one()
    children, comments, creator = row[_COLUMNS:]
    return TaskDetail(
        **_read(row[:_COLUMNS]).model_dump(),
        body=task.body,
        done_definition=task.done_definition,
        links=[Link.model_validate(link) for link in task.links],
        children=sorted(children or []),
        created_by=creator,
        comment_count=comments or 0,
    )


async def find_task(
    session: AsyncSession, project: Project, number: int, *, lock: bool = False
) -> Task:
    """Return task `#number` of the project (locked for update when `lock`).

    Raises:
        NotFound: no such task.
    """
    query = select(Task).where(Task.project_id == project.id, Task.number == number)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    task = await session.scalar(query)
    if task is None:
        raise NotFound(
            f"no task #{number} in project {project.name!r}; `devflow task list` shows them"
        )
    return task


async def get_task(
    session: AsyncSession, *, principal: Principal, project: str | None, number: int
) -> TaskDetail:
    """Return task `#number`.

    Raises:
        NotFound: no such project or task, or not the caller's to see.
    """
    found = await project_for(session, principal=principal, project=project)
    return await detail(session, await find_task(session, found, number))


def _filtered(query: _Q, project: Project, filters: TaskFilter) -> _Q:
    query = query.where(Task.project_id == project.id, *_equal_to(filters))
    if filters.assignee is not None:
        if filters.assignee in {"", "-", "none"}:
            query = query.where(Task.assignee_id.is_(None))
        else:
            query = query.where(func.lower(_Assignee.username) == filters.assignee.casefold())
    if filters.blocked is not None:
        query = query.where(_BLOCKED if filters.blocked else ~_BLOCKED)
    if filters.q:
        query = query.where(_matches(filters.q))
    return query


def _equal_to(filters: TaskFilter) -> list[ColumnElement[bool]]:
    """The filters that keep tasks whose field is the given value."""
    given = {
        Task.state: filters.state,
        func.lower(BoardColumn.name): filters.column and filters.column.strip().casefold(),
        Task.type: filters.type,
        _Parent.number: filters.parent,
        WorkflowRun.number: filters.run,
        Task.phase: filters.phase,
        Task.priority: filters.priority and PRIORITIES[filters.priority],
    }
    conditions = [field == value for field, value in given.items() if value is not None]
    if filters.label is not None:
        conditions.append(Task.labels.contains([filters.label.strip()]))
    return conditions


def _matches(q: str) -> ColumnElement[bool]:
    """Keyword search over a task's title, text and comments (`#12` finds task 12)."""
    words = q.strip()
    if words.startswith("#") and words[1:].isdigit() and len(words) < 11:  # noqa: PLR2004
        return Task.number == int(words[1:])
    query = func.websearch_to_tsquery("english", words)
    own = func.to_tsvector("english", Task.title + " " + Task.body + " " + Task.done_definition)
    in_comments = exists(
        select(literal(1)).where(
            TaskComment.task_id == Task.id,
            func.to_tsvector("english", TaskComment.body).op("@@")(query),
        )
    )
    return or_(own.op("@@")(query), in_comments)


async def list_tasks(
    session: AsyncSession,
    *,
    principal: Principal,
    project: str | None,
    filters: TaskFilter,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[TaskRead], int]:
    """Return a page of the project's tasks that pass `filters` (newest first; within one
    column, in board order) and how many pass them."""
    found = await project_for(session, principal=principal, project=project)
    query = _filtered(_ROWS, found, filters)
    counted = _filtered(
        select(func.count())
        .select_from(Task)
        .join(BoardColumn, BoardColumn.id == Task.column_id)
        .outerjoin(_Assignee, _Assignee.id == Task.assignee_id)
        .outerjoin(_Parent, _Parent.id == Task.parent_id)
        .outerjoin(WorkflowRun, WorkflowRun.id == Task.run_id),
        found,
        filters,
    )
    total = await session.scalar(counted) or 0
    order = (Task.rank, Task.number) if filters.column is not None else (Task.number.desc(),)
    items = await read_tasks(session, query.order_by(*order).offset(offset).limit(limit))
    return items, total


async def show_board(
    session: AsyncSession, *, principal: Principal, project: str | None, limit: int = 50
) -> BoardRead:
    """Return the board: every column in order with its count and first `limit` tasks."""
    found = await project_for(session, principal=principal, project=project)
    cols = await board.columns(session, project=found)
    counts = dict(
        (
            await session.execute(
                select(Task.column_id, func.count())
                .where(Task.project_id == found.id)
                .group_by(Task.column_id)
            )
        ).all()
    )
    # The first `limit` of each column, read through its (column_id, rank) index.
    firsts = (
        select(Task.id)
        .where(Task.column_id == BoardColumn.id)
        .order_by(Task.rank, Task.number)
        .limit(limit)
        .lateral("firsts")
    )
    shown = (
        select(firsts.c.id)
        .select_from(BoardColumn)
        .join(firsts, true())
        .where(BoardColumn.project_id == found.id)
    )
    rows = await read_tasks(
        session, _ROWS.where(Task.id.in_(shown)).order_by(Task.rank, Task.number)
    )
    by_column: dict[str, list[TaskRead]] = {}
    for row in rows:
        by_column.setdefault(row.column, []).append(row)
    return BoardRead(
        project=found.name,
        columns=[
            BoardColumnRead(
                **board.column_view(c, counts.get(c.id, 0)).model_dump(),
                tasks=by_column.get(c.name, []),
            )
            for c in cols
        ],
    )


async def history(
    session: AsyncSession,
    *,
    principal: Principal,
    project: str | None,
    number: int,
    offset: int = 0,
    limit: int = 100,
) -> tuple[list[ChangeRead], int]:
    """Return a page of a task's changes, oldest first, and how many there are."""
    found = await project_for(session, principal=principal, project=project)
    task = await find_task(session, found, number)
    rows, total = await _page_of_task(
        session, TaskChange, TaskChange.actor_id, task.id, offset=offset, limit=limit
    )
    items = [
        ChangeRead(id=c.id, at=c.at, actor=who, field=c.field, old=c.old, new=c.new, note=c.note)
        for c, who in rows
    ]
    return items, total


async def list_comments(
    session: AsyncSession,
    *,
    principal: Principal,
    project: str | None,
    number: int,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[CommentRead], int]:
    """Return a page of a task's comments, oldest first, and how many there are."""
    found = await project_for(session, principal=principal, project=project)
    task = await find_task(session, found, number)
    rows, total = await _page_of_task(
        session, TaskComment, TaskComment.author_id, task.id, offset=offset, limit=limit
    )
    items = [
        CommentRead(id=c.id, author=who, body=c.body, created_at=c.created_at) for c, who in rows
    ]
    return items, total


_Row = TypeVar("_Row", TaskChange, TaskComment)


async def _page_of_task(
    session: AsyncSession,
    entity: type[_Row],
    user_id: InstrumentedAttribute[uuid.UUID | None],
    task_id: uuid.UUID,
    *,
    offset: int,
    limit: int,
) -> tuple[list[tuple[_Row, str | None]], int]:
    """Return a page of a task's rows of `entity` (oldest first) with the name of the user in
    `user_id`, and how many rows the task has."""
    total = await session.scalar(
        select(func.count()).select_from(entity).where(entity.task_id == task_id)
    )
    rows = await session.execute(
        select(entity, User.username)
        .outerjoin(User, User.id == user_id)
        .where(entity.task_id == task_id)
        .order_by(entity.id)
        .offset(offset)
        .limit(limit)
    )
    return [(row, who) for row, who in rows], total or 0


_RUN_GOES_ON = exists(
    select(literal(1)).where(
        WorkflowRun.id == Task.run_id, WorkflowRun.state.in_(("running", "awaiting_approval"))
    )
)


def queue_filter(user_id: uuid.UUID, project_id: uuid.UUID) -> ColumnElement[bool]:
    """The tasks a user may claim: open, not an epic, free or already theirs, unblocked, not
    held by a gate, and not part of a run that is paused, pending or over."""
    return and_(
        Task.project_id == project_id,
        Task.state == "open",
        Task.type != "epic",
        or_(Task.assignee_id.is_(None), Task.assignee_id == user_id),
        Task.gate.is_(None),
        or_(Task.run_id.is_(None), _RUN_GOES_ON),
        ~_BLOCKED,
    )
