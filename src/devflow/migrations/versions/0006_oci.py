"""OCI registry: per-repository blob links, manifests (stored byte-exact as blobs) and tags.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _repo_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["repository_id"],
        ["registry_repository.id"],
        name=op.f(f"fk_{table}_repository_id_registry_repository"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "registry_oci_blob",
        sa.Column("repository_id", sa.Uuid(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _repo_fk("registry_oci_blob"),
        sa.ForeignKeyConstraint(
            ["sha256"],
            ["registry_blob.sha256"],
            name=op.f("fk_registry_oci_blob_sha256_registry_blob"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("repository_id", "sha256", name=op.f("pk_registry_oci_blob")),
    )
    op.create_index(op.f("ix_registry_oci_blob_sha256"), "registry_oci_blob", ["sha256"])
    op.create_table(
        "registry_oci_manifest",
        sa.Column("repository_id", sa.Uuid(), nullable=False),
        sa.Column("digest", sa.String(length=71), nullable=False),
        sa.Column("blob_sha256", sa.String(length=64), nullable=False),
        sa.Column("media_type", sa.String(length=255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("artifact_type", sa.String(length=255), nullable=True),
        sa.Column("subject", sa.String(length=71), nullable=True),
        sa.Column("blobs", postgresql.ARRAY(sa.String(length=64)), nullable=False),
        sa.Column("children", postgresql.ARRAY(sa.String(length=71)), nullable=False),
        sa.Column("annotations", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _repo_fk("registry_oci_manifest"),
        sa.ForeignKeyConstraint(
            ["blob_sha256"],
            ["registry_blob.sha256"],
            name=op.f("fk_registry_oci_manifest_blob_sha256_registry_blob"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("repository_id", "digest", name=op.f("pk_registry_oci_manifest")),
    )
    op.create_index(
        op.f("ix_registry_oci_manifest_blob_sha256"), "registry_oci_manifest", ["blob_sha256"]
    )
    op.create_index(
        "ix_registry_oci_manifest_subject", "registry_oci_manifest", ["repository_id", "subject"]
    )
    op.create_table(
        "registry_oci_tag",
        sa.Column("repository_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("digest", sa.String(length=71), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        _repo_fk("registry_oci_tag"),
        sa.PrimaryKeyConstraint("repository_id", "name", name=op.f("pk_registry_oci_tag")),
    )


def downgrade() -> None:
    op.drop_table("registry_oci_tag")
    op.drop_table("registry_oci_manifest")
    op.drop_table("registry_oci_blob")
