"""`job.progress` events are throttled per job: the clock and the wait are injected, so these
tests decide when time passes."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from devflow.core.progress_events import ProgressEvents


class Clock:
    """A monotonic clock the test moves, and a sleep that waits until the test releases it."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []
        self._released = asyncio.Event()

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self._released.clear()
        await self._released.wait()

    def release(self, after: float) -> None:
        """Let the waiting report's timer wake `after` seconds on."""
        self.now += after
        self._released.set()


async def settle() -> None:
    """Let the throttle's own task run as far as it can."""
    for _ in range(20):
        await asyncio.sleep(0)


def throttle(clock: Clock) -> tuple[ProgressEvents, list[dict[str, Any]]]:
    sent: list[dict[str, Any]] = []

    async def send(payload: dict[str, Any], project_id: uuid.UUID | None) -> None:
        del project_id
        sent.append(payload)

    return ProgressEvents(send, monotonic=clock.monotonic, sleep=clock.sleep), sent


def report(done: int, phase: str | None = None) -> dict[str, Any]:
    return {"job_id": 7, "done": done, "phase": phase}


class TestThrottle:
    async def test_the_first_report_goes_at_once_and_a_burst_waits_for_its_latest(self):
        clock = Clock()
        events, sent = throttle(clock)
        await events.report(report(1), None)
        for done in range(2, 50):
            clock.now += 0.001
            await events.report(report(done), None)
        await settle()
        assert [e["done"] for e in sent] == [1]
        assert len(clock.sleeps) == 1  # one wait for the whole burst
        clock.release(0.5)
        await settle()
        assert [(e["done"], e["final"]) for e in sent] == [(1, False), (49, False)]

    async def test_a_report_after_the_interval_goes_at_once(self):
        clock = Clock()
        events, sent = throttle(clock)
        await events.report(report(1), None)
        clock.now += 0.5
        await events.report(report(2), None)
        assert [e["done"] for e in sent] == [1, 2]
        assert clock.sleeps == []

    async def test_a_new_phase_goes_at_once(self):
        clock = Clock()
        events, sent = throttle(clock)
        await events.report(report(5, "fetch"), None)
        clock.now += 0.01
        await events.report(report(0, "embed"), None)
        assert [(e["phase"], e["done"]) for e in sent] == [("fetch", 5), ("embed", 0)]

    async def test_a_timer_that_wakes_early_waits_for_the_rest_of_the_interval(self):
        clock = Clock()
        events, sent = throttle(clock)
        await events.report(report(1), None)
        clock.now += 0.125  # binary fractions: the clock adds up exactly
        await events.report(report(2), None)
        await settle()
        clock.release(0.125)  # woken 0.25 s after the last event sent: not yet
        await settle()
        assert [e["done"] for e in sent] == [1]
        assert clock.sleeps == [0.375, 0.25]
        clock.release(0.25)
        await settle()
        assert [e["done"] for e in sent] == [1, 2]

    async def test_close_sends_the_final_state_in_place_of_a_waiting_report(self):
        clock = Clock()
        events, sent = throttle(clock)
        project = uuid.uuid4()
        await events.report(report(1), project)
        clock.now += 0.1
        await events.report(report(2), project)
        await settle()
        await events.close({"job_id": 7, "done": 3, "phase": None, "message": "done"}, project)
        clock.release(1.0)  # the cancelled timer sends nothing more
        await settle()
        assert [(e["done"], e["final"]) for e in sent] == [(1, False), (3, True)]

    async def test_an_attempt_that_reported_nothing_still_ends_with_its_final_event(self):
        clock = Clock()
        events, sent = throttle(clock)
        await events.close({"job_id": 7, "done": 0, "phase": None, "error": "boom"}, None)
        assert sent == [{"job_id": 7, "done": 0, "phase": None, "error": "boom", "final": True}]
