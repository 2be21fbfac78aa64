"""Hot reads on raw connections (`core.reads`): the same rows as a session, failures not kept."""

import psycopg
import pytest
from sqlalchemy import text

from devflow.core.config import DatabaseSettings
from devflow.core.reads import ReadPool, SessionReader

SQL = "SELECT name FROM project WHERE name = ANY(%(names)s) ORDER BY name"


@pytest.fixture
async def pool(db_url):
    reads = ReadPool(db_url, DatabaseSettings(read_pool_size=2, statement_timeout_ms=200))
    yield reads
    await reads.close()


async def test_a_pool_reads_what_is_committed_and_a_session_reader_what_is_not(pool, sessions):
    async with sessions.begin() as session:
        await session.execute(
            text(
                "INSERT INTO project (id, name, description, created_at) "
                "VALUES (gen_random_uuid(), 'pending', '', now())"
            )
        )
        names = {"names": ["default", "pending"]}
        assert await SessionReader(session).all(SQL, names) == [("pending",)]
        assert await pool.all(SQL, names) == []  # not committed yet
    assert await pool.all(SQL, names) == [("pending",)]
    assert await pool.one(SQL, {"names": ["nothing"]}) is None


async def test_a_failed_statement_closes_its_connection_and_the_next_read_works(pool):
    assert await pool.one("SELECT 1") == (1,)
    (kept,) = pool._idle
    with pytest.raises(psycopg.errors.QueryCanceled):
        await pool.one("SELECT pg_sleep(5)")  # over the 200 ms statement timeout
    assert kept.closed
    assert pool._idle == []  # closed, not kept
    with pytest.raises(psycopg.errors.UndefinedTable):
        await pool.one("SELECT * FROM no_such_table")
    assert pool._idle == []
    assert await pool.one("SELECT 1") == (1,)


async def test_at_most_size_connections_are_open_at_once(pool, db_url):
    import asyncio

    await asyncio.gather(*(pool.one("SELECT pg_sleep(0.05)") for _ in range(6)))
    assert len(pool._idle) == 2
    await pool.close()
    assert pool._idle == []
