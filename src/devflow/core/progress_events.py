"""`job.progress` events: a running job's progress on the event stream, throttled.

`core.jobs.report_progress` records each report in `job_progress` and offers it to the job's
`ProgressEvents`, which writes it as an event at most every half second; the worker middleware
sends the attempt's final state when it ends. The dashboard moves every job's bar with them.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

PROGRESS_EVENT = "job.progress"
"""The event a running job's progress sends (its payload is the job's progress, as the API shows
it, plus `job_id`, `task` and `final`): at most one per job every `PROGRESS_EVENT_SECONDS`, the
latest report always sent in the end, and one more (`final`) when the attempt ends."""
PROGRESS_EVENT_SECONDS = 0.5


class ProgressEvents:
    """Throttles one job's `job.progress` events, so a fast job does not flood the stream.

    A report is sent at once when it is the first, starts a new phase, or comes `interval`
    seconds after the last one sent; otherwise it waits, replaced by any later report, and is
    sent when the interval is over (the bar shows the latest state within `interval`). `close`
    sends the attempt's final state at once, in place of a report still waiting.

    Args:
        send: writes one event: its payload and project.
        interval: the least number of seconds between two events.
        monotonic: the clock (tests pass their own).
        sleep: how a waiting report waits (tests pass their own).
    """

    def __init__(
        self,
        send: Callable[[dict[str, Any], uuid.UUID | None], Awaitable[None]],
        *,
        interval: float = PROGRESS_EVENT_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._send = send
        self._interval = interval
        self._monotonic = monotonic
        self._sleep = sleep
        self._last: float | None = None
        self._phase: str | None = None
        self._waiting: tuple[dict[str, Any], uuid.UUID | None] | None = None
        self._timer: asyncio.Task[None] | None = None
        # One event at a time, in the order they were taken: never an older state after a newer.
        self._lock = asyncio.Lock()

    async def report(self, payload: dict[str, Any], project_id: uuid.UUID | None) -> None:
        """Send this progress now, or as soon as the interval allows."""
        now = self._monotonic()
        phase = payload.get("phase")
        due = self._last is None or phase != self._phase or now - self._last >= self._interval
        if not due:
            self._waiting = (payload, project_id)
            if self._timer is None:
                assert self._last is not None  # noqa: S101 - not due means one was sent
                delay = self._last + self._interval - now
                self._timer = asyncio.create_task(self._later(delay), name="job-progress-event")
            return
        async with self._lock:
            self._waiting = None
            await self._emit(payload, project_id)

    async def close(self, payload: dict[str, Any], project_id: uuid.UUID | None) -> None:
        """Send the attempt's final state now, in place of a report still waiting."""
        async with self._lock:
            if self._timer is not None:
                # It sleeps or waits for this lock: no event of its own is being written.
                self._timer.cancel()
                self._timer = None
            self._waiting = None
            await self._emit({**payload, "final": True}, project_id)

    async def _later(self, delay: float) -> None:
        while delay > 0:
            await self._sleep(delay)
            assert self._last is not None  # noqa: S101 - a report waits only after one was sent
            delay = self._last + self._interval - self._monotonic()
        async with self._lock:
            self._timer = None
            waiting, self._waiting = self._waiting, None
            if waiting is not None:
                await self._emit(*waiting)

    async def _emit(self, payload: dict[str, Any], project_id: uuid.UUID | None) -> None:
        self._last = self._monotonic()
        self._phase = payload.get("phase")
        await self._send({"final": False, **payload}, project_id)


__all__ = ["PROGRESS_EVENT", "PROGRESS_EVENT_SECONDS", "ProgressEvents"]
