"""Tasks used by the job tests, loaded like a plugin (DEVFLOW_JOBS__EXTRA_MODULES)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import procrastinate

from devflow.core.errors import Invalid
from devflow.core.jobs import Phase, report_progress

blueprint = procrastinate.Blueprint()


@blueprint.task(name="tests:count_to", pass_context=True)
async def count_to(
    context: procrastinate.JobContext, n: int, delay: float = 0.0, gate: str | None = None
) -> int:
    """Count to n, reporting progress; with `gate`, wait for that file before finishing."""
    for i in range(1, n + 1):
        await report_progress(context, done=i, total=n, message=f"counted {i}")
        await asyncio.sleep(delay)
    while gate is not None and not Path(gate).exists():
        await asyncio.sleep(0.05)
    return n


@blueprint.task(
    name="tests:fail_always", retry=procrastinate.RetryStrategy(max_attempts=2, wait=3600)
)
async def fail_always(reason: str) -> None:
    """Fail with `reason`."""
    raise ValueError(reason)


@blueprint.task(name="tests:two_phases", pass_context=True)
async def two_phases(context: procrastinate.JobContext, pause: float) -> None:
    """Report a phase `first`, then `pause` s later a phase `second` twice, `pause` s apart."""
    await report_progress(context, phase=Phase("first", "pages", 1, 2), message="first")
    await asyncio.sleep(pause)
    await report_progress(context, phase=Phase("second", "chunks", 0, 4), message="second")
    await asyncio.sleep(pause)
    counts = {"embedded": 4}
    await report_progress(context, phase=Phase("second", "chunks", 4, 4, counts), message="done")


@blueprint.task(name="tests:fail_for_good")
async def fail_for_good(reason: str) -> None:
    """Fail with DevFlow's own error, once: the task is not retried."""
    raise Invalid(reason)
