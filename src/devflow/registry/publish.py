"""Publishing: one path for every package format.

A format reads its clients' wire form (PyPI's multipart form, npm's publish document …) into an
`Upload` — the bytes already streamed into a temporary blob, with no database connection held
while they arrived (see `registry.http.write_unit`) — and calls `publish_upload` in its own
unit of work. It checks that the caller may publish to the repository (the edge may have checked
before reading the body; this is the check that counts), commits the blob (registry/blobs.py:
crash ordering and the GC lock), lets the format check the stored bytes (`Upload.check`), and
records package, version, file, tags and the `registry.package.published` event in the
caller's transaction. Versions are immutable: a file name is used once per repository, and a
format that publishes a version once (`Release.once`, npm) gets 409 for a second publish.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core import clock, events
from devflow.core.auth import Principal
from devflow.core.blobs import BlobInfo, BlobStore, BlobWriter
from devflow.core.errors import Conflict
from devflow.registry import access
from devflow.registry.blobs import commit_blob, store_bytes
from devflow.registry.meta import FileMeta, PackageMeta, VersionMeta
from devflow.registry.models import Dependency, Package, PackageFile, PackageVersion, Repository
from devflow.registry.service import get_repository, touch_package
from devflow.registry.versions import point_tag, tags_of


@dataclass(frozen=True)
class DependencySpec:
    """A dependency a version declares."""

    name: str
    specifier: str
    kind: str = "runtime"
    """`runtime`, `optional`, `dev`, `peer` …"""


@dataclass(frozen=True)
class Release:
    """The package version an upload publishes, as its format read it."""

    name: str
    """The package's stored name (the format's `normalize`)."""
    display_name: str
    version: str
    summary: str = ""
    """The package's summary from now on ("" keeps the one it has)."""
    version_summary: str | None = None
    """The version's own summary (None: `summary`)."""
    meta: VersionMeta = field(default_factory=VersionMeta)
    dependencies: tuple[DependencySpec, ...] = ()
    once: bool = False
    """True: a version is published once, with its one file (npm); False: a version gathers
    files, each uploaded once (PyPI's wheels and sdist)."""
    tags: tuple[str, ...] = ()
    """Tags to point at this version (npm dist-tags), checked by the format."""
    first_tag: str | None = None
    """A tag to point here when the package has none at all (npm: `latest`)."""
    package_meta: PackageMeta | None = None
    """Merged into the package's meta (fields left None keep their value)."""


@dataclass(frozen=True)
class IncomingFile:
    """The file of an upload, in a temporary blob, with what the client announced of it."""

    filename: str
    writer: BlobWriter
    sha256: str | None = None
    size: int | None = None


@dataclass(frozen=True)
class CheckedFile:
    """What a format learnt checking a stored file: its metadata, and a derived metadata file
    to store beside it (a wheel's METADATA, served by PEP 658)."""

    meta: FileMeta
    metadata: bytes | None = None


class Upload(Protocol):
    """A package file a format has read off its wire form, ready for `publish_upload`."""

    @property
    def format(self) -> str:
        """The format's name; only a repository of that format accepts the upload."""
        ...

    @property
    def release(self) -> Release:
        """The version the file belongs to."""
        ...

    @property
    def file(self) -> IncomingFile:
        """The file itself."""
        ...

    async def check(self, store: BlobStore, blob: BlobInfo) -> CheckedFile:
        """Check the committed bytes as the format requires (archive, announced digests).

        Raises:
            Invalid: naming what is wrong; nothing of the upload is published.
        """
        ...


@dataclass(frozen=True)
class Published:
    """What a publish recorded."""

    repository: Repository
    package: Package
    version: PackageVersion
    file: PackageFile


