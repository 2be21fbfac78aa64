"""LLM client: usage rows, response and embedding caches, monthly budget ledgers.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "llm_budget_ledger",
        sa.Column("scope", sa.String(length=300), nullable=False),
        sa.Column("period", sa.Date(), nullable=False),
        sa.Column("spent", sa.Numeric(precision=18, scale=9), nullable=False),
        sa.Column("reserved", sa.Numeric(precision=18, scale=9), nullable=False),
        sa.Column("notified_pct", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "period", name=op.f("pk_llm_budget_ledger")),
    )
    op.create_table(
        "llm_cache_entry",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("provider", sa.String(length=100), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("response", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_llm_cache_entry")),
    )
    op.create_index(
        op.f("ix_llm_cache_entry_expires_at"), "llm_cache_entry", ["expires_at"], unique=False
    )
    op.create_table(
        "llm_embedding_cache_entry",
        sa.Column("model", sa.String(length=300), nullable=False),
        sa.Column("text_hash", sa.String(length=64), nullable=False),
        sa.Column("embedding", postgresql.ARRAY(sa.REAL()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("model", "text_hash", name=op.f("pk_llm_embedding_cache_entry")),
    )
    op.create_index(
        op.f("ix_llm_embedding_cache_entry_expires_at"),
        "llm_embedding_cache_entry",
        ["expires_at"],
        unique=False,
    )
    op.create_table(
        "llm_usage",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("project", sa.String(length=64), nullable=True),
        sa.Column("workflow", sa.String(length=200), nullable=True),
        sa.Column("feature", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("alias", sa.String(length=200), nullable=False),
        sa.Column("provider", sa.String(length=100), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("tokens_in", sa.Integer(), nullable=False),
        sa.Column("tokens_out", sa.Integer(), nullable=False),
        sa.Column("cached", sa.Boolean(), nullable=False),
        sa.Column("cost", sa.Numeric(precision=18, scale=9), nullable=False),
        sa.Column("latency_ms", sa.Double(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_llm_usage")),
    )
    op.create_index(op.f("ix_llm_usage_created_at"), "llm_usage", ["created_at"], unique=False)
    op.create_index(
        "ix_llm_usage_project_created_at", "llm_usage", ["project", "created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_llm_usage_project_created_at", table_name="llm_usage")
    op.drop_index(op.f("ix_llm_usage_created_at"), table_name="llm_usage")
    op.drop_table("llm_usage")
    op.drop_index(
        op.f("ix_llm_embedding_cache_entry_expires_at"), table_name="llm_embedding_cache_entry"
    )
    op.drop_table("llm_embedding_cache_entry")
    op.drop_index(op.f("ix_llm_cache_entry_expires_at"), table_name="llm_cache_entry")
    op.drop_table("llm_cache_entry")
    op.drop_table("llm_budget_ledger")
