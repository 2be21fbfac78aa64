"""Asking the engine for a step: a `run_step` row and its job, in the caller's transaction."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core import clock, jobs
from devflow.workflows.models import RunStep, WorkflowRun

STEP_TASK = "workflows:run_step"


async def enqueue(
    session: AsyncSession,
    run: WorkflowRun,
    kind: str,
    args: dict[str, Any] | None = None,
    *,
    at: datetime | None = None,
) -> RunStep:
    """Record a step of the run and defer the job that carries it out (at `at`, or now).

    Both commit with the caller's transaction or neither does; a job lost later (its worker
    died) is re-queued by the worker's stalled-job sweep, and the periodic sweep defers a job
    again for any step still pending well past its time.
    """
    step = RunStep(run_id=run.id, kind=kind, args=args or {}, not_before=at or clock.now())
    session.add(step)
    await session.flush()
    await enqueue_job(session, step.id, project_id=run.project_id, at=at)
    return step


async def enqueue_job(
    session: AsyncSession,
    step_id: int,
    *,
    project_id: uuid.UUID | None = None,
    at: datetime | None = None,
) -> None:
    """Defer the job that carries out step `step_id` (one waiting job per step at most)."""
    await jobs.defer(
        session,
        task=STEP_TASK,
        args={"step_id": step_id},
        project_id=project_id,
        queueing_lock=f"{STEP_TASK}:{step_id}",
        scheduled_at=at,
    )


__all__ = ["STEP_TASK", "enqueue", "enqueue_job"]
