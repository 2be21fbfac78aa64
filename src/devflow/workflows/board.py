"""A project's board: its columns (made lazily), ranks within a column and WIP limits.

Ranks are unbounded decimals (PostgreSQL `numeric`): appending takes the next integer past the
column's last, inserting between two tasks takes their midpoint, so a move writes one row and
never renumbers a column. Two moves to the same place at once may get equal ranks; the task
number breaks the tie.
"""

from __future__ import annotations

import uuid
from decimal import Decimal, localcontext

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core import events
from devflow.core.auth import Principal, Role
from devflow.core.errors import Conflict, Invalid, NotFound
from devflow.identity import Project
from devflow.workflows.access import project_for
from devflow.workflows.models import BoardColumn, Task
from devflow.workflows.schemas import ColumnCreate, ColumnRead, ColumnUpdate

DEFAULT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("Backlog", "open"),
    ("Todo", "open"),
    ("In progress", "in_progress"),
    ("In review", "review"),
    ("Done", "done"),
)


async def columns(session: AsyncSession, *, project: Project) -> list[BoardColumn]:
    """Return the project's columns in order, making the default set on first use.

    Two first uses at once both insert the defaults; the unique name lets one set win and the
    other insert nothing (`ON CONFLICT DO NOTHING` waits for the first to commit).
    """
    found = await _columns(session, project.id)
    if found:
        return found
    await session.execute(
        insert(BoardColumn)
        .values(
            [
                {"id": uuid.uuid4(), "project_id": project.id, "name": n, "state": s, "position": i}
                for i, (n, s) in enumerate(DEFAULT_COLUMNS)
            ]
        )
        .on_conflict_do_nothing()
    )
    return await _columns(session, project.id)


async def _columns(session: AsyncSession, project_id: uuid.UUID) -> list[BoardColumn]:
    query = (
        select(BoardColumn)
        .where(BoardColumn.project_id == project_id)
        .order_by(BoardColumn.position, BoardColumn.created_at)
        .execution_options(populate_existing=True)
    )
    return list(await session.scalars(query))


def find_column(cols: list[BoardColumn], ref: str) -> BoardColumn:
    """Return the column named `ref` (any case) or with id `ref`.

    Raises:
        NotFound: naming the columns there are.
    """
    wanted = ref.strip().casefold()
    for column in cols:
        if column.name.casefold() == wanted or str(column.id) == wanted:
            return column
    names = ", ".join(repr(c.name) for c in cols)
    raise NotFound(f"no column {ref!r} on this board; its columns are {names}")


def first_of(cols: list[BoardColumn], state: str) -> BoardColumn:
    """Return the first column of `state`.

    Raises:
        Conflict: the board has no column of that state (a project admin removed them all).
    """
    for column in cols:
        if column.state == state:
            return column
    raise Conflict(
        f"this board has no {state!r} column; a project admin can add one "
        f"(`devflow board column-add NAME --state {state}`)"
    )


async def check_wip(session: AsyncSession, *, column: BoardColumn, moving: int = 1) -> None:
    """Refuse to put `moving` more tasks into a column at its WIP limit.

    Locks the column's row first, so two moves into the same limited column are counted one
    after the other (a column without a limit takes no lock).

    Raises:
        Conflict: naming the column, its limit and its count.
    """
    if column.wip_limit is None:
        return
    await session.execute(
        select(BoardColumn.id).where(BoardColumn.id == column.id).with_for_update()
    )
    count = await session.scalar(
        select(func.count()).select_from(Task).where(Task.column_id == column.id)
    )
    if (count or 0) + moving > column.wip_limit:
        raise Conflict(
            f"column {column.name!r} is at its WIP limit of {column.wip_limit} "
            f"({count} tasks): finish or move one of them first, or ask a project admin to "
            "raise the limit",
            details={"column": column.name, "wip_limit": column.wip_limit, "count": count},
        )


def rank_between(low: Decimal | None, high: Decimal | None) -> Decimal:
    """Return a rank strictly between `low` and `high` (None: no bound on that side)."""
    if low is None and high is None:
        return Decimal(1)
    if high is None:
        assert low is not None  # noqa: S101 - for the type checker
        return low.to_integral_value(rounding="ROUND_FLOOR") + 1
    if low is None:
        return high.to_integral_value(rounding="ROUND_CEILING") - 1
    digits = max(len(low.as_tuple().digits), len(high.as_tuple().digits)) + 4
    with localcontext(prec=digits):
        return (low + high) / 2