async def publish_upload(
    session: AsyncSession,
    *,
    principal: Principal,
    repository: str,
    upload: Upload,
    store: BlobStore,
) -> Published:
    """Publish one package file in the caller's unit of work (see the module docstring).

    Raises:
        Unauthenticated, NotFound, PermissionDenied: the caller may not publish there (a
            repository of another format is not found).
        DigestMismatch, Invalid: the bytes are not what was announced, or the format refuses
            them.
        Conflict: the file name is taken, or the version exists and `Release.once`.
    """
    found = await get_repository(session, name=repository)
    repo = access.require_publish(
        principal, found if found is None or found.format == upload.format else None, repository
    )
    release, incoming = upload.release, upload.file
    blob = await commit_blob(session, incoming.writer, sha256=incoming.sha256, size=incoming.size)
    checked = await upload.check(store, blob)
    file_meta, metadata_blob = checked.meta, None
    if checked.metadata is not None:
        metadata_blob = await store_bytes(session, store, checked.metadata)
        file_meta = file_meta.model_copy(update={"metadata_size": len(checked.metadata)})
    package = await _ensure_package(session, repo=repo, release=release)
    version = await _add_version(session, package=package, principal=principal, release=release)
    file = await _add_file(
        session,
        repo=repo,
        version=version,
        filename=incoming.filename,
        blob=blob,
        meta=file_meta,
        metadata_blob=metadata_blob,
    )
    for tag in release.tags:
        await point_tag(session, package, tag, version)
    if release.first_tag is not None and not await tags_of(session, package):
        await point_tag(session, package, release.first_tag, version)
    if release.package_meta is not None:
        package.meta = {**package.meta, **release.package_meta.stored()}
    if release.summary:
        package.summary = release.summary[:1000]
    await touch_package(session, package)
    await events.emit(
        session,
        type="registry.package.published",
        project_id=repo.project_id,
        actor_id=principal.user_id,
        payload={
            "repository": repo.name,
            "format": repo.format,
            "package": package.name,
            "version": release.version,
            "files": [incoming.filename],
        },
    )
    return Published(repo, package, version, file)


async def _ensure_package(session: AsyncSession, *, repo: Repository, release: Release) -> Package:
    """Return the package, creating it if needed (safe when two publishes race), locked until
    the transaction ends: concurrent publishes of one package take turns."""
    await session.execute(
        insert(Package)
        .values(
            id=uuid.uuid4(),
            repository_id=repo.id,
            name=release.name,
            display_name=release.display_name,
            summary=release.summary[:1000],
            meta={},
            revision=1,
            downloads=0,
            created_at=clock.now(),
            updated_at=clock.now(),
        )
        .on_conflict_do_nothing()
    )
    package = await session.scalar(
        select(Package)
        .where(Package.repository_id == repo.id, Package.name == release.name)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert package is not None  # noqa: S101 - inserted or already there
    return package


async def _add_version(
    session: AsyncSession, *, package: Package, principal: Principal, release: Release
) -> PackageVersion:
    """Return the version, creating it (with its dependencies) if needed.

    Raises:
        Conflict: the version exists and `release.once` (versions are immutable).
    """
    summary = release.summary if release.version_summary is None else release.version_summary
    created_id = await session.scalar(
        insert(PackageVersion)
        .values(
            id=uuid.uuid4(),
            package_id=package.id,
            version=release.version,
            summary=summary[:1000],
            meta=release.meta.stored(),
            yanked=False,
            deprecated=None,
            published_at=clock.now(),
            published_by=principal.user_id,
            downloads=0,
        )
        .on_conflict_do_nothing()
        .returning(PackageVersion.id)
    )
    if created_id is None and release.once:
        raise Conflict(
            f"{package.display_name} {release.version} already exists: published versions are "
            "immutable and cannot be published again; bump the version and publish that"
        )
    version = await session.scalar(
        select(PackageVersion).where(
            PackageVersion.package_id == package.id, PackageVersion.version == release.version
        )
    )
    assert version is not None  # noqa: S101
    if created_id is not None:
        for dep in release.dependencies:
            session.add(
                Dependency(
                    version_id=version.id,
                    name=dep.name[:214],
                    specifier=dep.specifier[:1000],
                    kind=dep.kind,
                )
            )
    return version


async def _add_file(
    session: AsyncSession,
    *,
    repo: Repository,
    version: PackageVersion,
    filename: str,
    blob: BlobInfo,
    meta: FileMeta,
    metadata_blob: BlobInfo | None,
) -> PackageFile:
    """Attach a file to a version; a file name is never re-used in a repository.

    Raises:
        Conflict: a file of that name exists (`already exists`, which twine understands).
    """
    file_id = await session.scalar(
        insert(PackageFile)
        .values(
            id=uuid.uuid4(),
            version_id=version.id,
            repository_id=repo.id,
            filename=filename,
            blob_sha256=blob.sha256,
            size=blob.size,
            meta=meta.stored(),
            metadata_sha256=metadata_blob.sha256 if metadata_blob else None,
            downloads=0,
            created_at=clock.now(),
        )
        .on_conflict_do_nothing()
        .returning(PackageFile.id)
    )
    if file_id is None:
        raise Conflict(
            f"file {filename} already exists in {repo.name}: published files are immutable and "
            "a file name is used once; bump the version, rebuild and upload the new files"
        )
    found = await session.get(PackageFile, file_id)
    assert found is not None  # noqa: S101
    return found


__all__ = [
    "CheckedFile",
    "DependencySpec",
    "IncomingFile",
    "Published",
    "Release",
    "Upload",
    "publish_upload",
]
