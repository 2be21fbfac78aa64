"""What lives as long as the process, in one object (DESIGN.md §3).

Each process (`devflow serve`/`up`, `devflow worker`, `devflow mcp`, a CLI command that works on
the database itself, a test) opens one `Services` with `open_services` and hands it down: routes
get it through `ServicesDep`, jobs from their context (`core.jobs.services_of`), MCP tools from
their call. It holds the settings, the database engine and its sessions, the event bus, and the
long-lived objects the domains provide (the LLM client with its circuit breakers and budgets, the
embedder with its loaded model, the blob store …): each is made on first use, kept for the life
of the process and closed with it. Nothing of the kind lives in a module global.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from devflow.core.config import Settings
from devflow.core.db import create_engine, libpq_url, session_factory
from devflow.core.errors import Invalid
from devflow.core.events import EventBus

log = logging.getLogger(__name__)

T = TypeVar("T")


class Key(Generic[T]):
    """Names one long-lived object of type `T` (a class or a protocol) among the services."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Key({self.name!r})"


@dataclass(frozen=True)
class Provider(Generic[T]):
    """How a domain makes one of its long-lived objects from the services, and closes it."""

    key: Key[T]
    make: Callable[[Services], T]
    close: Callable[[T], Awaitable[None]] | None = None


class Services:
    """The process's long-lived objects; see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        *,
        database_url: str,
        engine: AsyncEngine,
        bus: EventBus,
        providers: Sequence[Provider[Any]] = (),
    ) -> None:
        self.settings = settings
        self.database_url = database_url
        self.engine = engine
        self.sessions: async_sessionmaker[AsyncSession] = session_factory(engine)
        self.bus = bus
        self._providers: dict[Key[Any], Provider[Any]] = {}
        for provider in providers:
            if provider.key in self._providers:
                raise ValueError(f"two providers of {provider.key!r}")
            self._providers[provider.key] = provider
        self._made: dict[Key[Any], Any] = {}
        self._closed = False

    def get(self, key: Key[T]) -> T:
        """Return the object `key` names, making it on first use.

        Raises:
            LookupError: no domain provides it (a programming error).
            RuntimeError: the services are closed (the process is stopping).
        """
        if key in self._made:
            found: T = self._made[key]
            return found
        if self._closed:
            raise RuntimeError(f"the services are closed: {key!r} is no longer available")
        provider = self._providers.get(key)
        if provider is None:
            raise LookupError(f"no provider of {key!r} among the services")
        made: T = provider.make(self)
        self._made[key] = made
        return made

    def replace(self, key: Key[T], value: T) -> None:
        """Use `value` for `key` from now on (a test's double, a tool's own configuration)."""
        self._made[key] = value

    async def close(self) -> None:
        """Close what was made, newest first; then the event bus and the engine."""
        self._closed = True
        for key in reversed(list(self._made)):
            provider = self._providers.get(key)
            value = self._made.pop(key)
            if provider is not None and provider.close is not None:
                try:
                    await provider.close(value)
                except Exception:
                    log.exception("closing %r failed", key)
        await self.bus.stop()
        await self.engine.dispose()


@asynccontextmanager
async def open_services(
    settings: Settings, providers: Sequence[Provider[Any]] = (), *, listen: bool = False
) -> AsyncIterator[Services]:
    """Open the process's services; `listen` starts the event bus (servers streaming events).

    Raises:
        Invalid: no database URL.
    """
    if settings.database_url is None:
        raise Invalid(
            "no database configured: set DEVFLOW_DATABASE_URL=postgresql://..., "
            "or run `devflow up` to use the embedded PostgreSQL"
        )
    url = settings.database_url.get_secret_value()
    bus = EventBus(libpq_url(url))
    services = Services(
        settings,
        database_url=url,
        engine=create_engine(url, settings.database),
        bus=bus,
        providers=providers,
    )
    try:
        if listen:
            await bus.start()
        yield services
    finally:
        await services.close()
