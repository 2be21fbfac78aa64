"""Publishing, shared by every format: stream a file into the blob store, then record it.

The order is what makes a crash harmless: bytes go to a temporary object; the blob is committed
only after its digest and size check out; the rows that make it visible are written in the
caller's transaction. A crash before the commit leaves a temporary object (collected after the
grace period); a crash after it leaves an unreferenced blob (collected the same way).
Garbage collection holds an exclusive advisory lock while it sweeps; a publish holds the shared
one from its blob commit until its transaction ends, so a blob being (re)used is never swept.
"""

from __future__ import annotations

import contextlib
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import IO, Any, ClassVar

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core import clock, events
from devflow.core.auth import Principal
from devflow.core.errors import Conflict, DevflowError
from devflow.registry.models import (
    Blob,
    Dependency,
    Package,
    PackageFile,
    PackageVersion,
    Repository,
)
from devflow.registry.ports import BlobInfo, BlobStore, BlobWriter

GC_LOCK = 373700004  # advisory lock key shared by publishes (shared) and GC (exclusive)
_SPOOL_IN_MEMORY = 8 * 1024 * 1024  # archives inspected without a disk file up to this size


class TooLarge(DevflowError):
    """An upload is larger than the configured limit."""

    code: ClassVar[str] = "too_large"
    status: ClassVar[int] = 413


async def stream_to_store(
    store: BlobStore, chunks: AsyncIterator[bytes], *, limit: int
) -> BlobWriter:
    """Write a stream to a temporary object, refusing more than `limit` bytes.

    Raises:
        TooLarge: the stream passed the limit (the temporary object is removed).
    """
    writer = await store.begin()
    try:
        async for chunk in chunks:
            check_limit(writer.size + len(chunk), limit)
            await writer.write(chunk)
    except BaseException:
        await writer.abort()
        raise
    return writer


@contextlib.asynccontextmanager
async def spooled(
    store: BlobStore, sha256: str, *, on_chunk: Callable[[bytes], object] | None = None
) -> AsyncIterator[IO[bytes]]:
    """Yield a committed blob as a file at its start, for archive checks (in memory up to
    8 MiB); `on_chunk` sees every chunk on the way (an extra digest)."""
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY) as spool:
        async for chunk in store.read(sha256):
            spool.write(chunk)
            if on_chunk is not None:
                on_chunk(chunk)
        spool.seek(0)
        yield spool


def check_limit(size: int, limit: int) -> None:
    """Refuse an upload that has grown past `limit` bytes.

    Raises:
        TooLarge: naming the setting that raises the limit.
    """
    if size > limit:
        raise TooLarge(
            f"the upload is larger than the limit of {limit} bytes "
            "(DEVFLOW_REGISTRY__MAX_UPLOAD_BYTES)"
        )


async def commit_blob(
    session: AsyncSession,
    writer: BlobWriter,
    *,
    sha256: str | None = None,
    size: int | None = None,
) -> BlobInfo:
    """Check and commit an upload's blob and record it (deduplicated by SHA-256).

    Raises:
        DigestMismatch: the bytes are not what the client announced.
    """
    await session.execute(select(func.pg_advisory_xact_lock_shared(GC_LOCK)))
    info = await writer.commit(sha256=sha256, size=size)
    await session.execute(
        insert(Blob)
        .values(
            sha256=info.sha256,
            size=info.size,
            md5=info.md5,
            sha1=info.sha1,
            sha512=info.sha512,
            created_at=clock.now(),
        )
        .on_conflict_do_nothing()
    )
    return info


async def store_bytes(session: AsyncSession, store: BlobStore, data: bytes) -> BlobInfo:
    """Store a small derived file (a wheel's METADATA) as a blob."""
    writer = await store.begin()
    try:
        await writer.write(data)
    except BaseException:
        await writer.abort()
        raise
    return await commit_blob(session, writer)


@dataclass
class NewFile:
    """A file to attach to a version."""

    filename: str
    blob: BlobInfo
    meta: dict[str, Any] = field(default_factory=dict)
    metadata_blob: BlobInfo | None = None


@dataclass
class NewVersion:
    """What a format knows about a version being published."""

    name: str  # normalized package name
    display_name: str
    version: str
    summary: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    dependencies: list[tuple[str, str, str]] = field(default_factory=list)  # name, spec, kind


async def ensure_package(
    session: AsyncSession, *, repo: Repository, name: str, display_name: str, summary: str
) -> Package:
    """Return the package, creating it if needed (safe when two publishes race)."""
    await session.execute(
        insert(Package)
        .values(
            id=uuid.uuid4(),
            repository_id=repo.id,
            name=name,
            display_name=display_name,
            summary=summary[:1000],
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
        .where(Package.repository_id == repo.id, Package.name == name)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert package is not None  # noqa: S101 - inserted or already there
    return package


async def add_version(
    session: AsyncSession,
    *,
    package: Package,
    principal: Principal,
    data: NewVersion,
    must_be_new: bool,
) -> tuple[PackageVersion, bool]:
    """Return the version, creating it if needed; `must_be_new` refuses an existing one.

    Raises:
        Conflict: the version exists and `must_be_new` (versions are immutable).
    """
    created_id = await session.scalar(
        insert(PackageVersion)
        .values(
            id=uuid.uuid4(),
            package_id=package.id,
            version=data.version,
            summary=data.summary[:1000],
            meta=data.meta,
            yanked=False,
            deprecated=None,
            published_at=clock.now(),
            published_by=principal.user_id,
            downloads=0,
        )
        .on_conflict_do_nothing()
        .returning(PackageVersion.id)
    )
    if created_id is None and must_be_new:
        raise Conflict(
            f"{package.display_name} {data.version} already exists; published versions are "
            "immutable: publish a new version"
        )
    version = await session.scalar(
        select(PackageVersion).where(
            PackageVersion.package_id == package.id, PackageVersion.version == data.version
        )
    )
    assert version is not None  # noqa: S101
    if created_id is not None:
        for dep_name, spec, kind in data.dependencies:
            session.add(
                Dependency(
                    version_id=version.id, name=dep_name[:214], specifier=spec[:1000], kind=kind
                )
            )
    return version, created_id is not None


async def add_file(
    session: AsyncSession, *, repo: Repository, version: PackageVersion, file: NewFile
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
            filename=file.filename,
            blob_sha256=file.blob.sha256,
            size=file.blob.size,
            meta=file.meta,
            metadata_sha256=file.metadata_blob.sha256 if file.metadata_blob else None,
            downloads=0,
            created_at=clock.now(),
        )
        .on_conflict_do_nothing()
        .returning(PackageFile.id)
    )
    if file_id is None:
        raise Conflict(
            f"file {file.filename} already exists in {repo.name}; a file name can only be "
            "used once (bump the version)"
        )
    found = await session.get(PackageFile, file_id)
    assert found is not None  # noqa: S101
    return found


async def announce_publish(
    session: AsyncSession,
    *,
    repo: Repository,
    principal: Principal,
    package: Package,
    version: str,
    files: list[str],
) -> None:
    """Emit `registry.package.published` in the publishing transaction."""
    await events.emit(
        session,
        type="registry.package.published",
        project_id=repo.project_id,
        actor_id=principal.user_id,
        payload={
            "repository": repo.name,
            "format": repo.format,
            "package": package.name,
            "version": version,
            "files": files,
        },
    )
