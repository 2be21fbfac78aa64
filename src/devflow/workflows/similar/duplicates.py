"""Flagging a new task as a possible duplicate of an open one.

Done in the creating request, not in a job: the creator (often an agent deciding whether to go
on) gets the flag in the answer to its creation. It costs one embedding of one text (the local
model: a few milliseconds of CPU; a remote one: a round trip, which a caller avoids inside its
transaction by passing a `task_vector` made before it) and one exact scan of the vectors of the
project's tasks that are not done. A task is compared with every candidate exactly: a project's
open tasks are thousands at most, and an approximate index filtered to one project would need
its iterative scan to find them anyway.

The flag is the system's note on the task, not a change of a field callers edit: it is a
history row and a `task.updated` event, and leaves the version alone (the version guards
callers' edits against each other, and no edit writes this field).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core import clock, events
from devflow.core.auth import Principal
from devflow.knowledge import Embedder
from devflow.workflows.models import Task, TaskChange, TaskEmbedding
from devflow.workflows.similar.vectors import TaskVector, store_task_vector, task_vector


@dataclass(frozen=True)
class DuplicateFlag:
    """The open task a new one may duplicate, and their cosine similarity (0-1)."""

    number: int
    title: str
    score: float

    def __str__(self) -> str:
        return f"possible duplicate of #{self.number} ({self.title}), similarity {self.score:.2f}"


async def closest_open_task(
    session: AsyncSession, task: Task, vector: TaskVector
) -> DuplicateFlag | None:
    """Return the task most similar to `task` among its candidates (see `flag_duplicates`)."""
    distance = TaskEmbedding.vector.cosine_distance(vector.vector)
    query = (
        select(Task.number, Task.title, distance.label("distance"))
        .join(TaskEmbedding, TaskEmbedding.task_id == Task.id)
        .where(
            Task.project_id == task.project_id,
            Task.id != task.id,
            Task.state != "done",
            TaskEmbedding.model == vector.model,
            TaskEmbedding.dimension == vector.dimension,
            # A sub-task reads like its epic: that is structure, not duplication.
            or_(Task.parent_id.is_(None), Task.parent_id != task.id),
        )
        .order_by(distance, Task.number)
        .limit(1)
    )
    if task.parent_id is not None:
        query = query.where(Task.id != task.parent_id)
    if task.run_id is not None and task.phase is not None:
        query = query.where(Task.run_id == task.run_id, Task.phase == task.phase)
    row = (await session.execute(query)).one_or_none()
    if row is None:
        return None
    return DuplicateFlag(row.number, row.title, round(1.0 - float(row.distance), 4))


async def flag_duplicates(
    session: AsyncSession,
    *,
    embedder: Embedder | None,
    task: Task,
    threshold: float,
    principal: Principal | None = None,
    vector: TaskVector | None = None,
) -> DuplicateFlag | None:
    """Store a new task's vector and flag it when an open task is at least `threshold` similar.

    The candidates are the project's tasks that are not done, other than the task, its parent and
    its sub-tasks; for a task of a run phase, only tasks of the same run and phase. The flag is
    set on the task (`duplicate_of`, `duplicate_score`), written to its history and announced as
    `task.updated`. Call it after the task's flush, in the creating transaction.

    Args:
        embedder: the process's embedder; None (or a failing one) flags nothing, and the task is
            embedded later by `embed_missing`.
        vector: the task's vector made beforehand with `task_vector` (outside the transaction);
            None: embedded here.

    Returns:
        The flag, or None.
    """
    if vector is None:
        if embedder is None:
            return None
        vector = await task_vector(
            embedder, title=task.title, body=task.body, done_definition=task.done_definition
        )
        if vector is None:
            return None
    await store_task_vector(session, task, vector)
    found = await closest_open_task(session, task, vector)
    if found is None or found.score < threshold:
        return None
    task.duplicate_of = found.number
    task.duplicate_score = found.score
    session.add(
        TaskChange(
            task_id=task.id,
            actor_id=None,  # the system's finding, not the creator's
            at=clock.now(),
            field="duplicate_of",
            old=None,
            new=found.number,
            note=f"similarity {found.score:.2f}",
        )
    )
    await session.flush()
    await events.emit(
        session,
        type="task.updated",
        project_id=task.project_id,
        actor_id=principal.user_id if principal else None,
        payload={
            "number": task.number,
            "version": task.version,
            "fields": ["duplicate_of"],
            "duplicate_of": found.number,
            "score": found.score,
        },
    )
    return found


__all__ = ["DuplicateFlag", "closest_open_task", "flag_duplicates"]
