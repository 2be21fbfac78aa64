"""Knowledge hub: sources, documents, chunks, embeddings, code examples, crawl frontier.

The per-model HNSW indexes on `knowledge_embedding` are not created here: an index needs a fixed
dimension, so the embedding job creates one partial index per model when it first stores it.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from pgvector.sqlalchemy import Vector
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHUNK_TSV = (
    "setweight(to_tsvector('english', coalesce(title, '')), 'A') || "
    "setweight(to_tsvector('english', coalesce(heading, '')), 'B') || "
    "setweight(to_tsvector('english', coalesce(text, '')), 'C')"
)
EXAMPLE_TSV = (
    "setweight(to_tsvector('english', coalesce(summary, '')), 'A') || "
    "setweight(to_tsvector('english', coalesce(context, '')), 'B') || "
    "setweight(to_tsvector('simple', coalesce(code, '')), 'C')"
)


def upgrade() -> None:
    op.create_table(
        "knowledge_lexeme",
        sa.Column("lexeme", sa.Text(), nullable=False),
        sa.Column("df", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("lexeme", name=op.f("pk_knowledge_lexeme")),
    )
    op.create_table(
        "knowledge_source",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("location", sa.Text(), nullable=False),
        sa.Column("settings", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("embed_model", sa.String(length=200), nullable=True),
        sa.Column("discovered", sa.Integer(), nullable=False),
        sa.Column("fetched", sa.Integer(), nullable=False),
        sa.Column("chunked", sa.Integer(), nullable=False),
        sa.Column("embedded", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("document_count", sa.Integer(), nullable=False),
        sa.Column("chunk_count", sa.Integer(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.BigInteger(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_refresh_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["user.id"],
            name=op.f("fk_knowledge_source_created_by_user"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_knowledge_source_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_source")),
        sa.UniqueConstraint("project_id", "name", name=op.f("uq_knowledge_source_project_id")),
    )
    op.create_index(
        op.f("ix_knowledge_source_project_id"), "knowledge_source", ["project_id"], unique=False
    )
    op.create_table(
        "knowledge_crawl_url",
        sa.Column("source_id", sa.Uuid(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("depth", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["knowledge_source.id"],
            name=op.f("fk_knowledge_crawl_url_source_id_knowledge_source"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("source_id", "url", name=op.f("pk_knowledge_crawl_url")),
    )
    op.create_table(
        "knowledge_document",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("source_id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("uri", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("content_type", sa.String(length=32), nullable=False),
        sa.Column("language", sa.String(length=40), nullable=True),
        sa.Column("etag", sa.String(length=300), nullable=True),
        sa.Column("last_modified", sa.String(length=100), nullable=True),
        sa.Column("content_hash", sa.String(length=64), nullable=True),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("seen_generation", sa.Integer(), nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["knowledge_source.id"],
            name=op.f("fk_knowledge_document_source_id_knowledge_source"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_document")),
        sa.UniqueConstraint("source_id", "uri", name=op.f("uq_knowledge_document_source_id")),
    )
    op.create_index(
        op.f("ix_knowledge_document_project_id"), "knowledge_document", ["project_id"], unique=False
    )
    op.create_table(
        "knowledge_chunk",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("source_id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("heading_path", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("heading", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("start_offset", sa.Integer(), nullable=False),
        sa.Column("end_offset", sa.Integer(), nullable=False),
        sa.Column("content_type", sa.String(length=32), nullable=False),
        sa.Column("language", sa.String(length=40), nullable=True),
        sa.Column(
            "tsv",
            postgresql.TSVECTOR(),
            sa.Computed(
                CHUNK_TSV,
                persisted=True,
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["knowledge_document.id"],
            name=op.f("fk_knowledge_chunk_document_id_knowledge_document"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_chunk")),
    )
    op.create_index(
        "ix_knowledge_chunk_document_id_position",
        "knowledge_chunk",
        ["document_id", "position"],
        unique=False,
    )
    op.create_index(
        op.f("ix_knowledge_chunk_project_id"), "knowledge_chunk", ["project_id"], unique=False
    )
    op.create_index(
        op.f("ix_knowledge_chunk_source_id"), "knowledge_chunk", ["source_id"], unique=False
    )
    op.create_index(
        "ix_knowledge_chunk_tsv", "knowledge_chunk", ["tsv"], unique=False, postgresql_using="gin"
    )
    op.create_table(
        "knowledge_code_example",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("chunk_id", sa.Uuid(), nullable=True),
        sa.Column("source_id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("language", sa.String(length=40), nullable=True),
        sa.Column("heading_path", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("context", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "tsv",
            postgresql.TSVECTOR(),
            sa.Computed(
                EXAMPLE_TSV,
                persisted=True,
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["chunk_id"],
            ["knowledge_chunk.id"],
            name=op.f("fk_knowledge_code_example_chunk_id_knowledge_chunk"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["knowledge_document.id"],
            name=op.f("fk_knowledge_code_example_document_id_knowledge_document"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_code_example")),
    )
    op.create_index(
        op.f("ix_knowledge_code_example_document_id"),
        "knowledge_code_example",
        ["document_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_knowledge_code_example_project_id"),
        "knowledge_code_example",
        ["project_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_knowledge_code_example_source_id"),
        "knowledge_code_example",
        ["source_id"],
        unique=False,
    )
    op.create_index(
        "ix_knowledge_code_example_tsv",
        "knowledge_code_example",
        ["tsv"],
        unique=False,
        postgresql_using="gin",
    )
    op.create_table(
        "knowledge_embedding",
        sa.Column("chunk_id", sa.Uuid(), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("dimension", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("vector", Vector(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["chunk_id"],
            ["knowledge_chunk.id"],
            name=op.f("fk_knowledge_embedding_chunk_id_knowledge_chunk"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("chunk_id", "model", name=op.f("pk_knowledge_embedding")),
    )
    op.create_index(
        "ix_knowledge_embedding_source_id_model",
        "knowledge_embedding",
        ["source_id", "model"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_table("knowledge_lexeme")
    op.drop_table("knowledge_embedding")
    op.drop_table("knowledge_code_example")
    op.drop_table("knowledge_chunk")
    op.drop_table("knowledge_document")
    op.drop_table("knowledge_crawl_url")
    op.drop_table("knowledge_source")
