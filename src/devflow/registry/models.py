"""Tables of the registry domain: repositories, blobs, packages, versions, files, dependencies.

Blobs are global and content-addressed (deduplicated across repositories and formats); a file row
is what links a blob into a repository, so existence is only ever revealed through a repository the
caller can read. Format-specific data lives in the JSONB `meta` columns, typed by each format
(`registry.meta`, `formats/<format>/meta.py`).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from devflow.core import clock
from devflow.core.db import Base


class Repository(Base):
    """A named registry of one format (pypi, npm, oci …) and one kind (hosted, proxy, group)."""

    __tablename__ = "registry_repository"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    project_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), index=True
    )
    format: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16), default="hosted")
    visibility: Mapped[str] = mapped_column(String(16), default="private")
    description: Mapped[str] = mapped_column(String(2000), default="")
    # proxy: {"upstream": url, ...}; group: {"members": [repository names]} (future kinds).
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))


class Blob(Base):
    """Content stored once in the blob store, with every digest clients ask for."""

    __tablename__ = "registry_blob"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    md5: Mapped[str] = mapped_column(String(32))
    sha1: Mapped[str] = mapped_column(String(40))
    sha512: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class Package(Base):
    """A package in a repository, by its normalized name."""

    __tablename__ = "registry_package"
    __table_args__ = (
        UniqueConstraint("repository_id", "name"),
        Index(
            "ix_registry_package_search",
            "name",
            "summary",
            postgresql_using="gin",
            postgresql_ops={"name": "gin_trgm_ops", "summary": "gin_trgm_ops"},
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    repository_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("registry_repository.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(214))  # normalized (pypi) or exact (npm)
    display_name: Mapped[str] = mapped_column(String(214))
    summary: Mapped[str] = mapped_column(String(1000), default="")
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    revision: Mapped[int] = mapped_column(default=1)  # bumped on every change (npm `_rev`)
    downloads: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)


class PackageVersion(Base):
    """One published version; immutable once published (yank or deprecate instead)."""

    __tablename__ = "registry_version"
    __table_args__ = (UniqueConstraint("package_id", "version"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    package_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("registry_package.id", ondelete="CASCADE")
    )
    version: Mapped[str] = mapped_column(String(128))
    summary: Mapped[str] = mapped_column(String(1000), default="")
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    yanked: Mapped[bool] = mapped_column(default=False)
    yanked_reason: Mapped[str | None] = mapped_column(Text)
    deprecated: Mapped[str | None] = mapped_column(Text)
    published_at: Mapped[datetime] = mapped_column(default=clock.now)
    published_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user.id", ondelete="SET NULL")
    )
    downloads: Mapped[int] = mapped_column(BigInteger, default=0)


class PackageFile(Base):
    """A file of a version (a wheel, an sdist, a tarball), pointing at its blob."""

    __tablename__ = "registry_file"
    __table_args__ = (UniqueConstraint("repository_id", "filename"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    version_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("registry_version.id", ondelete="CASCADE"), index=True
    )
    repository_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("registry_repository.id", ondelete="CASCADE")
    )
    filename: Mapped[str] = mapped_column(String(255))
    blob_sha256: Mapped[str] = mapped_column(
        ForeignKey("registry_blob.sha256", ondelete="RESTRICT"), index=True
    )
    size: Mapped[int] = mapped_column(BigInteger)
    # The format's FileMeta (PyPI: filetype, requires_python, metadata_size …).
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    metadata_sha256: Mapped[str | None] = mapped_column(
        ForeignKey("registry_blob.sha256", ondelete="RESTRICT"), index=True
    )
    downloads: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class Dependency(Base):
    """A dependency declared by a version (for search, graphs and impact analysis)."""

    __tablename__ = "registry_dependency"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    version_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("registry_version.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(214), index=True)
    specifier: Mapped[str] = mapped_column(String(1000), default="")
    kind: Mapped[str] = mapped_column(String(32), default="runtime")  # runtime|dev|peer|optional…


class Tag(Base):
    """A movable name for a version: npm dist-tags now, OCI tags later."""

    __tablename__ = "registry_tag"
    __table_args__ = (UniqueConstraint("package_id", "name"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    package_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("registry_package.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(128))
    version_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("registry_version.id", ondelete="CASCADE"), index=True
    )
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)


class OciBlobLink(Base):
    """A blob (layer or config) pushed to, or mounted into, an OCI repository."""

    __tablename__ = "registry_oci_blob"

    repository_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("registry_repository.id", ondelete="CASCADE"), primary_key=True
    )
    sha256: Mapped[str] = mapped_column(
        ForeignKey("registry_blob.sha256", ondelete="RESTRICT"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class OciManifest(Base):
    """An OCI/Docker manifest or index of a repository, stored byte-exact as a blob."""

    __tablename__ = "registry_oci_manifest"
    __table_args__ = (Index("ix_registry_oci_manifest_subject", "repository_id", "subject"),)

    repository_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("registry_repository.id", ondelete="CASCADE"), primary_key=True
    )
    digest: Mapped[str] = mapped_column(String(71), primary_key=True)  # sha256:<hex>
    blob_sha256: Mapped[str] = mapped_column(
        ForeignKey("registry_blob.sha256", ondelete="RESTRICT"), index=True
    )
    media_type: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    artifact_type: Mapped[str | None] = mapped_column(String(255))
    subject: Mapped[str | None] = mapped_column(String(71))
    # sha256 hex of every blob it references (config, layers) and digests of index children.
    blobs: Mapped[list[str]] = mapped_column(ARRAY(String(64)), default=list)
    children: Mapped[list[str]] = mapped_column(ARRAY(String(71)), default=list)
    annotations: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class OciTag(Base):
    """A tag of an OCI repository; moving it is one atomic upsert (last write wins)."""

    __tablename__ = "registry_oci_tag"

    repository_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("registry_repository.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    digest: Mapped[str] = mapped_column(String(71))
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)


__all__ = [
    "Blob",
    "Dependency",
    "OciBlobLink",
    "OciManifest",
    "OciTag",
    "Package",
    "PackageFile",
    "PackageVersion",
    "Repository",
    "Tag",
]
