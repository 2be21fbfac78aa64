"""Alembic environment: one linear history for every domain's tables."""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import create_engine, pool

from devflow.all_models import metadata

config = context.config


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """Leave procrastinate's own objects out of autogenerate (its schema ships with it)."""
    del parent_names
    return not (type_ == "table" and name is not None and name.startswith("procrastinate_"))


def run_migrations() -> None:
    """Run migrations on the connection given by `devflow.core.migrate`, or on the URL."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "", poolclass=pool.NullPool)
    with engine.connect() as conn:
        _run(conn)


def _run(connection: Any) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        include_name=include_name,
        compare_type=True,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
