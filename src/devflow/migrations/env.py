"""Alembic environment: one linear history for every domain's tables."""

from __future__ import annotations

import re
from typing import Any

from alembic import context
from sqlalchemy import create_engine, pool

from devflow.all_models import metadata

config = context.config

# The knowledge embedder creates one partial HNSW index per embedding model when it first stores
# that model's vectors (`devflow.knowledge.models.index_name_for`): a vector index needs a fixed
# dimension, which no migration can know. They are data-driven, not drift.
RUNTIME_INDEX = re.compile(r"ix_knowledge_embedding_hnsw_[0-9a-f]{16}")


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """Leave out of autogenerate what migrations do not own.

    procrastinate's own tables (its schema ships with it) and the vector indexes created at run
    time.
    """
    del parent_names
    if name is None:
        return True
    if type_ == "table":
        return not name.startswith("procrastinate_")
    if type_ == "index":
        return RUNTIME_INDEX.fullmatch(name) is None
    return True


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
