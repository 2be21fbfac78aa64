"""Server-Sent Events: the event stream, filtered by project and type."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import orjson
from fastapi import APIRouter, Header, Query
from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from devflow.core.auth import Scope
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
        default_factory=list, description="Event types; `knowledge.*` matches a prefix."
    ),
    last_event_id: int | None = Header(
        None, ge=0, le=MAX_ID, description="Resume after this event id."
    ),
    since: int | None = Query(
        None, ge=0, le=MAX_ID, description="Replay events after this id first."
    ),
    event_names: bool = Query(
        True,
        description="Name each frame after its type (`event:`). False sends every frame "
        "unnamed, for a browser's EventSource, which hears only the names it listens to.",
    ),
) -> StreamingResponse:
    """Stream events as Server-Sent Events; reconnecting clients resume with Last-Event-ID."""
    principal.require_scope(Scope.READ)
    project_ids: list[uuid.UUID] | None
    if project:
        project_ids = [
            (await require_project(session, principal=principal, name=p)).id for p in project
        ]
    else:
        project_ids = visible_project_ids(principal)
    resume = last_event_id if last_event_id is not None else since
    return StreamingResponse(
        _stream(
            services.sessions,
            services.bus.subscribe(),
            project_ids,
            type,
            resume,
            named=event_names,
        ),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _stream(
    sessions: async_sessionmaker[AsyncSession],
    subscription: contextlib.AbstractAsyncContextManager[asyncio.Queue[int | None]],
    project_ids: list[uuid.UUID] | None,
    types: list[str],
    resume: int | None,
    *,
    named: bool,
) -> AsyncIterator[bytes]:
    query = visible_events(project_ids=project_ids, types=types)
    async with subscription as queue:  # subscribe before replaying, so nothing falls between
        yield b": connected\n\n"
        replayed: set[int] = set()
        after = resume
        while after is not None:
            async with sessions() as db:
                rows = list(await db.scalars(query.where(Event.id > after).limit(_BATCH)))
            for event in rows:
                replayed.add(event.id)
                yield _frame(event, named=named)
            after = rows[-1].id if len(rows) == _BATCH else None
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
