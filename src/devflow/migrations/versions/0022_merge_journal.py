"""The merge journal of pull requests: `repos_merge_journal`, one row per merge between its
push to the base branch and the commit of its rows, so that a crash there can be undone.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-05 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "repos_merge_journal",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("repository_id", sa.Uuid(), nullable=False),
        sa.Column("pull_number", sa.Integer(), nullable=False),
        sa.Column("base_ref", sa.String(length=300), nullable=False),
        sa.Column("old_sha", sa.String(length=40), nullable=False),
        sa.Column("new_sha", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repos_repository.id"],
            name=op.f("fk_repos_merge_journal_repository_id_repos_repository"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_repos_merge_journal")),
    )
    op.create_index(
        op.f("ix_repos_merge_journal_repository_id"),
        "repos_merge_journal",
        ["repository_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_repos_merge_journal_repository_id"), table_name="repos_merge_journal")
    op.drop_table("repos_merge_journal")
