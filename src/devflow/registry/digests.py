"""md5, sha1 and sha512 of blobs stored with sha256 only, filled in off the request path.

OCI clients only ever ask for sha256, and the other three digests cost about four times as much
CPU as sha256 on a push; an OCI upload therefore records its blob with those three empty, and
defers `registry:complete_digests`, which reads such blobs back from the store and fills their
rows. A format that serves the other digests (PyPI md5 and sha256, npm sha1 and sha512) computes
all four on its own upload, so it never waits for the job. The job waits `DELAY` after the
first upload that needs it and then completes every blob pending by then (one job for a whole
push, not one per layer), so its CPU is not spent during the push itself or the pulls that
usually follow it at once (on a 2-core machine, running it at once made both about 30% slower,
bench/RESULTS.md); its hashing thread runs at the lowest CPU priority as well.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core import clock, jobs
from devflow.core.blobs import BlobStore
from devflow.registry.models import Blob

TASK = "registry:complete_digests"
DELAY = timedelta(seconds=60)
PENDING = ""  # the value of md5, sha1 and sha512 before the job has run


async def defer_completion(session: AsyncSession) -> None:
    """Queue the job in the caller's transaction, to run `DELAY` from now (one waits at a time)."""
    await jobs.defer(
        session, task=TASK, args={}, queueing_lock=TASK, scheduled_at=clock.now() + DELAY
    )


async def complete_digests(
    session: AsyncSession, *, store: BlobStore, after: str = "", limit: int = 100
) -> str | None:
    """Fill md5, sha1 and sha512 of up to `limit` blobs (by sha256 after `after`) lacking them.

    Return the last sha256 examined, or None when none was left. A blob missing from the store
    (collected meanwhile) is skipped.
    """
    pending = list(
        await session.scalars(
            select(Blob.sha256)
            .where(Blob.md5 == PENDING, Blob.sha256 > after)
            .order_by(Blob.sha256)
            .limit(limit)
        )
    )
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(max_workers=1, initializer=_lowest_priority) as background:
        for sha256 in pending:
            if await store.size(sha256) is None:
                continue
            hashes = [
                hashlib.md5(usedforsecurity=False),
                hashlib.sha1(usedforsecurity=False),
                hashlib.sha512(),
            ]
            async for chunk in store.read(sha256):
                await loop.run_in_executor(background, _update, hashes, chunk)
            md5, sha1, sha512 = (h.hexdigest() for h in hashes)
            await session.execute(
                update(Blob)
                .where(Blob.sha256 == sha256, Blob.md5 == PENDING)
                .values(md5=md5, sha1=sha1, sha512=sha512)
            )
    return pending[-1] if pending else None


def _lowest_priority() -> None:
    # Linux applies a nice value to one thread (this executor's only one); elsewhere, or when
    # not allowed, the thread simply runs at normal priority.
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)


def _update(hashes: list[hashlib._Hash], chunk: bytes) -> None:
    for h in hashes:
        h.update(chunk)


__all__ = ["PENDING", "TASK", "complete_digests", "defer_completion"]
