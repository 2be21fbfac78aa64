"""Webhooks: hooks of a project or a repository, their deliveries and each attempt; and the
trigger that queues a dispatch job for every event of a project that has an active hook, in the
event's own transaction (docs/decisions/0020-webhooks.md).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04 16:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The job is `repos:dispatch_webhooks` (devflow.repos.webhooks.jobs), deferred as
# core.jobs.defer does: procrastinate's own function, in the inserting transaction, so the job
# exists exactly when the event does. Progress events are many and never delivered.
DISPATCH_FUNCTION = """
CREATE FUNCTION repos_webhook_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM repos_webhook WHERE project_id = NEW.project_id AND active) THEN
        PERFORM procrastinate_defer_jobs_v1(ARRAY[ROW(
            'default', 'repos:dispatch_webhooks', 0, NULL, NULL,
            jsonb_build_object('event_id', NEW.id), NULL
        )::procrastinate_job_to_defer_v1]);
    END IF;
    RETURN NULL;
END
$$
"""
DISPATCH_TRIGGER = """
CREATE TRIGGER repos_webhook_event AFTER INSERT ON event FOR EACH ROW
WHEN (NEW.project_id IS NOT NULL AND NEW.type NOT LIKE '%progress')
EXECUTE FUNCTION repos_webhook_event()
"""


def upgrade() -> None:
    op.create_table(
        "repos_webhook",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("repository_id", sa.Uuid(), nullable=True),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("secret", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=16), nullable=False),
        sa.Column("events", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["user.id"],
            name=op.f("fk_repos_webhook_created_by_user"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_repos_webhook_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repos_repository.id"],
            name=op.f("fk_repos_webhook_repository_id_repos_repository"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_repos_webhook")),
    )
    op.create_index(
        op.f("ix_repos_webhook_project_id"), "repos_webhook", ["project_id"], unique=False
    )
    op.create_index(
        op.f("ix_repos_webhook_repository_id"), "repos_webhook", ["repository_id"], unique=False
    )
    op.create_table(
        "repos_webhook_delivery",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("hook_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=True),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(length=50), nullable=False),
        sa.Column("action", sa.String(length=50), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["hook_id"],
            ["repos_webhook.id"],
            name=op.f("fk_repos_webhook_delivery_hook_id_repos_webhook"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_repos_webhook_delivery")),
        sa.UniqueConstraint(
            "hook_id", "event_id", "seq", name=op.f("uq_repos_webhook_delivery_hook_id")
        ),
    )
    op.create_index(
        op.f("ix_repos_webhook_delivery_hook_id"),
        "repos_webhook_delivery",
        ["hook_id"],
        unique=False,
    )
    op.create_table(
        "repos_webhook_attempt",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("delivery_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("manual", sa.Boolean(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("request_headers", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("response_headers", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("response_body", sa.Text(), nullable=True),
        sa.Column("error", sa.String(length=2000), nullable=True),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["repos_webhook_delivery.id"],
            name=op.f("fk_repos_webhook_attempt_delivery_id_repos_webhook_delivery"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_repos_webhook_attempt")),
    )
    op.create_index(
        op.f("ix_repos_webhook_attempt_delivery_id"),
        "repos_webhook_attempt",
        ["delivery_id"],
        unique=False,
    )
    op.execute(DISPATCH_FUNCTION)
    op.execute(DISPATCH_TRIGGER)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS repos_webhook_event ON event")
    op.execute("DROP FUNCTION IF EXISTS repos_webhook_event()")
    op.drop_index(op.f("ix_repos_webhook_attempt_delivery_id"), table_name="repos_webhook_attempt")
    op.drop_table("repos_webhook_attempt")
    op.drop_index(op.f("ix_repos_webhook_delivery_hook_id"), table_name="repos_webhook_delivery")
    op.drop_table("repos_webhook_delivery")
    op.drop_index(op.f("ix_repos_webhook_repository_id"), table_name="repos_webhook")
    op.drop_index(op.f("ix_repos_webhook_project_id"), table_name="repos_webhook")
    op.drop_table("repos_webhook")
