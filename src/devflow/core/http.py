"""What every HTTP route may depend on: the app state, a unit of work and the caller.

Routes declare `session: SessionDep` and `principal: PrincipalDep`; the request owns the
transaction, which commits after the route returns and before the response is sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from devflow.core.auth import Principal
from devflow.core.config import Settings
from devflow.core.errors import Unauthenticated
from devflow.core.events import EventBus

SESSION_COOKIE = "devflow_session"


@dataclass
class AppState:
    """Per-process resources, created in the app's lifespan."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    bus: EventBus
    head_revision: str
    # Injected by the web surface (identity lives outside core): token -> Principal.
    authenticate: Callable[[AsyncSession, str], Awaitable[Principal]]


async def get_state(request: Request) -> AppState:
    """Return the process's AppState."""
    state: AppState = request.app.state.devflow
    return state


StateDep = Annotated[AppState, Depends(get_state)]


async def get_session(state: StateDep) -> AsyncIterator[AsyncSession]:
    """Open the request's unit of work: commit on success, roll back on error."""
    async with state.sessions() as session, session.begin():
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


def bearer_token(request: Request) -> str | None:
    """Return the token from `Authorization: Bearer`, or the dashboard cookie on safe methods."""
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise Unauthenticated("use `Authorization: Bearer <token>`")
        return value.strip()
    # The session cookie is honoured for reads only, so a cross-site form cannot act for the user.
    if request.method in {"GET", "HEAD"}:
        return request.cookies.get(SESSION_COOKIE)
    return None


async def get_principal(request: Request, state: StateDep, session: SessionDep) -> Principal:
    """Authenticate the request.

    Raises:
        Unauthenticated: no token, or a bad one.
    """
    token = bearer_token(request)
    if not token:
        raise Unauthenticated(
            "authentication required: send `Authorization: Bearer <token>` (your admin token is "
            "in $DEVFLOW_HOME/credentials)"
        )
    principal = await state.authenticate(session, token)
    request.state.principal = principal
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]
