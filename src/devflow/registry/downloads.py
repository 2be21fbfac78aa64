"""Download counts, kept off the request path.

A download only bumps an in-memory counter; a background task adds the sums to the file, version
and package rows about once a second in one short transaction (and once more at shutdown). A
crash loses at most the last second of counts, never a download.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import Counter

from sqlalchemy import Table, bindparam, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from devflow.core.db import unit_of_work
from devflow.registry.models import Package, PackageFile, PackageVersion

log = logging.getLogger(__name__)

FileKey = tuple[uuid.UUID, uuid.UUID, uuid.UUID]  # file, version, package


class DownloadRecorder:
    """Counts downloads in memory and writes them behind."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], interval: float = 1.0) -> None:
        self._sessions = sessions
        self._interval = interval
        self._pending: Counter[FileKey] = Counter()
        self._task: asyncio.Task[None] | None = None

    def record(self, key: FileKey) -> None:
        """Count one download (no I/O)."""
        self._pending[key] += 1
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while self._pending:
            await asyncio.sleep(self._interval)
            try:
                await self.flush()
            except Exception:  # counts are best effort; never crash the server for them
                log.exception("could not write download counts")

    async def flush(self) -> None:
        """Write pending counts now."""
        pending, self._pending = self._pending, Counter()
        if not pending:
            return
        files: Counter[uuid.UUID] = Counter()
        versions: Counter[uuid.UUID] = Counter()
        packages: Counter[uuid.UUID] = Counter()
        for (file_id, version_id, package_id), n in pending.items():
            files[file_id] += n
            versions[version_id] += n
            packages[package_id] += n
        async with unit_of_work(self._sessions) as session:
            for model, counts in (
                (PackageFile, files),
                (PackageVersion, versions),
                (Package, packages),
            ):
                table = model.__table__
                assert isinstance(table, Table)  # noqa: S101
                await session.execute(
                    update(table)
                    .where(table.c.id == bindparam("key"))
                    .values(downloads=table.c.downloads + bindparam("n")),
                    [{"key": k, "n": n} for k, n in sorted(counts.items())],
                )

    async def close(self) -> None:
        """Stop the writer and write what is left."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()
