"""Write-behind of usage rows and cache entries for calls that count against no budget.

A commit costs a few milliseconds (a WAL flush); doing one per call would double the client's
overhead. Calls without a budget queue their rows here and a batch is written ~50 ms later in one
transaction with `synchronous_commit = off`. Calls with a budget settle synchronously (see
`LLMClient._end`).

What a normal shutdown writes: everything. `aclose()` flushes; so does the end of the event loop
(Ctrl-C, SIGTERM handled by uvicorn or the worker, `asyncio.run` returning), which cancels the
pending timer, and the cancelled timer writes the queue before it ends.

The crash window: a process killed outright (SIGKILL, OOM, power loss) loses the rows queued in
its last ~50 ms; a PostgreSQL crash can lose batches committed in its last ~0.6 s
(3 x `wal_writer_delay`, because of `synchronous_commit = off`). Rows are lost, never corrupted,
and budgets are never affected (their calls do not go through here).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, insert, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from devflow.core import clock
from devflow.llm.models import LLMUsage

log = logging.getLogger(__name__)

CacheWrite = Callable[[AsyncSession], Awaitable[None]]
_USAGE = cast("Table", LLMUsage.__table__)


class WriteBehind:
    """Batches usage rows (and cache writes) into one short transaction."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, delay: float = 0.05) -> None:
        self._sessions = sessions
        self._delay = delay
        self._items: list[tuple[dict[str, Any], CacheWrite | None]] = []
        self._task: asyncio.Task[None] | None = None

    def add(self, usage: dict[str, Any], write: CacheWrite | None = None) -> None:
        """Queue a usage row and an optional cache write."""
        self._items.append((usage, write))
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._later())

    async def _later(self) -> None:
        # One batch per delay: rows queued while a batch commits wait for the next one, so a
        # steady stream of calls costs one commit per delay, not one per call.
        while self._items:
            try:
                await asyncio.sleep(self._delay)
            except asyncio.CancelledError:
                # The loop is shutting down (or `close()` already flushed): write what is queued.
                await self._logged(self.flush())
                raise
            await self._logged(self._write_batch())

    async def _logged(self, write: Awaitable[None]) -> None:
        try:
            await write
        except Exception:
            log.exception("could not write %d LLM usage rows", len(self._items))

    async def flush(self) -> None:
        """Write everything queued so far."""
        while self._items:
            await self._write_batch()

    async def _write_batch(self) -> None:
        items, self._items = self._items, []
        if not items:
            return
        async with self._sessions.begin() as session:
            await session.execute(text("SET LOCAL synchronous_commit TO OFF"))
            for _, write in items:
                if write is not None:
                    await write(session)
            # Core executemany on the table: the ORM's bulk path costs several times more.
            await session.execute(insert(_USAGE), [usage for usage, _ in items])

    async def close(self) -> None:
        """Flush and stop the timer."""
        await self.flush()
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None


class MemoryCache:
    """The most recent cache entries of this process, in front of the PostgreSQL cache.

    Entries are immutable until they expire, so serving them from memory is always consistent.
    """

    def __init__(self, size: int = 2048) -> None:
        self._size = size
        self._entries: OrderedDict[str, tuple[datetime, dict[str, Any]]] = OrderedDict()

    def get(self, key: str) -> dict[str, Any] | None:
        """Return a live entry."""
        found = self._entries.get(key)
        if found is None:
            return None
        if found[0] <= clock.now():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return found[1]

    def put(self, key: str, expires_at: datetime, response: dict[str, Any]) -> None:
        """Remember an entry."""
        self._entries[key] = (expires_at, response)
        self._entries.move_to_end(key)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)
