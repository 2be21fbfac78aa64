"""Secrets: `secrets_secret` (a name in a scope and environment), `secrets_version` (its sealed
values or 1Password references), `secrets_key` (key ids in use, with check values, never keys),
`secrets_audit` (the hash-chained access log) and `secrets_rotation` (rotation policies).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-04 19:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "secrets_secret",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tier", sa.String(length=8), nullable=False),
        sa.Column("scope", sa.String(length=64), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=True),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("environment", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["project_id"], ["project.id"],
            name=op.f("fk_secrets_secret_project_id_project"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user.id"], name=op.f("fk_secrets_secret_user_id_user"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["user.id"], name=op.f("fk_secrets_secret_created_by_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_secrets_secret")),
        sa.UniqueConstraint(
            "scope", "environment", "name",
            name=op.f("uq_secrets_secret_scope"),
        ),
    )  # fmt: skip
    op.create_index(
        op.f("ix_secrets_secret_project_id"), "secrets_secret", ["project_id"], unique=False
    )
    op.create_index(op.f("ix_secrets_secret_user_id"), "secrets_secret", ["user_id"], unique=False)
    op.create_table(
        "secrets_version",
        sa.Column("secret_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=True),
        sa.Column("key_id", sa.String(length=64), nullable=True),
        sa.Column("reference", sa.String(length=1000), nullable=True),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["secret_id"], ["secrets_secret.id"],
            name=op.f("fk_secrets_version_secret_id_secrets_secret"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["user.id"], name=op.f("fk_secrets_version_created_by_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("secret_id", "version", name=op.f("pk_secrets_version")),
    )  # fmt: skip
    op.create_index(op.f("ix_secrets_version_key_id"), "secrets_version", ["key_id"], unique=False)
    op.create_table(
        "secrets_key",
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_secrets_key")),
    )
    op.create_table(
        "secrets_audit",
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("token_id", sa.Uuid(), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("scope", sa.String(length=200), nullable=False),
        sa.Column("environment", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("request_id", sa.String(length=100), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_secrets_audit")),
        sa.UniqueConstraint("hash", name=op.f("uq_secrets_audit_hash")),
    )
    op.create_index(op.f("ix_secrets_audit_at"), "secrets_audit", ["at"], unique=False)
    op.create_index(op.f("ix_secrets_audit_action"), "secrets_audit", ["action"], unique=False)
    op.create_index(op.f("ix_secrets_audit_name"), "secrets_audit", ["name"], unique=False)
    op.create_table(
        "secrets_rotation",
        sa.Column("secret_id", sa.Uuid(), nullable=False),
        sa.Column("rotator", sa.String(length=32), nullable=False),
        sa.Column("interval_seconds", sa.Integer(), nullable=False),
        sa.Column("overlap_seconds", sa.Integer(), nullable=False),
        sa.Column("verify", sa.Boolean(), nullable=False),
        sa.Column("revoke", sa.Boolean(), nullable=False),
        sa.Column("next_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_rotated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("revoke_after", sa.DateTime(timezone=True), nullable=True),
        sa.Column("previous", sa.String(length=200), nullable=True),
        sa.Column("last_error", sa.String(length=1000), nullable=True),
        sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["secret_id"], ["secrets_secret.id"],
            name=op.f("fk_secrets_rotation_secret_id_secrets_secret"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("secret_id", name=op.f("pk_secrets_rotation")),
    )  # fmt: skip
    op.create_index(
        op.f("ix_secrets_rotation_next_due_at"), "secrets_rotation", ["next_due_at"], unique=False
    )
    # The audit log is append-only for everyone, DevFlow included: rows are never changed or
    # removed (a tampered row is still caught by `devflow secrets audit --verify`).
    op.execute(
        """
        CREATE FUNCTION secrets_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'secrets_audit is append-only';
        END $$;
        CREATE TRIGGER secrets_audit_append_only BEFORE UPDATE OR DELETE ON secrets_audit
            FOR EACH ROW EXECUTE FUNCTION secrets_audit_append_only();
        """
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER secrets_audit_append_only ON secrets_audit")
    op.execute("DROP FUNCTION secrets_audit_append_only()")
    op.drop_table("secrets_rotation")
    op.drop_table("secrets_audit")
    op.drop_table("secrets_key")
    op.drop_table("secrets_version")
    op.drop_table("secrets_secret")
