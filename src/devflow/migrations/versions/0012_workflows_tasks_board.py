"""Workflows, first increment: board columns, tasks (numbered per project), dependencies,
comments and the history of changes.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _fk(table: str, column: str, target: str, ondelete: str | None) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column],
        [f"{target}.id"],
        name=op.f(f"fk_{table}_{column}_{target}"),
        ondelete=ondelete,
    )


def upgrade() -> None:
    op.create_table(
        "board_column",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("wip_limit", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "wip_limit IS NULL OR wip_limit > 0", name=op.f("ck_board_column_wip_limit_positive")
        ),
        _fk("board_column", "project_id", "project", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_board_column")),
    )
    op.create_index(
        "uq_board_column_project_name",
        "board_column",
        ["project_id", sa.literal_column("lower(name)")],
        unique=True,
    )
    op.create_table(
        "task_counter",
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("last_number", sa.Integer(), nullable=False),
        _fk("task_counter", "project_id", "project", "CASCADE"),
        sa.PrimaryKeyConstraint("project_id", name=op.f("pk_task_counter")),
    )
    op.create_table(
        "task",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("done_definition", sa.Text(), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.SmallInteger(), nullable=False),
        sa.Column("labels", postgresql.ARRAY(sa.String(length=50)), nullable=False),
        sa.Column("column_id", sa.Uuid(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("rank", sa.Numeric(), nullable=False),
        sa.Column("assignee_id", sa.Uuid(), nullable=True),
        sa.Column("assignee_kind", sa.String(length=16), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("parent_id", sa.Uuid(), nullable=True),
        sa.Column("milestone", sa.String(length=100), nullable=True),
        sa.Column("phase_id", sa.Uuid(), nullable=True),
        sa.Column("run_id", sa.Uuid(), nullable=True),
        sa.Column("links", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        _fk("task", "project_id", "project", "CASCADE"),
        _fk("task", "column_id", "board_column", None),
        _fk("task", "assignee_id", "user", "SET NULL"),
        _fk("task", "parent_id", "task", "SET NULL"),
        _fk("task", "created_by", "user", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task")),
        sa.UniqueConstraint("project_id", "number", name=op.f("uq_task_project_id")),
    )
    op.create_index("ix_task_column_rank", "task", ["column_id", "rank"])
    op.create_index(
        "ix_task_queue",
        "task",
        ["project_id", sa.literal_column("priority DESC"), "number"],
        postgresql_where=sa.text("state = 'open'"),
    )
    op.create_index(
        "ix_task_lease",
        "task",
        ["lease_expires_at"],
        postgresql_where=sa.text("lease_expires_at IS NOT NULL"),
    )
    op.create_index(op.f("ix_task_assignee_id"), "task", ["assignee_id"])
    op.create_index(op.f("ix_task_parent_id"), "task", ["parent_id"])
    op.create_table(
        "task_dependency",
        sa.Column("task_id", sa.Uuid(), nullable=False),
        sa.Column("blocker_id", sa.Uuid(), nullable=False),
        _fk("task_dependency", "task_id", "task", "CASCADE"),
        _fk("task_dependency", "blocker_id", "task", "CASCADE"),
        sa.PrimaryKeyConstraint("task_id", "blocker_id", name=op.f("pk_task_dependency")),
    )
    op.create_index(op.f("ix_task_dependency_blocker_id"), "task_dependency", ["blocker_id"])
    op.create_table(
        "task_comment",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("task_id", sa.Uuid(), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _fk("task_comment", "task_id", "task", "CASCADE"),
        _fk("task_comment", "author_id", "user", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_comment")),
    )
    op.create_index(op.f("ix_task_comment_task_id"), "task_comment", ["task_id"])
    op.create_table(
        "task_change",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("task_id", sa.Uuid(), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("field", sa.String(length=32), nullable=False),
        sa.Column("old", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("new", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("note", sa.String(length=200), nullable=True),
        _fk("task_change", "task_id", "task", "CASCADE"),
        _fk("task_change", "actor_id", "user", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_change")),
    )
    op.create_index(op.f("ix_task_change_task_id"), "task_change", ["task_id"])


def downgrade() -> None:
    op.drop_table("task_change")
    op.drop_table("task_comment")
    op.drop_table("task_dependency")
    op.drop_table("task")
    op.drop_table("task_counter")
    op.drop_table("board_column")
