"""Following a background job from the CLI: one bar per phase, with the server's rate and ETA."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from rich.progress import BarColumn, Progress, TaskID, TextColumn

from devflow.core import render
from devflow.core.cli.client import ApiClient
from devflow.core.cli.output import console

FINAL = frozenset({"succeeded", "failed", "cancelled", "aborted"})
_POLL_SECONDS = 0.5


def pace(job: dict[str, Any]) -> str:
    """Return a job's phase figures as people read them: `120/9,143 chunks, 4.1/s, ETA 36:50`."""
    final = job.get("status") in FINAL
    eta = None if final else job.get("eta_seconds")
    return render.pace(
        job.get("done") or 0, job.get("total"), job.get("unit"), job.get("rate"), eta
    )


def elapsed(job: dict[str, Any]) -> str:
    """Return how long the job's phase has run by the server's clock (from the phase's start to
    its last report, the span its rate and ETA are taken over), or "" before a phase starts."""
    started, updated = job.get("phase_started_at"), job.get("updated_at")
    if not started or not updated:
        return ""
    span = datetime.fromisoformat(updated) - datetime.fromisoformat(started)
    return render.duration(span.total_seconds())


def _units(count: float, unit: str | None) -> str:
    return f"{int(count):,} {unit or ''}".strip()


def follow_job(
    api: ApiClient, job_id: int, *, label: str | None = None, quiet: bool = False
) -> dict[str, Any]:
    """Show a job's progress until it ends (quiet: only wait) and return it as it ended.

    Each phase (ingestion: `fetch`, then `embed`) gets a bar of its own that counts its own
    unit; a finished phase's bar stays on screen, full. Rate, ETA and the elapsed time are the
    server's (from the phase's start), so they are right however late the watch began.
    """
    job: dict[str, Any] = api.get(f"/api/v1/jobs/{job_id}")
    if quiet:
        while job["status"] not in FINAL:
            time.sleep(_POLL_SECONDS)
            job = api.get(f"/api/v1/jobs/{job_id}")
        return job
    # A job that ended before the watch began still shows its last phase, as it ended.
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[pace]}"),
        # The server's clock, not the watcher's: a watch begun late shows the phase's time.
        TextColumn("{task.fields[elapsed]}"),
        console=console,
    ) as bars:
        phase: str | None = None
        unit: str | None = None
        bar: TaskID | None = None
        while True:
            if bar is None or job.get("phase") != phase:
                if bar is not None and phase is None:  # the wait in the queue: nothing done
                    bars.remove_task(bar)
                elif bar is not None:  # the phase before ended: its bar stays, full
                    task = next(t for t in bars.tasks if t.id == bar)  # ids are not indexes
                    total = task.total or task.completed
                    bars.update(bar, completed=total, pace=f"done, {_units(total, unit)}")
                    bars.stop_task(bar)
                phase, unit = job.get("phase"), job.get("unit")
                bar = bars.add_task("", total=None, pace="", elapsed="")
            name = label or job["task"]
            bars.update(
                bar,
                description=f"{name} {phase}" if phase else f"{name}: {job['message']}",
                completed=job["done"] or 0,
                total=job["total"],
                pace=pace(job),
                elapsed=elapsed(job),
            )
            if job["status"] in FINAL:
                return job
            time.sleep(_POLL_SECONDS)
            job = api.get(f"/api/v1/jobs/{job_id}")
