"""Git hosting, first increment: repositories in projects and the record of their pushes.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "repos_repository",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=2000), nullable=False),
        sa.Column("visibility", sa.String(length=16), nullable=False),
        sa.Column("default_branch", sa.String(length=255), nullable=False),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("last_pushed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["user.id"],
            name=op.f("fk_repos_repository_created_by_user"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_repos_repository_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_repos_repository")),
        sa.UniqueConstraint("project_id", "name", name=op.f("uq_repos_repository_project_id")),
    )
    op.create_index(
        op.f("ix_repos_repository_project_id"), "repos_repository", ["project_id"], unique=False
    )
    op.create_table(
        "repos_push",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("repository_id", sa.Uuid(), nullable=False),
        sa.Column("pusher_id", sa.Uuid(), nullable=True),
        sa.Column("pushed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("refs", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.ForeignKeyConstraint(
            ["pusher_id"],
            ["user.id"],
            name=op.f("fk_repos_push_pusher_id_user"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repos_repository.id"],
            name=op.f("fk_repos_push_repository_id_repos_repository"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_repos_push")),
    )
    op.create_index(
        op.f("ix_repos_push_repository_id"), "repos_push", ["repository_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_repos_push_repository_id"), table_name="repos_push")
    op.drop_table("repos_push")
    op.drop_index(op.f("ix_repos_repository_project_id"), table_name="repos_repository")
    op.drop_table("repos_repository")
