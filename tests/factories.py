"""Helpers that make users, projects and tokens through the real services."""

from __future__ import annotations

import stat
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import httpx
import procrastinate
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from devflow.core.auth import Principal, Scope, ScopeDef
from devflow.core.config import Settings
from devflow.core.db import libpq_url, unit_of_work
from devflow.core.events import EventBus
from devflow.core.jobs import create_job_app, job_context
from devflow.core.services import Services, open_services
from devflow.domains import providers
from devflow.identity import service
from devflow.identity.schemas import UserCreate
from devflow.settings import load_settings
from devflow.web import create_app


async def make_user(
    session: AsyncSession,
    username: str,
    *,
    scopes: tuple[ScopeDef, ...] = (Scope.READ, Scope.WRITE),
    is_admin: bool = False,
) -> tuple[Principal, str]:
    """Create a user with a token; return the authenticated principal and the token."""
    user = await service.create_user(
        session, principal=None, data=UserCreate(username=username, is_admin=is_admin)
    )
    _, secret = await service.issue_token(session, user=user, name="test", scopes=list(scopes))
    return await service.authenticate(session, token=secret), secret


async def bootstrap_admin(sessions: async_sessionmaker[AsyncSession]) -> str:
    """Run first-start bootstrap on an empty database and return the admin's token."""
    async with unit_of_work(sessions) as session:
        done = await service.bootstrap(
            session, admin_username="admin", code_ttl=timedelta(minutes=5)
        )
    assert done is not None
    return done.token


def file_mode(path: Path) -> int:
    """Return the permission bits of `path` (0o600, 0o700 …)."""
    return stat.S_IMODE(path.stat().st_mode)


@asynccontextmanager
async def open_test_services(
    database_url: str, settings: Settings | None = None
) -> AsyncIterator[Services]:
    """Open the services a DevFlow process has, on `database_url` (settings: the environment's
    unless given)."""
    chosen = settings or load_settings(database_url=database_url)
    chosen = chosen.model_copy(update={"database_url": SecretStr(database_url)})
    async with open_services(chosen, providers()) as services:
        yield services


async def run_jobs(
    database_url: str,
    blueprints: Sequence[procrastinate.Blueprint],
    *,
    settings: Settings | None = None,
) -> None:
    """Run every queued job of `blueprints` to its end, as a worker does (with its services)."""
    async with open_test_services(database_url, settings) as services:
        app = create_job_app(
            libpq_url(database_url), blueprints=list(blueprints), settings=services.settings.jobs
        )
        async with app.open_async():
            await app.run_worker_async(
                wait=False, install_signal_handlers=False, additional_context=job_context(services)
            )


def services_on(sessions: async_sessionmaker[AsyncSession], settings: Settings) -> Services:
    """Services around a test's own engine (the test disposes of it), for code that takes the
    services of a process (the MCP gateway's tools)."""
    engine = sessions.kw["bind"]
    url = libpq_url(engine.url.render_as_string(hide_password=False))
    return Services(
        settings, database_url=url, engine=engine, bus=EventBus(url), providers=providers()
    )


@asynccontextmanager
async def running_app(settings: Settings) -> AsyncIterator[FastAPI]:
    """Yield the app for `settings` with its lifespan (services) started."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


@asynccontextmanager
async def api_client(
    app: FastAPI, token: str, *, base_url: str = "http://devflow.test", **options: object
) -> AsyncIterator[httpx.AsyncClient]:
    """Yield an HTTP client that calls `app` in process with `token` as its bearer token."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
        base_url=base_url,
        headers={"Authorization": f"Bearer {token}"},
        **options,  # type: ignore[arg-type]
    ) as client:
        yield client
