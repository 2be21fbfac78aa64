"""Schema migrations (Alembic, one linear history) and database prerequisites."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import psycopg
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, pool

from devflow.core.config import mask_url
from devflow.core.db import libpq_url, sqlalchemy_url
from devflow.core.errors import Invalid, Unavailable

REQUIRED_EXTENSIONS = ("vector", "pg_trgm")


def alembic_config(url: str | None = None) -> Config:
    """Return an Alembic config pointing at DevFlow's migrations."""
    location = Path(str(resources.files("devflow") / "migrations"))
    config = Config()
    config.set_main_option("script_location", str(location))
    if url:
        config.set_main_option("sqlalchemy.url", sqlalchemy_url(url).replace("%", "%%"))
    return config


def head_revision() -> str:
    """Return the newest migration's revision id."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None  # noqa: S101 - the history is never empty
    return head


def check_connection(url: str, required: tuple[str, ...] = REQUIRED_EXTENSIONS) -> None:
    """Connect once and check the extensions DevFlow needs are available.

    Raises:
        Unavailable: the server cannot be reached or refuses the credentials (password masked).
        Invalid: pgvector or pg_trgm is not installed on the server.
    """
    try:
        with psycopg.connect(libpq_url(url), connect_timeout=5) as conn:
            rows = conn.execute(
                "SELECT name FROM pg_available_extensions WHERE name = ANY(%s)",
                (list(required),),
            ).fetchall()
    except psycopg.OperationalError as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise Unavailable(f"cannot connect to PostgreSQL at {mask_url(url)}: {reason}") from None
    missing = sorted(set(required) - {r[0] for r in rows})
    if missing:
        raise Invalid(
            f"PostgreSQL at {mask_url(url)} lacks the extension(s) {', '.join(missing)}. Install "
            "pgvector (https://github.com/pgvector/pgvector) and the contrib package for pg_trgm, "
            "or use the pgvector/pgvector:pg16 image."
        )


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database to `revision` (default: the newest)."""
    check_connection(url)
    engine = create_engine(sqlalchemy_url(url), poolclass=pool.NullPool)
    try:
        with engine.begin() as conn:
            # One migrator at a time when several servers start together.
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(373700001)")
            config = alembic_config(url)
            config.attributes["connection"] = conn
            command.upgrade(config, revision)
    finally:
        engine.dispose()


def current_revision(url: str) -> str | None:
    """Return the revision the database is at (None: never migrated)."""
    engine = create_engine(sqlalchemy_url(url), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def check_models(url: str) -> None:
    """Raise when the models and the migrations disagree (`alembic check`)."""
    command.check(alembic_config(url))
