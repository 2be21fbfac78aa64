"""Pull requests: per-repository numbers, the requests, their reviews and line comments.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _user_fk(table: str, column: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], ["user.id"], name=op.f(f"fk_{table}_{column}_user"), ondelete="SET NULL"
    )


def upgrade() -> None:
    op.create_table(
        "repos_pull_counter",
        sa.Column("repository_id", sa.Uuid(), nullable=False),
        sa.Column("last_number", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repos_repository.id"],
            name=op.f("fk_repos_pull_counter_repository_id_repos_repository"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("repository_id", name=op.f("pk_repos_pull_counter")),
    )
    op.create_table(
        "repos_pull",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("repository_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("draft", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("head_repository_id", sa.Uuid(), nullable=False),
        sa.Column("head_branch", sa.String(length=255), nullable=False),
        sa.Column("base_branch", sa.String(length=255), nullable=False),
        sa.Column("head_sha", sa.String(length=40), nullable=False),
        sa.Column("base_sha", sa.String(length=40), nullable=False),
        sa.Column("mergeable", sa.Boolean(), nullable=True),
        sa.Column("conflicts", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("checked_base", sa.String(length=40), nullable=True),
        sa.Column("checked_head", sa.String(length=40), nullable=True),
        sa.Column("author_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("merged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("merged_by", sa.Uuid(), nullable=True),
        sa.Column("merge_method", sa.String(length=16), nullable=True),
        sa.Column("merge_commit_sha", sa.String(length=40), nullable=True),
        _user_fk("repos_pull", "author_id"),
        _user_fk("repos_pull", "merged_by"),
        sa.ForeignKeyConstraint(
            ["head_repository_id"],
            ["repos_repository.id"],
            name=op.f("fk_repos_pull_head_repository_id_repos_repository"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repos_repository.id"],
            name=op.f("fk_repos_pull_repository_id_repos_repository"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_repos_pull")),
        sa.UniqueConstraint("repository_id", "number", name=op.f("uq_repos_pull_repository_id")),
    )
    op.create_index(
        op.f("ix_repos_pull_repository_id"), "repos_pull", ["repository_id"], unique=False
    )
    op.create_table(
        "repos_pull_review",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("pull_id", sa.Uuid(), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("commit_sha", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _user_fk("repos_pull_review", "author_id"),
        sa.ForeignKeyConstraint(
            ["pull_id"],
            ["repos_pull.id"],
            name=op.f("fk_repos_pull_review_pull_id_repos_pull"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_repos_pull_review")),
    )
    op.create_index(
        op.f("ix_repos_pull_review_pull_id"), "repos_pull_review", ["pull_id"], unique=False
    )
    op.create_table(
        "repos_pull_comment",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("pull_id", sa.Uuid(), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("path", sa.String(length=1000), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("commit_sha", sa.String(length=40), nullable=False),
        sa.Column("line_text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _user_fk("repos_pull_comment", "author_id"),
        sa.ForeignKeyConstraint(
            ["pull_id"],
            ["repos_pull.id"],
            name=op.f("fk_repos_pull_comment_pull_id_repos_pull"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_repos_pull_comment")),
    )
    op.create_index(
        op.f("ix_repos_pull_comment_pull_id"), "repos_pull_comment", ["pull_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_repos_pull_comment_pull_id"), table_name="repos_pull_comment")
    op.drop_table("repos_pull_comment")
    op.drop_index(op.f("ix_repos_pull_review_pull_id"), table_name="repos_pull_review")
    op.drop_table("repos_pull_review")
    op.drop_index(op.f("ix_repos_pull_repository_id"), table_name="repos_pull")
    op.drop_table("repos_pull")
    op.drop_table("repos_pull_counter")
