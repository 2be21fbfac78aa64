"""The registry's use of the blob store: uploads within a size limit, blob rows, and the GC lock.

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
from collections.abc import AsyncIterator, Callable
from typing import IO, ClassVar

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core import clock
from devflow.core.blobs import BlobInfo, BlobStore, BlobWriter
from devflow.core.errors import DevflowError
from devflow.registry.models import Blob

GC_LOCK = 373700004  # advisory lock key shared by publishes (shared) and GC (exclusive)
_SPOOL_IN_MEMORY = 8 * 1024 * 1024  # archives inspected without a disk file up to this size


class TooLarge(DevflowError):
    """An upload is larger than the configured limit."""

    code: ClassVar[str] = "too_large"
    status: ClassVar[int] = 413


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
    """Store a small derived file (a wheel's METADATA, an OCI manifest) as a blob."""
    writer = await store.begin()
    try:
        await writer.write(data)
    except BaseException:
        await writer.abort()
        raise
    return await commit_blob(session, writer)
