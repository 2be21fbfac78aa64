"""Task similarity: vectors of tasks and comments (for duplicates and hybrid search), full-text
indexes of their text (for its keyword half), and a task's duplicate flag (`duplicate_of`, a
task number, with its similarity).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04 15:35:49.468022
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from pgvector.sqlalchemy import Vector

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TASK_DOCUMENT = (
    "(setweight(to_tsvector('english', title), 'A') || "
    "to_tsvector('english', (body || ' ') || done_definition))"
)


def upgrade() -> None:
    op.create_table(
        "task_embedding",
        sa.Column("task_id", sa.Uuid(), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("dimension", sa.Integer(), nullable=False),
        sa.Column("text_hash", sa.String(length=64), nullable=False),
        sa.Column("vector", Vector(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["task.id"],
            name=op.f("fk_task_embedding_task_id_task"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("task_id", name=op.f("pk_task_embedding")),
    )
    op.create_table(
        "task_comment_embedding",
        sa.Column("comment_id", sa.BigInteger(), nullable=False),
        sa.Column("task_id", sa.Uuid(), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("dimension", sa.Integer(), nullable=False),
        sa.Column("vector", Vector(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["comment_id"],
            ["task_comment.id"],
            name=op.f("fk_task_comment_embedding_comment_id_task_comment"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["task.id"],
            name=op.f("fk_task_comment_embedding_task_id_task"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("comment_id", name=op.f("pk_task_comment_embedding")),
    )
    op.create_index(
        op.f("ix_task_comment_embedding_task_id"), "task_comment_embedding", ["task_id"]
    )
    # The expressions `similar.search` matches on (models.TASK_DOCUMENT).
    op.create_index(
        "ix_task_document",
        "task",
        [sa.literal_column(TASK_DOCUMENT)],
        postgresql_using="gin",
    )
    op.create_index(
        "ix_task_comment_document",
        "task_comment",
        [sa.literal_column("to_tsvector('english', body)")],
        postgresql_using="gin",
    )
    # Nullable with no default: adding them rewrites nothing.
    op.add_column("task", sa.Column("duplicate_of", sa.Integer(), nullable=True))
    op.add_column("task", sa.Column("duplicate_score", sa.Float(), nullable=True))


def downgrade() -> None:
    op.drop_column("task", "duplicate_score")
    op.drop_column("task", "duplicate_of")
    op.drop_index("ix_task_comment_document", table_name="task_comment")
    op.drop_index("ix_task_document", table_name="task")
    op.drop_index(op.f("ix_task_comment_embedding_task_id"), table_name="task_comment_embedding")
    op.drop_table("task_comment_embedding")
    op.drop_table("task_embedding")
