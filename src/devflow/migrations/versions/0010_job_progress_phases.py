"""A job's progress names its phase, the phase's unit and when it began, and keeps its counts.

Ingestion runs in phases that count different things (pages or files fetched, then chunks
embedded). With the phase and its start stored, the API gives each phase's rate and ETA, and a
client that starts watching half-way sees the same figures as one that watched from the start.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable without defaults: adding them rewrites nothing.
    op.add_column("job_progress", sa.Column("phase", sa.String(40)))
    op.add_column("job_progress", sa.Column("unit", sa.String(20)))
    op.add_column("job_progress", sa.Column("phase_started_at", sa.DateTime(timezone=True)))
    op.add_column("job_progress", sa.Column("counts", postgresql.JSONB()))


def downgrade() -> None:
    for column in ("counts", "phase_started_at", "unit", "phase"):
        op.drop_column("job_progress", column)
