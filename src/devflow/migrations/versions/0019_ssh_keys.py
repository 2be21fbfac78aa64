"""SSH keys: users' public keys, which authenticate them to DevFlow's SSH server for git.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04 17:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "repos_ssh_key",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("key_type", sa.String(length=64), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user.id"],
            name=op.f("fk_repos_ssh_key_user_id_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_repos_ssh_key")),
        sa.UniqueConstraint("fingerprint", name=op.f("uq_repos_ssh_key_fingerprint")),
    )
    op.create_index(op.f("ix_repos_ssh_key_user_id"), "repos_ssh_key", ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_repos_ssh_key_user_id"), table_name="repos_ssh_key")
    op.drop_table("repos_ssh_key")
