"""Imports, pull mirrors and forks: `repos_repository.is_mirror` (a mirror refuses pushes),
`repos_mirror` (where a pull mirror fetches from and how often) and
`repos_repository.forked_from_id` (the repository a fork was copied from).

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-04 17:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "repos_repository",
        sa.Column("is_mirror", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.add_column("repos_repository", sa.Column("forked_from_id", sa.Uuid(), nullable=True))
    op.create_foreign_key(
        op.f("fk_repos_repository_forked_from_id_repos_repository"),
        "repos_repository",
        "repos_repository",
        ["forked_from_id"],
        ["id"],
        ondelete="SET NULL",
    )
    op.create_index(
        op.f("ix_repos_repository_forked_from_id"),
        "repos_repository",
        ["forked_from_id"],
        unique=False,
    )
    op.create_table(
        "repos_mirror",
        sa.Column("repository_id", sa.Uuid(), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("interval_seconds", sa.Integer(), nullable=False),
        sa.Column("next_fetch_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_fetched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=2000), nullable=True),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repos_repository.id"],
            name=op.f("fk_repos_mirror_repository_id_repos_repository"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("repository_id", name=op.f("pk_repos_mirror")),
    )
    op.create_index(
        op.f("ix_repos_mirror_next_fetch_at"), "repos_mirror", ["next_fetch_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_repos_mirror_next_fetch_at"), table_name="repos_mirror")
    op.drop_table("repos_mirror")
    op.drop_index(op.f("ix_repos_repository_forked_from_id"), table_name="repos_repository")
    op.drop_constraint(
        op.f("fk_repos_repository_forked_from_id_repos_repository"),
        "repos_repository",
        type_="foreignkey",
    )
    op.drop_column("repos_repository", "forked_from_id")
    op.drop_column("repos_repository", "is_mirror")
