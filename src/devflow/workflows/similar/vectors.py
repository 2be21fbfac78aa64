"""Vectors of tasks and comments under the process's embedder, kept in step with their text.

A task's vector embeds its title, text and done definition (`task_text`); its SHA-256 is kept
with it, so an update that leaves the text as it was embeds nothing. Comments are never edited:
one vector each. Vectors of another model than the configured one are ignored by every read and
replaced by `embed_missing`, which also fills in what a failed embedder left out.

The embedder may be remote. `task_vector` computes a vector holding no connection, so a caller
can embed before its transaction's first statement; the store functions embed only what lacks an
up-to-date vector.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass

from sqlalchemy import delete, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core import clock
from devflow.knowledge import Embedder
from devflow.workflows.models import Task, TaskComment, TaskCommentEmbedding, TaskEmbedding

log = logging.getLogger(__name__)

# The local model reads its first 256 word pieces (about 1,000 characters of English); a remote
# one may read more. Past this, text adds cost and no meaning.
TEXT_CHARS = 4000


def task_text(title: str, body: str, done_definition: str) -> str:
    """Return the text embedded for a task: its title first, then its text and done definition."""
    parts = (part.strip() for part in (title, body, done_definition))
    return "\n\n".join(p for p in parts if p)[:TEXT_CHARS]


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class TaskVector:
    """A task text's vector under `model`, with the hash of the text embedded."""

    model: str
    dimension: int
    text_hash: str
    vector: list[float]


async def task_vector(
    embedder: Embedder, *, title: str, body: str = "", done_definition: str = ""
) -> TaskVector | None:
    """Embed a task's text; None when the embedder fails (logged: the task is embedded later by
    `embed_missing`, and nothing that creates or changes a task fails for it)."""
    text = task_text(title, body, done_definition)
    try:
        [vector] = await embedder.embed_documents([text])
    except Exception:
        log.warning("embedding a task failed (it is embedded again later)", exc_info=True)
        return None
    if len(vector) != embedder.dimension:
        log.warning(
            "%s returned %d dimensions, not %d", embedder.model, len(vector), embedder.dimension
        )
        return None
    return TaskVector(embedder.model, embedder.dimension, _hash(text), list(vector))


async def store_task_vector(session: AsyncSession, task: Task, vector: TaskVector) -> None:
    """Write (or replace) the task's vector."""
    values = {
        "model": vector.model,
        "dimension": vector.dimension,
        "text_hash": vector.text_hash,
        "vector": vector.vector,
        "updated_at": clock.now(),
    }
    await session.execute(
        insert(TaskEmbedding)
        .values(task_id=task.id, **values)
        .on_conflict_do_update(index_elements=[TaskEmbedding.task_id], set_=values)
    )


async def refresh_task(session: AsyncSession, *, embedder: Embedder | None, task: Task) -> bool:
    """Embed the task again if its text (or the model) changed since its vector was made.

    Cheap when nothing changed: one primary-key read, no embedding. Returns whether it embedded.
    """
    if embedder is None:
        return False
    text_hash = _hash(task_text(task.title, task.body, task.done_definition))
    stored = (
        await session.execute(
            select(TaskEmbedding.model, TaskEmbedding.text_hash).where(
                TaskEmbedding.task_id == task.id
            )
        )
    ).one_or_none()
    if stored is not None and tuple(stored) == (embedder.model, text_hash):
        return False
    vector = await task_vector(
        embedder, title=task.title, body=task.body, done_definition=task.done_definition
    )
    if vector is None:
        if stored is not None:  # stale now: dropped, so that `embed_missing` makes it again
            await session.execute(delete(TaskEmbedding).where(TaskEmbedding.task_id == task.id))
        return False
    await store_task_vector(session, task, vector)
    return True


async def embed_comment(
    session: AsyncSession, *, embedder: Embedder | None, comment: TaskComment
) -> bool:
    """Embed a new comment (after its flush: it needs its id). Returns whether it embedded."""
    if embedder is None:
        return False
    try:
        [vector] = await embedder.embed_documents([comment.body[:TEXT_CHARS]])
    except Exception:
        log.warning("embedding a comment failed (it is embedded again later)", exc_info=True)
        return False
    session.add(
        TaskCommentEmbedding(
            comment_id=comment.id,
            task_id=comment.task_id,
            model=embedder.model,
            dimension=embedder.dimension,
            vector=list(vector),
            created_at=clock.now(),
        )
    )
    await session.flush()
    return True


async def embed_missing(
    session: AsyncSession,
    *,
    embedder: Embedder,
    project_id: uuid.UUID | None = None,
    limit: int = 256,
) -> int:
    """Embed up to `limit` tasks and `limit` comments that have no vector of the embedder's
    model (created while the embedder failed, before this feature, or under another model);
    all projects, or one. Returns how many it embedded; call again until it returns 0.
    """
    model = embedder.model
    tasks_query = (
        select(Task)
        .outerjoin(TaskEmbedding, TaskEmbedding.task_id == Task.id)
        .where(or_(TaskEmbedding.model.is_(None), TaskEmbedding.model != model))
        .order_by(Task.created_at)
        .limit(limit)
    )
    comments_query = (
        select(TaskComment)
        .outerjoin(TaskCommentEmbedding, TaskCommentEmbedding.comment_id == TaskComment.id)
        .where(or_(TaskCommentEmbedding.model.is_(None), TaskCommentEmbedding.model != model))
        .order_by(TaskComment.id)
        .limit(limit)
    )
    if project_id is not None:
        tasks_query = tasks_query.where(Task.project_id == project_id)
        comments_query = comments_query.join(Task, Task.id == TaskComment.task_id).where(
            Task.project_id == project_id
        )
    done = 0
    tasks = list(await session.scalars(tasks_query))
    if tasks:
        texts = [task_text(t.title, t.body, t.done_definition) for t in tasks]
        vectors = await embedder.embed_documents(texts)
        for task, text, vector in zip(tasks, texts, vectors, strict=True):
            made = TaskVector(model, embedder.dimension, _hash(text), list(vector))
            await store_task_vector(session, task, made)
        done += len(tasks)
    comments = list(await session.scalars(comments_query))
    if comments:
        vectors = await embedder.embed_documents([c.body[:TEXT_CHARS] for c in comments])
        stale = [c.id for c in comments]
        await session.execute(
            delete(TaskCommentEmbedding).where(TaskCommentEmbedding.comment_id.in_(stale))
        )
        session.add_all(
            TaskCommentEmbedding(
                comment_id=c.id,
                task_id=c.task_id,
                model=model,
                dimension=embedder.dimension,
                vector=list(v),
                created_at=clock.now(),
            )
            for c, v in zip(comments, vectors, strict=True)
        )
        done += len(comments)
    await session.flush()
    return done


__all__ = [
    "TEXT_CHARS",
    "TaskVector",
    "embed_comment",
    "embed_missing",
    "refresh_task",
    "store_task_vector",
    "task_text",
    "task_vector",
]
