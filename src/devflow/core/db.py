"""SQLAlchemy 2 (async, psycopg 3): engine, declarative base and the unit of work.

The edge that starts the work (a request, a job, a CLI command, an MCP call) opens the unit of work
and commits it; services only ``flush()``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import MetaData, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import DateTime

from devflow.core import clock
from devflow.core.config import DatabaseSettings

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every table; one metadata for one Alembic history."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy reads this class attribute
        datetime: DateTime(timezone=True),
        dict[str, Any]: JSONB,
    }


def uuid_pk() -> Mapped[uuid.UUID]:
    """Return a UUID primary key column generated in Python (ids are known before flush)."""
    return mapped_column(primary_key=True, default=uuid.uuid4)


def created_at() -> Mapped[datetime]:
    """Return a creation time column."""
    return mapped_column(default=clock.now)


def sqlalchemy_url(url: str) -> str:
    """Return the URL with the psycopg 3 driver that SQLAlchemy needs."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme="postgresql+psycopg"))


def libpq_url(url: str) -> str:
    """Return the URL as libpq (psycopg, procrastinate) expects it."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme="postgresql"))


def create_engine(url: str, settings: DatabaseSettings, **kwargs: Any) -> AsyncEngine:
    """Create the async engine for one process."""
    connect_args: dict[str, Any] = {"connect_timeout": max(1, int(settings.connect_timeout))}
    if settings.statement_timeout_ms:
        connect_args["options"] = f"-c statement_timeout={settings.statement_timeout_ms}"
    return create_async_engine(
        sqlalchemy_url(url),
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_timeout=settings.pool_timeout,
        pool_pre_ping=False,
        connect_args=connect_args,
        **kwargs,
    )


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Return the session maker; sessions do not expire objects on commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def unit_of_work(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """Open a session, commit when the block succeeds and roll back when it raises."""
    async with sessions() as session, session.begin():
        yield session


async def ping(engine: AsyncEngine) -> None:
    """Run a trivial query; raises when the database cannot be reached."""
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
