"""What every HTTP route may depend on: the services, a unit of work and the caller.

Routes declare `session: SessionDep`, `principal: PrincipalDep` and, for the process's
long-lived objects, `services: ServicesDep`; the request owns the transaction, which commits
after the route returns and before the response is sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core.auth import AUTHENTICATOR, Principal
from devflow.core.errors import Unauthenticated
from devflow.core.services import Services

SESSION_COOKIE = "devflow_session"


def services_of(request: Request) -> Services:
    """Return the process's services (opened in the app's lifespan), for plain endpoints."""
    services: Services = request.app.state.services
    return services


async def get_services(request: Request) -> Services:
    """Return the process's services: the dependency behind `ServicesDep`."""
    return services_of(request)


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_session(services: ServicesDep) -> AsyncIterator[AsyncSession]:
    """Open the request's unit of work: commit on success, roll back on error.

    Lazily: the session takes a pooled connection at its first statement, not before.
    """
    async with services.sessions() as session, session.begin():
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


async def get_principal(request: Request, services: ServicesDep, session: SessionDep) -> Principal:
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
    principal = await services.get(AUTHENTICATOR).authenticate(session, token)
    request.state.principal = principal
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def get_caller(request: Request, services: ServicesDep) -> Principal:
    """Authenticate the request in a short unit of work of its own, ended at once.

    For routes that call out (a model, an embeddings API) and must hold no database connection
    meanwhile: they do their database work in units of work around those calls (`SessionDep`
    is lazy too: it takes a connection at its first statement).

    Raises:
        Unauthenticated: no token, or a bad one.
    """
    token = bearer_token(request)
    if not token:
        raise Unauthenticated(
            "authentication required: send `Authorization: Bearer <token>` (your admin token is "
            "in $DEVFLOW_HOME/credentials)"
        )
    async with services.sessions() as session, session.begin():
        principal = await services.get(AUTHENTICATOR).authenticate(session, token)
    request.state.principal = principal
    return principal


CallerDep = Annotated[Principal, Depends(get_caller)]
