"""Workflow definitions (versioned), runs, their approvals and engine steps; a task names its
run and phase (an id of the run's definition) instead of an unused phase uuid.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 15:32:02.711962
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "run_counter",
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("last_number", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_run_counter_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("project_id", name=op.f("pk_run_counter")),
    )
    op.create_table(
        "workflow_definition",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("spec", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("origin_ref", sa.String(length=400), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["user.id"],
            name=op.f("fk_workflow_definition_created_by_user"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_workflow_definition_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow_definition")),
        sa.UniqueConstraint(
            "project_id", "name", "version", name=op.f("uq_workflow_definition_project_id")
        ),
    )
    op.create_table(
        "workflow_run",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("definition_id", sa.Uuid(), nullable=False),
        sa.Column("goal", sa.Text(), nullable=False),
        sa.Column("params", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("repository", sa.String(length=100), nullable=True),
        sa.Column("base_branch", sa.String(length=255), nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("paused_from", sa.String(length=20), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["user.id"],
            name=op.f("fk_workflow_run_created_by_user"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["definition_id"],
            ["workflow_definition.id"],
            name=op.f("fk_workflow_run_definition_id_workflow_definition"),
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_workflow_run_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow_run")),
        sa.UniqueConstraint("project_id", "number", name=op.f("uq_workflow_run_project_id")),
    )
    op.create_index(op.f("ix_workflow_run_state"), "workflow_run", ["state"], unique=False)
    op.create_table(
        "run_step",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("args", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("output", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["workflow_run.id"],
            name=op.f("fk_run_step_run_id_workflow_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_run_step")),
    )
    op.create_index(
        "ix_run_step_pending",
        "run_step",
        ["not_before"],
        unique=False,
        postgresql_where=sa.text("state = 'pending'"),
    )
    op.create_index(op.f("ix_run_step_run_id"), "run_step", ["run_id"], unique=False)
    op.create_table(
        "run_approval",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("task_id", sa.Uuid(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("phase", sa.String(length=64), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("on_timeout", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.Uuid(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["decided_by"],
            ["user.id"],
            name=op.f("fk_run_approval_decided_by_user"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["workflow_run.id"],
            name=op.f("fk_run_approval_run_id_workflow_run"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["task.id"], name=op.f("fk_run_approval_task_id_task"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_run_approval")),
    )
    op.create_index(
        "ix_run_approval_pending",
        "run_approval",
        ["run_id"],
        unique=False,
        postgresql_where=sa.text("state = 'pending'"),
    )
    op.add_column("task", sa.Column("phase", sa.String(length=64), nullable=True))
    op.add_column("task", sa.Column("phase_cap", sa.SmallInteger(), nullable=True))
    op.add_column("task", sa.Column("gate", sa.String(length=16), nullable=True))
    op.create_index(op.f("ix_task_run_id"), "task", ["run_id"], unique=False)
    # 0012 kept run ids without a table to point at: none can name a run yet.
    op.execute("UPDATE task SET run_id = NULL WHERE run_id IS NOT NULL")
    op.create_foreign_key(
        op.f("fk_task_run_id_workflow_run"),
        "task",
        "workflow_run",
        ["run_id"],
        ["id"],
        ondelete="SET NULL",
    )
    op.drop_column("task", "phase_id")


def downgrade() -> None:
    op.add_column("task", sa.Column("phase_id", sa.UUID(), autoincrement=False, nullable=True))
    op.drop_constraint(op.f("fk_task_run_id_workflow_run"), "task", type_="foreignkey")
    op.drop_index(op.f("ix_task_run_id"), table_name="task")
    op.drop_column("task", "gate")
    op.drop_column("task", "phase_cap")
    op.drop_column("task", "phase")
    op.drop_index(
        "ix_run_approval_pending",
        table_name="run_approval",
        postgresql_where=sa.text("state = 'pending'"),
    )
    op.drop_table("run_approval")
    op.drop_index(op.f("ix_run_step_run_id"), table_name="run_step")
    op.drop_index(
        "ix_run_step_pending", table_name="run_step", postgresql_where=sa.text("state = 'pending'")
    )
    op.drop_table("run_step")
    op.drop_index(op.f("ix_workflow_run_state"), table_name="workflow_run")
    op.drop_table("workflow_run")
    op.drop_table("workflow_definition")
    op.drop_table("run_counter")
