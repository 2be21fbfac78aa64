"""Git hosting: protected branch rules and commit statuses.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "repos_branch_rule",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("repository_id", sa.Uuid(), nullable=False),
        sa.Column("pattern", sa.String(length=255), nullable=False),
        sa.Column("no_force_push", sa.Boolean(), nullable=False),
        sa.Column("no_delete", sa.Boolean(), nullable=False),
        sa.Column("require_pull_request", sa.Boolean(), nullable=False),
        sa.Column("required_approvals", sa.Integer(), nullable=False),
        sa.Column("required_checks", postgresql.ARRAY(sa.String(length=255)), nullable=False),
        sa.Column("push_allow", postgresql.ARRAY(sa.String(length=64)), nullable=False),
        sa.Column("protected_files", postgresql.ARRAY(sa.String(length=500)), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repos_repository.id"],
            name=op.f("fk_repos_branch_rule_repository_id_repos_repository"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_repos_branch_rule")),
        sa.UniqueConstraint(
            "repository_id", "pattern", name=op.f("uq_repos_branch_rule_repository_id")
        ),
    )
    op.create_index(
        op.f("ix_repos_branch_rule_repository_id"),
        "repos_branch_rule",
        ["repository_id"],
        unique=False,
    )
    op.create_table(
        "repos_commit_status",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("repository_id", sa.Uuid(), nullable=False),
        sa.Column("sha", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("context", sa.String(length=255), nullable=False),
        sa.Column("target_url", sa.String(length=2000), nullable=True),
        sa.Column("description", sa.String(length=140), nullable=True),
        sa.Column("creator_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["creator_id"],
            ["user.id"],
            name=op.f("fk_repos_commit_status_creator_id_user"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repos_repository.id"],
            name=op.f("fk_repos_commit_status_repository_id_repos_repository"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_repos_commit_status")),
    )
    op.create_index(
        "ix_repos_commit_status_repository_id_sha",
        "repos_commit_status",
        ["repository_id", "sha", "context"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_repos_commit_status_repository_id_sha", table_name="repos_commit_status")
    op.drop_table("repos_commit_status")
    op.drop_index(op.f("ix_repos_branch_rule_repository_id"), table_name="repos_branch_rule")
    op.drop_table("repos_branch_rule")
