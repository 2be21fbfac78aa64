"""Changing tasks: create, change (with optimistic concurrency), move, comment; the history.

Every function takes the caller's `Principal` and the project's name and checks the caller's
role there (write to change); a project the caller cannot see is `NotFound`. A
change carries the `version` the caller saw: the task's row is locked, the version compared and
bumped, so a stale write is refused with the current version and never overwrites another.
Dependency and parent edits of a project are serialised by an advisory lock, so two edits at
once cannot close a cycle that neither saw.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import (
    delete,
    func,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core import clock
from devflow.core.auth import Principal, Role
from devflow.core.errors import Conflict, Invalid
from devflow.identity import Project, User, require_member
from devflow.knowledge import Embedder
from devflow.workflows import board, similar
from devflow.workflows.access import project_for
from devflow.workflows.history import emit_task, move_to, record
from devflow.workflows.models import Task, TaskComment, TaskCounter
from devflow.workflows.models import TaskDependency as Dep
from devflow.workflows.reads import BLOCKER, detail, find_task
from devflow.workflows.runs import gates
from devflow.workflows.runs.place import find_run_of, phase_of, runs_place, spec_of
from devflow.workflows.schemas import (
    PRIORITIES,
    PRIORITY_NAMES,
    CommentRead,
    TaskCreate,
    TaskDetail,
    TaskUpdate,
)
from devflow.workflows.settings import DUPLICATE_THRESHOLD

# -- creating -------------------------------------------------------------------------------------


async def _next_number(session: AsyncSession, project: Project) -> int:
    """Allocate the project's next task number: the counter row stays locked until the caller's
    transaction ends, so numbers are handed out one at a time and a rollback leaves no gap."""
    from sqlalchemy.dialects.postgresql import insert

    statement = (
        insert(TaskCounter)
        .values(project_id=project.id, last_number=1)
        .on_conflict_do_update(
            index_elements=[TaskCounter.project_id],
            set_={"last_number": TaskCounter.last_number + 1},
        )
        .returning(TaskCounter.last_number)
    )
    number = int((await session.execute(statement)).scalar_one())
    if number > 2**31 - 1:
        raise Conflict(f"project {project.name!r} has run out of task numbers")
    return number


async def create_task(
    session: AsyncSession,
    *,
    principal: Principal,
    project: str | None,
    data: TaskCreate,
    embedder: Embedder | None = None,
    duplicate_threshold: float = DUPLICATE_THRESHOLD,
) -> TaskDetail:
    """Create a task (write role); it starts in `data.column` or the board's first open column.
    A task of a run joins `data.phase` (default: the run's first); a gated phase holds it until
    someone approves. With the process's `embedder`, a task close to an open one is flagged
    `duplicate_of` it (see `similar`).

    Raises:
        NotFound: an unknown column, assignee, parent, blocker or run.
        Invalid: a phase the run's workflow does not have.
        Conflict: the column is at its WIP limit; the run has ended.
    """
    found = await project_for(session, principal=principal, project=project, role=Role.WRITE)
    task = await insert_task(session, found, principal, data)
    await similar.flag_duplicates(
        session, embedder=embedder, task=task, threshold=duplicate_threshold, principal=principal
    )
    return await detail(session, task)


async def insert_task(
    session: AsyncSession, project: Project, actor: Principal | None, data: TaskCreate
) -> Task:
    """Create a task in `project` on behalf of `actor` (None: the run engine), unchecked."""
    cols = await board.columns(session, project=project)
    column = board.find_column(cols, data.column) if data.column else board.first_of(cols, "open")
    await board.check_wip(session, column=column)
    assignee = (
        await require_member(session, project=project, username=data.assignee)
        if data.assignee
        else None
    )
    place = await runs_place(session, project, data.run, data.phase) if data.run else None
    parent = await find_task(session, project, data.parent) if data.parent else None
    blockers = [await find_task(session, project, n) for n in dict.fromkeys(data.blocked_by)]
    now = clock.now()
    task = Task(
        project_id=project.id,
        number=await _next_number(session, project),
        title=data.title,
        body=data.body,
        done_definition=data.done_definition,
        type=data.type,
        priority=PRIORITIES[data.priority],
        labels=_labels(data.labels),
        column_id=column.id,
        state=column.state,
        rank=await board.place(session, column=column),
        assignee_id=assignee.id if assignee else None,
        assignee_kind="user" if assignee else None,
        parent_id=parent.id if parent else None,
        milestone=data.milestone or None,
        links=[link.model_dump() for link in data.links],
        version=1,
        created_by=actor.user_id if actor else None,
        created_at=now,
        updated_at=now,
        closed_at=now if column.state == "done" else None,
    )
    session.add(task)
    await session.flush()
    # A new task blocks nothing yet, so its blockers cannot close a cycle.
    session.add_all(Dep(task_id=task.id, blocker_id=b.id) for b in blockers)
    record(session, task, actor, "created", None, task.number)
    await session.flush()
    await emit_task(session, actor, project, "task.created", task, {"title": task.title})
    if place is not None:
        await gates.enter_phase(session, place.run, place.phase, task, actor)
    return task


def _labels(labels: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(label.strip() for label in labels))


# -- changing -------------------------------------------------------------------------------------


async def update_task(
    session: AsyncSession,
    *,
    principal: Principal,
    project: str | None,
    number: int,
    data: TaskUpdate,
    lease: timedelta,
    embedder: Embedder | None = None,
) -> TaskDetail:
    """Change the fields `data` sets, if the task is still at `data.version`.

    An update by the task's claimant renews its claim's lease; a changed text is embedded again
    (with the process's `embedder`) for search and duplicate flags.

    Raises:
        Conflict: the task changed since that version (`details.current_version`), a
            dependency or parent cycle, a WIP limit.
        NotFound: an unknown task, column, assignee, parent or blocker.
        Invalid: a task blocking itself or its own parent.
    """
    found = await project_for(session, principal=principal, project=project, role=Role.WRITE)
    task = await find_task(session, found, number, lock=True)
    if data.version != task.version:
        raise Conflict(
            f"task #{number} changed since version {data.version}: it is at version "
            f"{task.version} now; read it again and reapply your change",
            details={"number": number, "current_version": task.version},
        )
    given = data.model_fields_set - {"version", "column", "before", "after"}
    changed = [f for f in sorted(given) if await _apply(session, found, task, principal, f, data)]
    if {"column", "before", "after"} & data.model_fields_set and await _move(
        session, found, task, principal, data
    ):
        changed.append("column")
    _renew(task, principal, lease)
    if changed:
        task.version += 1
        task.updated_at = clock.now()
        await session.flush()
        await emit_task(session, principal, found, "task.updated", task, {"fields": changed})
        if {"title", "body", "done_definition"} & set(changed):
            await similar.refresh_task(session, embedder=embedder, task=task)
    else:
        await session.flush()
    return await detail(session, task)


_PLAIN = ("title", "body", "done_definition", "type", "milestone")


async def _apply(
    session: AsyncSession,
    project: Project,
    task: Task,
    principal: Principal,
    field: str,
    data: TaskUpdate,
) -> bool:
    """Set one field of `task` from `data`, recording it; return whether it changed."""
    value = getattr(data, field)
    if field == "assignee":
        return await _assign(session, project, task, principal, value)
    if field == "parent":
        return await _set_parent(session, project, task, principal, value or None)
    if field == "blocked_by":
        return await _set_blockers(session, project, task, principal, value or [])
    if field == "phase":
        return await _set_phase(session, task, principal, value)
    return _apply_value(session, task, principal, field, value)


async def _set_phase(
    session: AsyncSession, task: Task, principal: Principal, phase_id: str | None
) -> bool:
    """Move a task of a run to another phase its current one leads to (`next`)."""
    if phase_id is None or phase_id == task.phase:
        return False
    if task.run_id is None:
        raise Invalid(
            f"task #{task.number} is not part of a run, so it has no phase; create a task "
            "in the run instead (`devflow task create --run N --phase P`)"
        )
    gates.refuse_if_gated(task)
    run = await find_run_of(session, task)
    spec = await spec_of(session, run)
    target = phase_of(spec, run, phase_id)
    current = spec.phase(task.phase or "")
    if current is not None and target.id not in current.next:
        allowed = ", ".join(current.next) or "none"
        raise Conflict(
            f"phase {current.id!r} leads to {allowed}, not {target.id!r}: create a new task "
            f"in {target.id!r} instead, or move this one to a phase it leads to",
            details={"phase": current.id, "next": list(current.next)},
        )
    old = task.phase
    await gates.enter_phase(session, run, target, task, principal)
    record(session, task, principal, "phase", old, target.id)
    return True


def _apply_value(
    session: AsyncSession, task: Task, principal: Principal, field: str, value: Any
) -> bool:
    if field in _PLAIN:
        if field == "milestone":
            value = value or None
        if value is None and field in {"title", "body", "done_definition", "type"}:
            raise Invalid(f"{field} cannot be null: give a value, or leave {field} out")
        return _set(session, task, principal, field, getattr(task, field), value)
    if field == "priority":
        if value is None:
            raise Invalid("priority cannot be null: low, medium, high or urgent")
        old = PRIORITY_NAMES[task.priority]
        if old == value:
            return False
        task.priority = PRIORITIES[value]
        record(session, task, principal, field, old, value)
        return True
    if field == "labels":
        return _set(session, task, principal, field, list(task.labels), _labels(value or []))
    links = [link.model_dump() for link in value or []]
    return _set(session, task, principal, "links", list(task.links), links)


def _set(
    session: AsyncSession, task: Task, principal: Principal, field: str, old: Any, new: Any
) -> bool:
    if old == new:
        return False
    setattr(task, field, new)
    shown = (lambda v: str(v) if v is not None else None) if field.endswith("_id") else None
    record(
        session,
        task,
        principal,
        field,
        shown(old) if shown else old,
        shown(new) if shown else new,
    )
    return True


async def _assign(
    session: AsyncSession, project: Project, task: Task, principal: Principal, username: str | None
) -> bool:
    user = (
        await require_member(session, project=project, username=username)
        if username and username.strip()
        else None
    )
    new_id = user.id if user else None
    if new_id == task.assignee_id:
        return False
    old = await session.scalar(select(User.username).where(User.id == task.assignee_id))
    task.assignee_id = new_id
    task.assignee_kind = "user" if user else None
    task.lease_expires_at = None  # a claim's lease is its claimant's, not the new assignee's
    record(session, task, principal, "assignee", old, user.username if user else None)
    return True


async def _lock_graph(session: AsyncSession, project: Project) -> None:
    await session.execute(
        select(func.pg_advisory_xact_lock(func.hashtextextended(f"workflows:{project.id}", 0)))
    )


async def _set_parent(
    session: AsyncSession,
    project: Project,
    task: Task,
    principal: Principal,
    number: int | None,
) -> bool:
    await _lock_graph(session, project)
    parent = await find_task(session, project, number) if number else None
    if parent is not None and parent.id == task.id:
        raise Invalid(f"task #{task.number} cannot be its own parent")
    if (parent.id if parent else None) == task.parent_id:
        return False
    if parent is not None:
        chain = await _ancestors(session, parent)
        if task.number in chain:
            loop = " → ".join(f"#{n}" for n in [task.number, *chain[: chain.index(task.number)]])
            raise Conflict(
                f"#{parent.number} is a sub-task of #{task.number} already; making it the "
                f"parent would close a loop ({loop} → #{task.number})",
                details={"cycle": [task.number, *chain[: chain.index(task.number) + 1]]},
            )
    old = await session.scalar(select(Task.number).where(Task.id == task.parent_id))
    task.parent_id = parent.id if parent else None
    record(session, task, principal, "parent", old, parent.number if parent else None)
    return True


async def _ancestors(session: AsyncSession, task: Task) -> list[int]:
    """Return the numbers of `task` and its parents, nearest first."""
    rows = await session.execute(
        text(
            "WITH RECURSIVE up(id, parent_id, number, depth) AS ("
            " SELECT id, parent_id, number, 0 FROM task WHERE id = :id"
            " UNION ALL SELECT t.id, t.parent_id, t.number, up.depth + 1"
            " FROM task t JOIN up ON t.id = up.parent_id WHERE up.depth < 10000)"
            " SELECT number FROM up ORDER BY depth"
        ),
        {"id": task.id},
    )
    return [int(n) for (n,) in rows]


async def _set_blockers(
    session: AsyncSession,
    project: Project,
    task: Task,
    principal: Principal,
    numbers: list[int],
) -> bool:
    await _lock_graph(session, project)
    wanted = list(dict.fromkeys(numbers))
    if task.number in wanted:
        raise Invalid(f"task #{task.number} cannot block itself: leave it out of blocked_by")
    blockers = [await find_task(session, project, n) for n in wanted]
    current = dict(
        (
            await session.execute(
                select(Dep.blocker_id, BLOCKER.number)
                .join(BLOCKER, BLOCKER.id == Dep.blocker_id)
                .where(Dep.task_id == task.id)
            )
        ).all()
    )
    new_ids = {b.id for b in blockers}
    if new_ids == set(current):
        return False
    added = [b for b in blockers if b.id not in current]
    if added:
        await _refuse_cycle(session, project, task, added)
    gone = set(current) - new_ids
    if gone:
        await session.execute(delete(Dep).where(Dep.task_id == task.id, Dep.blocker_id.in_(gone)))
    session.add_all(Dep(task_id=task.id, blocker_id=b.id) for b in added)
    record(session, task, principal, "blocked_by", sorted(current.values()), sorted(wanted))
    return True


async def _refuse_cycle(
    session: AsyncSession, project: Project, task: Task, added: list[Task]
) -> None:
    """Refuse new blockers of `task` that are (transitively) blocked by `task` itself.

    Raises:
        Conflict: naming the cycle, `#a → #b → … → #a` (each blocked by the next).
    """
    reached = await session.scalar(
        text(
            "WITH RECURSIVE reach(id) AS ("
            " SELECT blocker_id FROM task_dependency WHERE task_id = ANY(:start)"
            " UNION SELECT d.blocker_id FROM task_dependency d JOIN reach r ON d.task_id = r.id)"
            " SELECT true FROM reach WHERE id = :target LIMIT 1"
        ),
        {"start": [b.id for b in added], "target": task.id},
    )
    if not reached:
        return
    edges: dict[int, list[int]] = {}
    rows = await session.execute(
        select(Task.number, BLOCKER.number)
        .join(Dep, Dep.task_id == Task.id)
        .join(BLOCKER, BLOCKER.id == Dep.blocker_id)
        .where(Task.project_id == project.id)
    )
    for blocked, blocker in rows:
        edges.setdefault(blocked, []).append(blocker)
    for start in added:
        path = _path(edges, start.number, task.number)
        if path is not None:
            cycle = [task.number, *path]
            shown = " → ".join(f"#{n}" for n in cycle)
            raise Conflict(
                f"#{task.number} cannot be blocked by #{start.number}: that closes a dependency "
                f"cycle {shown} (each blocked by the next); remove one of these links first",
                details={"cycle": cycle},
            )


def _path(edges: dict[int, list[int]], start: int, goal: int) -> list[int] | None:
    """Return the numbers from `start` to `goal` along `edges` (breadth first), or None."""
    came: dict[int, int | None] = {start: None}
    frontier = [start]
    while frontier:
        following: list[int] = []
        for node in frontier:
            if node == goal:
                path = [node]
                while (prior := came[path[-1]]) is not None:
                    path.append(prior)
                return path[::-1]
            for nxt in edges.get(node, []):
                if nxt not in came:
                    came[nxt] = node
                    following.append(nxt)
        frontier = following
    return None


async def _move(
    session: AsyncSession, project: Project, task: Task, principal: Principal, data: TaskUpdate
) -> bool:
    cols = await board.columns(session, project=project)
    column = board.find_column(cols, data.column) if data.column else None
    column = column or next(c for c in cols if c.id == task.column_id)
    before = await find_task(session, project, data.before) if data.before else None
    after = await find_task(session, project, data.after) if data.after else None
    if task.id in {getattr(before, "id", None), getattr(after, "id", None)}:
        raise Invalid(f"task #{task.number} cannot be placed next to itself")
    if before is not None and after is not None:
        raise Invalid("give before or after, not both")
    if column.id == task.column_id and before is None and after is None:
        return False
    if column.id != task.column_id:
        gates.refuse_if_gated(task)
        if column.state == "done" and task.run_id is not None and task.phase is not None:
            run = await find_run_of(session, task)
            spec = await spec_of(session, run)
            phase = phase_of(spec, run, task.phase)
            if await gates.check_before_done(session, project, run, phase, task, principal):
                return True
    await move_to(session, task, principal, column, cols, before=before, after=after)
    return True


def _renew(task: Task, principal: Principal, lease: timedelta) -> None:
    """Renew the caller's claim on `task`: any update from its claimant keeps it."""
    if task.assignee_id == principal.user_id and task.lease_expires_at is not None:
        task.lease_expires_at = clock.now() + lease


# -- comments -------------------------------------------------------------------------------------


async def add_comment(
    session: AsyncSession,
    *,
    principal: Principal,
    project: str | None,
    number: int,
    body: str,
    lease: timedelta,
    embedder: Embedder | None = None,
) -> CommentRead:
    """Add a comment or progress note (write role); the claimant's comment renews its lease.
    With the process's `embedder`, search finds it by meaning too."""
    found = await project_for(session, principal=principal, project=project, role=Role.WRITE)
    task = await find_task(session, found, number, lock=True)
    comment = TaskComment(task_id=task.id, author_id=principal.user_id, body=body)
    session.add(comment)
    _renew(task, principal, lease)
    await session.flush()
    await emit_task(session, principal, found, "task.commented", task, {"comment_id": comment.id})
    await similar.embed_comment(session, embedder=embedder, comment=comment)
    return CommentRead(
        id=comment.id, author=principal.username, body=comment.body, created_at=comment.created_at
    )
