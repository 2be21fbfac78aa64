"""Hot reads: single prepared statements on a few raw psycopg connections, in autocommit.

A read through an ORM session pays for the session, SQLAlchemy's greenlet bridge and a pooled
connection's checkout and reset; for one short statement that is most of the cost (0.4 of the
0.7 ms of CPU of an authenticated project listing; the registry's package lookups 4 ms against
0.25). The few reads that run on nearly every request (protocol lookups, listings) take a
connection of the process's `ReadPool` (`READ_POOL` among its services) instead: the statement is
prepared once per connection, its rows come back as tuples. Anything that writes, or reads more
than one statement that must agree, stays in a unit of work.

SQL given to it is fixed text with bound parameters (`%(name)s`), typically compiled once at import
from a SQLAlchemy statement (`driver_sql`).
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol, cast

import psycopg
from sqlalchemy.dialects.postgresql import psycopg as pg_dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ClauseElement

from devflow.core.config import DatabaseSettings
from devflow.core.db import libpq_url
from devflow.core.services import Key, Provider, Services

Row = tuple[Any, ...]


def driver_sql(statement: ClauseElement) -> str:
    """Return a SQLAlchemy statement as the SQL text psycopg runs (parameters `%(name)s`)."""
    return str(statement.compile(dialect=pg_dialect.dialect()))  # type: ignore[no-untyped-call]


class Reader(Protocol):
    """Runs one read statement: a `ReadPool`, or a `SessionReader` inside a unit of work."""

    async def one(self, sql: str, params: dict[str, Any] | None = None) -> Row | None:
        """Run `sql` and return its first row, or None."""
        ...

    async def all(self, sql: str, params: dict[str, Any] | None = None) -> list[Row]:
        """Run `sql` and return its rows."""
        ...


class SessionReader:
    """The same reads on a session's connection: they see its unit of work's uncommitted
    writes (a service reading what it just wrote, a test's rolled-back session)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def _cursor(self, sql: str, params: dict[str, Any] | None) -> psycopg.AsyncCursor[Row]:
        raw = await (await self._session.connection()).get_raw_connection()
        driver = cast("psycopg.AsyncConnection[Row]", raw.driver_connection)
        return await driver.execute(sql, params, prepare=True)

    async def one(self, sql: str, params: dict[str, Any] | None = None) -> Row | None:
        """Run `sql` and return its first row, or None."""
        return await (await self._cursor(sql, params)).fetchone()

    async def all(self, sql: str, params: dict[str, Any] | None = None) -> list[Row]:
        """Run `sql` and return its rows."""
        return await (await self._cursor(sql, params)).fetchall()


class ReadPool:
    """Up to `size` raw connections in autocommit, opened on demand and kept while idle.

    A connection whose statement fails or is cancelled is closed, never reused; the statement
    timeout of API requests applies.
    """

    def __init__(self, url: str, settings: DatabaseSettings) -> None:
        self._url = libpq_url(url)
        self._timeout = max(1, int(settings.connect_timeout))
        self._options = (
            f"-c statement_timeout={settings.statement_timeout_ms}"
            if settings.statement_timeout_ms
            else ""
        )
        self._idle: list[psycopg.AsyncConnection[Row]] = []
        self._slots = asyncio.Semaphore(settings.read_pool_size)
        self._closed = False

    async def _run(self, sql: str, params: dict[str, Any] | None, *, many: bool) -> Any:
        async with self._slots:
            conn = self._idle.pop() if self._idle else None
            if conn is None or conn.closed:
                conn = await psycopg.AsyncConnection.connect(
                    self._url,
                    autocommit=True,
                    connect_timeout=self._timeout,
                    options=self._options,
                )
            try:
                cursor = await conn.execute(sql, params, prepare=True)
                rows = await cursor.fetchall() if many else await cursor.fetchone()
            except BaseException:
                await conn.close()
                raise
            if self._closed:
                await conn.close()
            else:
                self._idle.append(conn)
            return rows

    async def one(self, sql: str, params: dict[str, Any] | None = None) -> Row | None:
        """Run `sql` and return its first row, or None."""
        row: Row | None = await self._run(sql, params, many=False)
        return row

    async def all(self, sql: str, params: dict[str, Any] | None = None) -> list[Row]:
        """Run `sql` and return its rows."""
        rows: list[Row] = await self._run(sql, params, many=True)
        return rows

    async def close(self) -> None:
        """Close the idle connections (busy ones close when their statement returns)."""
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            await conn.close()


READ_POOL: Key[ReadPool] = Key("read pool")
"""The process's pool of hot-read connections, among its services."""


def _make(services: Services) -> ReadPool:
    return ReadPool(services.database_url, services.settings.database)


async def _close(pool: ReadPool) -> None:
    await pool.close()


READ_POOL_PROVIDER: Provider[ReadPool] = Provider(READ_POOL, _make, _close)
