"""A dashboard session made from a pasted token records that token, so revoking it ends them.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "api_token",
        sa.Column(
            "parent_id", sa.Uuid(), sa.ForeignKey("api_token.id", ondelete="CASCADE"), nullable=True
        ),
    )
    op.create_index("ix_api_token_parent_id", "api_token", ["parent_id"])


def downgrade() -> None:
    op.drop_index("ix_api_token_parent_id", table_name="api_token")
    op.drop_column("api_token", "parent_id")
