"""Package registry: repositories, blobs, packages, versions, files, dependencies, tags.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_table(
        "registry_blob",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("md5", sa.String(length=32), nullable=False),
        sa.Column("sha1", sa.String(length=40), nullable=False),
        sa.Column("sha512", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_registry_blob")),
    )
    op.create_table(
        "registry_repository",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("format", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("visibility", sa.String(length=16), nullable=False),
        sa.Column("description", sa.String(length=2000), nullable=False),
        sa.Column("config", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["user.id"],
            name=op.f("fk_registry_repository_created_by_user"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_registry_repository_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_repository")),
        sa.UniqueConstraint("name", name=op.f("uq_registry_repository_name")),
    )
    op.create_index(
        op.f("ix_registry_repository_project_id"),
        "registry_repository",
        ["project_id"],
        unique=False,
    )
    op.create_table(
        "registry_package",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("repository_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=214), nullable=False),
        sa.Column("display_name", sa.String(length=214), nullable=False),
        sa.Column("summary", sa.String(length=1000), nullable=False),
        sa.Column("meta", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("downloads", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["registry_repository.id"],
            name=op.f("fk_registry_package_repository_id_registry_repository"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_package")),
        sa.UniqueConstraint(
            "repository_id", "name", name=op.f("uq_registry_package_repository_id")
        ),
    )
    op.create_index(
        "ix_registry_package_search",
        "registry_package",
        ["name", "summary"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"name": "gin_trgm_ops", "summary": "gin_trgm_ops"},
    )
    op.create_table(
        "registry_version",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("package_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.String(length=128), nullable=False),
        sa.Column("summary", sa.String(length=1000), nullable=False),
        sa.Column("meta", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("yanked", sa.Boolean(), nullable=False),
        sa.Column("yanked_reason", sa.Text(), nullable=True),
        sa.Column("deprecated", sa.Text(), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_by", sa.Uuid(), nullable=True),
        sa.Column("downloads", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["package_id"],
            ["registry_package.id"],
            name=op.f("fk_registry_version_package_id_registry_package"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["published_by"],
            ["user.id"],
            name=op.f("fk_registry_version_published_by_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_version")),
        sa.UniqueConstraint("package_id", "version", name=op.f("uq_registry_version_package_id")),
    )
    op.create_table(
        "registry_file",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("version_id", sa.Uuid(), nullable=False),
        sa.Column("repository_id", sa.Uuid(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("blob_sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("meta", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("metadata_sha256", sa.String(length=64), nullable=True),
        sa.Column("downloads", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["blob_sha256"],
            ["registry_blob.sha256"],
            name=op.f("fk_registry_file_blob_sha256_registry_blob"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["metadata_sha256"],
            ["registry_blob.sha256"],
            name=op.f("fk_registry_file_metadata_sha256_registry_blob"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["registry_repository.id"],
            name=op.f("fk_registry_file_repository_id_registry_repository"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["registry_version.id"],
            name=op.f("fk_registry_file_version_id_registry_version"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_file")),
        sa.UniqueConstraint(
            "repository_id", "filename", name=op.f("uq_registry_file_repository_id")
        ),
    )
    op.create_index(
        op.f("ix_registry_file_blob_sha256"), "registry_file", ["blob_sha256"], unique=False
    )
    op.create_index(
        op.f("ix_registry_file_metadata_sha256"), "registry_file", ["metadata_sha256"], unique=False
    )
    op.create_index(
        op.f("ix_registry_file_version_id"), "registry_file", ["version_id"], unique=False
    )
    op.create_table(
        "registry_dependency",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("version_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=214), nullable=False),
        sa.Column("specifier", sa.String(length=1000), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["registry_version.id"],
            name=op.f("fk_registry_dependency_version_id_registry_version"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_dependency")),
    )
    op.create_index(
        op.f("ix_registry_dependency_name"), "registry_dependency", ["name"], unique=False
    )
    op.create_index(
        op.f("ix_registry_dependency_version_id"),
        "registry_dependency",
        ["version_id"],
        unique=False,
    )
    op.create_table(
        "registry_tag",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("package_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("version_id", sa.Uuid(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["package_id"],
            ["registry_package.id"],
            name=op.f("fk_registry_tag_package_id_registry_package"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["registry_version.id"],
            name=op.f("fk_registry_tag_version_id_registry_version"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_tag")),
        sa.UniqueConstraint("package_id", "name", name=op.f("uq_registry_tag_package_id")),
    )
    op.create_index(
        op.f("ix_registry_tag_version_id"), "registry_tag", ["version_id"], unique=False
    )


def downgrade() -> None:
    op.drop_table("registry_tag")
    op.drop_table("registry_dependency")
    op.drop_table("registry_file")
    op.drop_table("registry_version")
    op.drop_index("ix_registry_package_search", table_name="registry_package")
    op.drop_table("registry_package")
    op.drop_table("registry_repository")
    op.drop_table("registry_blob")