async def place(
    session: AsyncSession,
    *,
    column: BoardColumn,
    before: Task | None = None,
    after: Task | None = None,
) -> Decimal:
    """Return the rank of a task put into `column` just before `before` or after `after`
    (neither: at the end).

    Raises:
        Invalid: the neighbour is in another column.
    """
    neighbour = before or after
    if neighbour is not None and neighbour.column_id != column.id:
        raise Invalid(
            f"task #{neighbour.number} is not in column {column.name!r}: "
            "place a task next to one in the column it moves to"
        )
    in_column = select(Task.rank).where(Task.column_id == column.id)
    if before is not None:
        low = await session.scalar(
            in_column.where(Task.rank < before.rank).order_by(Task.rank.desc()).limit(1)
        )
        return rank_between(low, before.rank)
    if after is not None:
        high = await session.scalar(
            in_column.where(Task.rank > after.rank).order_by(Task.rank).limit(1)
        )
        return rank_between(after.rank, high)
    last = await session.scalar(select(func.max(Task.rank)).where(Task.column_id == column.id))
    return rank_between(last, None)


async def create_column(
    session: AsyncSession, *, principal: Principal, project: str | None, data: ColumnCreate
) -> ColumnRead:
    """Add a column (project admins).

    Raises:
        Conflict: a column of that name exists.
    """
    found = await project_for(session, principal=principal, project=project, role=Role.ADMIN)
    return await column_read(session, await _create_column(session, principal, found, data))


async def _create_column(
    session: AsyncSession, principal: Principal, project: Project, data: ColumnCreate
) -> BoardColumn:
    cols = await columns(session, project=project)
    _refuse_duplicate(cols, data.name)
    position = len(cols) if data.position is None else min(data.position, len(cols))
    for column in cols[position:]:
        column.position += 1
    for i, column in enumerate(cols[:position]):
        column.position = i
    made = BoardColumn(
        project_id=project.id,
        name=data.name,
        state=data.state,
        position=position,
        wip_limit=data.wip_limit,
    )
    session.add(made)
    await session.flush()
    await _emit(session, principal, project, "board.column_created", made)
    return made


async def update_column(
    session: AsyncSession,
    *,
    principal: Principal,
    project: str | None,
    ref: str,
    data: ColumnUpdate,
) -> ColumnRead:
    """Rename, re-state, re-limit or move a column (project admins); its tasks take its new
    state with it.

    Raises:
        NotFound: no such column.
        Conflict: the new name is taken, or the new limit is below the tasks it holds.
    """
    found = await project_for(session, principal=principal, project=project, role=Role.ADMIN)
    cols = await columns(session, project=found)
    column = find_column(cols, ref)
    if data.name is not None and data.name.casefold() != column.name.casefold():
        _refuse_duplicate(cols, data.name)
    if data.name is not None:
        column.name = data.name
    if data.wip_limit is not None:
        column.wip_limit = data.wip_limit or None
        await check_wip(session, column=column, moving=0)
    if data.state is not None and data.state != column.state:
        column.state = data.state
        await session.flush()
        await session.execute(
            update(Task).where(Task.column_id == column.id).values(state=data.state)
        )
    if data.position is not None:
        rest = [c for c in cols if c.id != column.id]
        rest.insert(min(data.position, len(rest)), column)
        for i, each in enumerate(rest):
            each.position = i
    await session.flush()
    await _emit(session, principal, found, "board.column_updated", column)
    return await column_read(session, column)


async def delete_column(
    session: AsyncSession, *, principal: Principal, project: str | None, ref: str
) -> None:
    """Remove an empty column (project admins).

    Raises:
        NotFound: no such column.
        Conflict: it still holds tasks.
    """
    found = await project_for(session, principal=principal, project=project, role=Role.ADMIN)
    cols = await columns(session, project=found)
    column = find_column(cols, ref)
    held = await session.scalar(
        select(func.count()).select_from(Task).where(Task.column_id == column.id)
    )
    if held:
        raise Conflict(
            f"column {column.name!r} holds {held} tasks: move them to another column first",
            details={"column": column.name, "count": held},
        )
    await session.delete(column)
    for i, each in enumerate(c for c in cols if c.id != column.id):
        each.position = i
    await session.flush()
    await _emit(session, principal, found, "board.column_deleted", column)


def _refuse_duplicate(cols: list[BoardColumn], name: str) -> None:
    if any(c.name.casefold() == name.casefold() for c in cols):
        raise Conflict(f"this board already has a column named {name!r}: choose another name")


async def _emit(
    session: AsyncSession, principal: Principal, project: Project, kind: str, column: BoardColumn
) -> None:
    await events.emit(
        session,
        type=kind,
        project_id=project.id,
        actor_id=principal.user_id,
        payload={
            "column": column.name,
            "state": column.state,
            "wip_limit": column.wip_limit,
            "position": column.position,
        },
    )


def column_view(column: BoardColumn, count: int) -> ColumnRead:
    """Return a column as the API shows it, with its task count."""
    return ColumnRead(
        id=column.id,
        name=column.name,
        state=column.state,  # a State, checked when stored
        position=column.position,
        wip_limit=column.wip_limit,
        count=count,
    )


async def column_read(session: AsyncSession, column: BoardColumn) -> ColumnRead:
    """Return a column with its task count."""
    count = await session.scalar(
        select(func.count()).select_from(Task).where(Task.column_id == column.id)
    )
    return column_view(column, count or 0)
