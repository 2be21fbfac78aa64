"""Domain events: rows written in the same transaction as the change, announced with NOTIFY.

A process keeps one LISTEN connection (`EventBus`) and fans the ids of new events out to its
subscribers (Server-Sent Event streams, webhooks, the workflow engine), which read the rows
they may see.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

import psycopg
from sqlalchemy import BigInteger, ForeignKey, Identity, Index, Select, String, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.elements import ColumnElement

from devflow.core import clock
from devflow.core.db import Base

log = logging.getLogger(__name__)

CHANNEL = "devflow_events"


class Event(Base):
    """Something that happened in a project (or to the instance when `project_id` is null)."""

    __tablename__ = "event"
    __table_args__ = (Index("ix_event_project_id_id", "project_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    type: Mapped[str] = mapped_column(String(100), index=True)
    project_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE")
    )
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)


async def emit(
    session: AsyncSession,
    *,
    type: str,  # noqa: A002 - the event's type is its public field name
    payload: dict[str, Any],
    project_id: uuid.UUID | None = None,
    actor_id: uuid.UUID | None = None,
) -> Event:
    """Record an event in the caller's transaction; listeners hear of it when that commits."""
    event = Event(type=type, project_id=project_id, actor_id=actor_id, payload=payload)
    session.add(event)
    await session.flush()
    await session.execute(
        text("SELECT pg_notify(:channel, :id)"), {"channel": CHANNEL, "id": str(event.id)}
    )
    return event


EMIT_SQL = (
    "WITH e AS (INSERT INTO event (created_at, type, project_id, payload) "  # noqa: S608 - constants
    "VALUES (now(), %(type)s, %(project_id)s, %(payload)s) RETURNING id) "
    f"SELECT pg_notify('{CHANNEL}', id::text) FROM e"
)
"""`emit` for a connection outside SQLAlchemy (a worker's procrastinate connector, which
commits each statement): the row and its NOTIFY in one statement. Parameters: `type`,
`project_id` and `payload` (JSON)."""


def _of_types(patterns: Sequence[str]) -> ColumnElement[bool]:
    """Match event types: exactly, by a prefix (`knowledge.*`) or by a suffix (`*.progress`)."""
    exact = [p for p in patterns if not p.startswith("*") and not p.endswith("*")]
    conditions: list[ColumnElement[bool]] = [Event.type.in_(exact)] if exact else []
    conditions += [Event.type.startswith(p[:-1]) for p in patterns if p.endswith("*")]
    conditions += [
        Event.type.endswith(p[1:]) for p in patterns if p.startswith("*") and not p.endswith("*")
    ]
    return or_(*conditions)


def visible_events(
    *,
    project_ids: Sequence[uuid.UUID] | None,
    types: Sequence[str] = (),
    exclude: Sequence[str] = (),
) -> Select[Event]:
    """Return a query for the events a caller may see (`project_ids=None` means every event),
    of `types` if any are named, leaving out those of `exclude` (both as `_of_types` matches)."""
    query = select(Event).order_by(Event.id)
    if project_ids is not None:
        query = query.where(Event.project_id.in_(project_ids))
    if types:
        query = query.where(_of_types(types))
    if exclude:
        query = query.where(~_of_types(exclude))
    return query


class EventBus:
    """One LISTEN connection per process, fanning event ids out to subscribers."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._subscribers: set[asyncio.Queue[int | None]] = set()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start listening in the background (reconnecting when the connection drops)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="devflow-event-bus")

    async def stop(self) -> None:
        """Stop listening and end every subscription."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for queue in list(self._subscribers):
            queue.put_nowait(None)

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[int | None]]:
        """Yield a queue receiving the id of every new event (None when the bus stops)."""
        queue: asyncio.Queue[int | None] = asyncio.Queue(maxsize=10_000)
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)

    async def _run(self) -> None:
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._url, autocommit=True
                ) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    async for notify in conn.notifies():
                        self._publish(int(notify.payload))
            except asyncio.CancelledError:
                raise
            except (psycopg.Error, OSError, ValueError) as exc:
                log.warning(
                    "event listener lost its connection; retrying", extra={"error": str(exc)}
                )
                await asyncio.sleep(1.0)

    def _publish(self, event_id: int) -> None:
        for queue in self._subscribers:
            with contextlib.suppress(asyncio.QueueFull):  # a stalled reader re-syncs from the table
                queue.put_nowait(event_id)
