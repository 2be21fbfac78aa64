"""Pull requests outlive the fork their head was in: `repos_pull.head_repository_id` becomes
nullable with ON DELETE SET NULL (it was CASCADE, so deleting a fork deleted the pull requests
from it in other repositories, history and all). Deleting a fork now closes its open pull
requests first (`repos.pulls.service.close_pulls_from`).

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-08 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FK = "fk_repos_pull_head_repository_id_repos_repository"


def _foreign_key(ondelete: str) -> None:
    op.drop_constraint(op.f(_FK), "repos_pull", type_="foreignkey")
    op.create_foreign_key(
        op.f(_FK),
        "repos_pull",
        "repos_repository",
        ["head_repository_id"],
        ["id"],
        ondelete=ondelete,
    )


def upgrade() -> None:
    op.alter_column("repos_pull", "head_repository_id", existing_type=sa.Uuid(), nullable=True)
    _foreign_key("SET NULL")


def downgrade() -> None:
    # Before 0023 a deleted fork took its pull requests with it: those that outlived one go.
    op.execute("DELETE FROM repos_pull WHERE head_repository_id IS NULL")
    _foreign_key("CASCADE")
    op.alter_column("repos_pull", "head_repository_id", existing_type=sa.Uuid(), nullable=False)
