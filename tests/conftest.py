"""Shared fixtures: one real PostgreSQL per test session, migrated once into a template.

- `session`: a session in a transaction rolled back after the test (fast, isolated).
- `db_url`: a fresh database cloned from the template, for tests that need real commits,
  NOTIFY or a worker.
Set DEVFLOW_TEST_DATABASE_URL to use an existing server instead of the embedded one.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from devflow.core.config import DatabaseSettings, EmbeddedPostgresSettings
from devflow.core.db import create_engine, session_factory, sqlalchemy_url
from devflow.core.embedded_pg import EmbeddedPostgres
from devflow.core.migrate import upgrade

# No secret value the tests make may reach a log, an event or a job (tests/leak_scan.py).
pytest_plugins = ("tests.leak_scan",)

TEMPLATE = "devflow_template"

# The servers tests start serve no SSH unless a test asks for a port (tests/e2e/test_repos_ssh.py):
# otherwise each would try the default 2222 and all but one would warn that it is taken.
os.environ.setdefault("DEVFLOW_REPOS__SSH_PORT", "0")


def with_database(url: str, name: str) -> str:
    """Return `url` pointing at database `name`."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def not_durable(url: str) -> None:
    """Turn off what makes a commit survive a crash of the machine (fsync at commit, in
    checkpoints and full-page images): nothing of a test's cluster is kept, and each test's
    clone is dropped again, a drop costing 7 times as much with them on (95 ms against 13)."""
    with psycopg.connect(url, autocommit=True) as conn:
        for setting in ("fsync", "synchronous_commit", "full_page_writes"):
            conn.execute(f"ALTER SYSTEM SET {setting} = off")
        conn.execute("SELECT pg_reload_conf()")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """Yield the URL of the test server's maintenance database."""
    external = os.environ.get("DEVFLOW_TEST_DATABASE_URL")
    if external:
        yield external
        return
    home = Path(tempfile.mkdtemp(prefix="devflow-test-pg-"))
    home.chmod(0o755)  # as root, the service user must reach it (nothing of a user's is opened)
    pg = EmbeddedPostgres(home, EmbeddedPostgresSettings())
    try:
        url = with_database(pg.start(), "postgres")
        not_durable(url)
        yield url
    finally:
        pg.stop()
        from tests import leak_scan  # imported as a plugin first (pytest_plugins)

        leak_scan.report(leak_scan.scan_server(home, None))
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def template_url(pg_server: str) -> str:
    """Create and migrate the template database once per session."""
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{TEMPLATE}"')
    url = with_database(pg_server, TEMPLATE)
    upgrade(url)
    return url


def clone_database(pg_server: str, name: str) -> str:
    """Create database `name` from the migrated template and return its URL."""
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"')
    return with_database(pg_server, name)


def drop_database(pg_server: str, name: str) -> None:
    """Drop database `name`, disconnecting whoever is still on it (scanned for leaked secret
    values first)."""
    from tests import leak_scan  # imported as a plugin first (pytest_plugins)

    leak_scan.check_database(with_database(pg_server, name), name)
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def db_url(pg_server: str, template_url: str) -> Iterator[str]:
    """Yield a fresh migrated database for a test that needs real commits."""
    del template_url
    name = f"t_{secrets.token_hex(6)}"
    url = clone_database(pg_server, name)
    try:
        yield url
    finally:
        drop_database(pg_server, name)


@pytest.fixture(scope="session")
def shared_url(pg_server: str, template_url: str) -> Iterator[str]:
    """Yield one migrated database shared by rolled-back tests."""
    del template_url
    url = clone_database(pg_server, "devflow_shared")
    try:
        yield url
    finally:
        drop_database(pg_server, "devflow_shared")


@pytest.fixture
async def sessions(db_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Yield a session maker on a fresh database (each unit of work really commits)."""
    engine = create_engine(db_url, DatabaseSettings())
    yield session_factory(engine)
    await engine.dispose()


@pytest.fixture
async def session(shared_url: str) -> AsyncIterator[AsyncSession]:
    """Yield a session whose work is rolled back after the test (commits become savepoints)."""
    engine = create_async_engine(sqlalchemy_url(shared_url), pool_size=1, max_overflow=0)
    async with engine.connect() as conn:
        transaction = await conn.begin()
        db = AsyncSession(
            bind=conn, expire_on_commit=False, join_transaction_mode="create_savepoint"
        )
        try:
            yield db
        finally:
            await db.close()
            await transaction.rollback()
    await engine.dispose()
