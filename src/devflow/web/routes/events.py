"""Server-Sent Events: the event stream, filtered by project and type."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import orjson
from fastapi import APIRouter, Header, Query
from fastapi.responses import StreamingResponse
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from devflow.core.auth import Scope
from devflow.core.errors import Invalid
from devflow.core.events import Event, visible_events
from devflow.core.http import PrincipalDep, ServicesDep, SessionDep
from devflow.core.schemas import MAX_ID
from devflow.identity import require_project, visible_project_ids

router = APIRouter(prefix="/api/v1", tags=["events"])

KEEPALIVE_SECONDS = 15.0
_BATCH = 500


def _frame(event: Event, *, named: bool) -> bytes:
    data = {
        "id": event.id,
        "type": event.type,
        "project_id": event.project_id,
        "actor_id": event.actor_id,
        "created_at": event.created_at,
        "payload": event.payload,
    }
    name = f"event: {event.type}\n" if named else ""
    return f"id: {event.id}\n{name}data: ".encode() + orjson.dumps(data) + b"\n\n"


@router.get(
    "/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def stream_events(
    session: SessionDep,
    principal: PrincipalDep,
    services: ServicesDep,
    project: list[str] = Query(default_factory=list, description="Project name(s) to follow."),
    type: list[str] = Query(  # noqa: A002 - the public parameter name
        default_factory=list,
        description="Event types; `knowledge.*` matches a prefix, `*.progress` a suffix.",
    ),
    exclude_type: list[str] = Query(
        default_factory=list,
        description="Leave out these event types (matched as `type`): `*.progress` keeps "
        "progress reports out of an activity list.",
    ),
    last_event_id: int | None = Header(
        None, ge=0, le=MAX_ID, description="Resume after this event id."
    ),
    since: int | None = Query(
        None, ge=0, le=MAX_ID, description="Replay events after this id first."
    ),
    latest: int | None = Query(
        None,
        ge=1,
        le=_BATCH,
        description="Replay the last this many events first (of those the filters select), "
        "oldest first: recent activity. Not with `since`; a reconnect's Last-Event-ID wins.",
    ),
    follow: bool = Query(
        True,
        description="False ends the stream after the replay (`since` or `latest`): a listing "
        "of past events.",
    ),
    event_names: bool = Query(
        True,
        description="Name each frame after its type (`event:`). False sends every frame "
        "unnamed, for a browser's EventSource, which hears only the names it listens to.",
    ),
) -> StreamingResponse:
    """Stream events as Server-Sent Events; reconnecting clients resume with Last-Event-ID."""
    principal.require_scope(Scope.READ)
    if since is not None and latest is not None:
        raise Invalid(
            "ask for `since` (events after an id) or `latest` (the last N events), not both"
        )
    project_ids: list[uuid.UUID] | None
    if project:
        project_ids = [
            (await require_project(session, principal=principal, name=p)).id for p in project
        ]
    else:
        project_ids = visible_project_ids(principal)
    query = visible_events(project_ids=project_ids, types=type, exclude=exclude_type)
    resume = last_event_id if last_event_id is not None else since
    if resume is None and latest is not None:
        resume = await _before_latest(session, query, latest)
    return StreamingResponse(
        _stream(
            services.sessions,
            services.bus.subscribe() if follow else None,
            query,
            resume,
            named=event_names,
        ),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _before_latest(session: AsyncSession, query: Select[Event], latest: int) -> int:
    """Return the id to replay after so that the replay starts with the `latest`-th newest."""
    newest = query.with_only_columns(Event.id).order_by(None).order_by(Event.id.desc())
    oldest = await session.scalar(select(func.min(newest.limit(latest).subquery().c.id)))
    return oldest - 1 if oldest is not None else 0


async def _replay(
    sessions: async_sessionmaker[AsyncSession], query: Select[Event], after: int | None
) -> AsyncIterator[Event]:
    """Yield the events after `after` (none when it is None), in batches."""
    while after is not None:
        async with sessions() as db:
            rows = list(await db.scalars(query.where(Event.id > after).limit(_BATCH)))
        for event in rows:
            yield event
        after = rows[-1].id if len(rows) == _BATCH else None


async def _stream(
    sessions: async_sessionmaker[AsyncSession],
    subscription: contextlib.AbstractAsyncContextManager[asyncio.Queue[int | None]] | None,
    query: Select[Event],
    resume: int | None,
    *,
    named: bool,
) -> AsyncIterator[bytes]:
    if subscription is None:  # not following: the replay is all there is
        yield b": connected\n\n"
        async for event in _replay(sessions, query, resume):
            yield _frame(event, named=named)
        return
    async with subscription as queue:  # subscribe before replaying, so nothing falls between
        yield b": connected\n\n"
        replayed: set[int] = set()
        async for event in _replay(sessions, query, resume):
            replayed.add(event.id)
            yield _frame(event, named=named)
        while True:
            try:
                first = await asyncio.wait_for(queue.get(), KEEPALIVE_SECONDS)
            except TimeoutError:
                yield b": keep-alive\n\n"
                continue
            ids = [first]
            while not queue.empty() and len(ids) < _BATCH:
                ids.append(queue.get_nowait())
            if None in ids:
                return
            wanted = [i for i in ids if i is not None and i not in replayed]
            async with sessions() as db:
                rows = list(await db.scalars(query.where(Event.id.in_(wanted))))
            for event in rows:
                yield _frame(event, named=named)
