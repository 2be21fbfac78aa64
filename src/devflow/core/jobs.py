"""Background jobs on procrastinate, in the same PostgreSQL.

Domains declare tasks on a `procrastinate.Blueprint` in their `jobs.py`; the worker registers them
all. Jobs are deferred inside the caller's transaction (`defer`), so a job exists exactly when the
write that caused it committed. Tasks report progress with `report_progress`; failures are
recorded with their error and retried with exponential backoff; a job whose worker died is
put back in the queue by any live worker (`requeue_stalled_jobs`).
"""

from __future__ import annotations

import logging
import traceback
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import procrastinate
from procrastinate import JobContext, RetryStrategy
from psycopg.types.json import Jsonb
from sqlalchemy import BigInteger, ForeignKey, String, Text, func, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from devflow.core import clock
from devflow.core.config import JobSettings
from devflow.core.db import Base
from devflow.core.errors import NotFound
from devflow.core.services import Services

log = logging.getLogger(__name__)

blueprint = procrastinate.Blueprint()


class JobProgress(Base):
    """Progress and last error of a job, readable by the API and CLI."""

    __tablename__ = "job_progress"

    job_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    project_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), index=True
    )
    # Server defaults: workers write these rows with plain SQL through procrastinate's connector.
    done: Mapped[int] = mapped_column(default=0, server_default="0")
    total: Mapped[int | None]
    message: Mapped[str] = mapped_column(String(500), default="", server_default="")
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    updated_at: Mapped[datetime] = mapped_column(
        default=clock.now, onupdate=clock.now, server_default=func.now()
    )
    # The phase the job is in (`fetch`, `embed` …), what `done` and `total` count in it, when it
    # began (its rate is `done` over the time since), and the task's own counters.
    phase: Mapped[str | None] = mapped_column(String(40))
    unit: Mapped[str | None] = mapped_column(String(20))
    phase_started_at: Mapped[datetime | None]
    counts: Mapped[dict[str, Any] | None]


_SERVICES = "devflow.services"


def job_context(services: Services) -> dict[str, Any]:
    """Return the worker's additional job context: what every task reads its services from."""
    return {_SERVICES: services}


def services_of(context: JobContext) -> Services:
    """Return the services of the worker running this task (its engine, LLM client, embedder …).

    Raises:
        TypeError: the worker was started without them (`job_context`).
    """
    found = context.additional_context.get(_SERVICES)
    if not isinstance(found, Services):
        raise TypeError(
            "this worker has no services: run it with additional_context=job_context(services)"
        )
    return found


def retry_strategy(settings: JobSettings) -> RetryStrategy:
    """Return the retry policy shared by DevFlow's tasks."""
    return RetryStrategy(
        max_attempts=settings.max_attempts, exponential_wait=settings.retry_base_seconds
    )


def create_job_app(
    url: str, *, blueprints: list[procrastinate.Blueprint], settings: JobSettings
) -> procrastinate.App:
    """Build the procrastinate app with every domain's tasks (named `<domain>:<verb_noun>`)."""
    app = procrastinate.App(
        connector=procrastinate.PsycopgConnector(conninfo=url),
        worker_defaults={
            "concurrency": settings.concurrency,
            "stalled_worker_timeout": settings.stalled_after_seconds,
            "update_heartbeat_interval": max(1.0, settings.stalled_after_seconds / 3),
            "worker_middleware": [record_outcome],
        },
    )
    for bp in [blueprint, *blueprints]:
        _register(app, bp)
    return app


def _register(app: procrastinate.App, bp: procrastinate.Blueprint) -> None:
    # Not `add_tasks_from`: it renames the blueprint's tasks in place, so a second app in the same
    # process (tests, `devflow up` tooling) would see `ns:ns:task`. Tasks carry full names instead.
    for name, task in bp.tasks.items():
        task.blueprint = app
        app.tasks[name] = task
    for periodic in bp.periodic_registry.periodic_tasks.values():
        app.periodic_registry.register_task(
            task=periodic.task,
            cron=periodic.cron,
            periodic_id=periodic.periodic_id,
            configure_kwargs=periodic.configure_kwargs,
        )


async def defer(
    session: AsyncSession,
    *,
    task: str,
    args: dict[str, Any],
    project_id: uuid.UUID | None = None,
    queueing_lock: str | None = None,
    lock: str | None = None,
    queue: str = "default",
    scheduled_at: datetime | None = None,
) -> int:
    """Enqueue a job in the caller's transaction and return its id.

    `queueing_lock` keeps at most one waiting job per key (one crawl per source); a second defer
    with the same key while one waits returns the waiting job's id instead of adding another.
    `scheduled_at` holds the job until then (batching work that can wait).
    """
    if queueing_lock is not None:
        waiting = await session.scalar(
            text(
                "SELECT id FROM procrastinate_jobs WHERE queueing_lock = :lock "
                "AND status = 'todo' LIMIT 1"
            ),
            {"lock": queueing_lock},
        )
        if waiting is not None:
            return int(waiting)
    job_id = await session.scalar(
        text(
            "SELECT unnest(procrastinate_defer_jobs_v1(ARRAY[ROW(:queue, :task, 0, :lock, "
            ":qlock, CAST(:args AS jsonb), CAST(:scheduled_at AS timestamptz))"
            "::procrastinate_job_to_defer_v1]))"
        ),
        {
            "queue": queue,
            "task": task,
            "lock": lock,
            "qlock": queueing_lock,
            "args": orjson.dumps(args).decode(),
            "scheduled_at": scheduled_at,
        },
    )
    assert job_id is not None  # noqa: S101 - the function returns one id per job
    session.add(JobProgress(job_id=job_id, project_id=project_id, message="queued"))
    return int(job_id)


@dataclass(frozen=True)
class Phase:
    """Where a job stands in one of its phases: `done` of `total` (None: not known yet) `unit`,
    with the task's own `counts` (shown as they are)."""

    name: str
    unit: str
    done: int
    total: int | None = None
    counts: dict[str, int] | None = None


async def report_progress(
    context: JobContext,
    *,
    done: int = 0,
    total: int | None = None,
    message: str = "",
    phase: Phase | None = None,
) -> None:
    """Record a running job's progress (committed at once, outside the task's own work): a
    count and a message, or a phase, whose count replaces `done` and `total`. A phase's clock
    starts when its name first appears, so that its rate and ETA count its own unit."""
    if phase is not None:
        done, total = phase.done, phase.total
    await context.app.connector.execute_query_async(
        "INSERT INTO job_progress (job_id, done, total, message, attempts, phase, unit, counts, "
        "phase_started_at, updated_at) VALUES (%(id)s, %(done)s, %(total)s, %(message)s, "
        "%(attempts)s, %(phase)s, %(unit)s, %(counts)s, now(), now()) "
        "ON CONFLICT (job_id) DO UPDATE SET done = EXCLUDED.done, total = EXCLUDED.total, "
        "message = EXCLUDED.message, unit = EXCLUDED.unit, counts = EXCLUDED.counts, "
        "phase_started_at = CASE WHEN job_progress.phase IS NOT DISTINCT FROM EXCLUDED.phase "
        "THEN coalesce(job_progress.phase_started_at, now()) ELSE now() END, "
        "phase = EXCLUDED.phase, updated_at = now()",
        id=context.job.id,
        done=done,
        total=total,
        message=message[:500],
        attempts=context.job.attempts + 1,
        phase=phase.name if phase else None,
        unit=phase.unit if phase else None,
        counts=Jsonb(phase.counts) if phase and phase.counts is not None else None,
    )


async def record_outcome(
    call_next: Callable[[], Awaitable[Any]], context: JobContext, worker: object
) -> Any:
    """Worker middleware: count attempts and keep the error of a failed attempt."""
    del worker
    connector = context.app.connector
    attempt = context.job.attempts + 1
    await connector.execute_query_async(
        "INSERT INTO job_progress (job_id, attempts, message, updated_at) "
        "VALUES (%(id)s, %(attempt)s, 'running', now()) ON CONFLICT (job_id) DO UPDATE SET "
        "attempts = EXCLUDED.attempts, message = 'running', phase = NULL, unit = NULL, "
        "phase_started_at = NULL, updated_at = now()",
        id=context.job.id,
        attempt=attempt,
    )
    try:
        result = await call_next()
    except Exception as exc:
        await connector.execute_query_async(
            "UPDATE job_progress SET error = %(error)s, message = %(message)s, updated_at = now() "
            "WHERE job_id = %(id)s",
            id=context.job.id,
            error=failure_text(exc)[-4000:],
            message=_failed_attempt(context, attempt),
        )
        raise
    await connector.execute_query_async(
        "UPDATE job_progress SET error = NULL, message = CASE WHEN message = 'running' "
        "THEN 'done' ELSE message END, updated_at = now() WHERE job_id = %(id)s",
        id=context.job.id,
    )
    return result


def failure_text(exc: BaseException) -> str:
    """Return what a failed job shows: DevFlow's own failures are written for the user, so their
    message alone; anything else (a bug, a library's error) with its class, which says more."""
    if type(exc).__module__.startswith("devflow.") and str(exc):
        return str(exc)
    return "".join(traceback.format_exception_only(exc)).strip()


def _failed_attempt(context: JobContext, attempt: int) -> str:
    """Say whether a failed attempt is the job's last: a job that will not run again failed."""
    task = context.app.tasks.get(context.job.task_name)
    retry = task.retry_strategy if task is not None else None
    limit = retry.max_attempts if isinstance(retry, RetryStrategy) else None
    last = retry is None or (limit is not None and attempt >= limit)
    return "failed" if last else f"attempt {attempt} failed; it will be retried"


async def requeue_stalled_jobs(app: procrastinate.App, *, stalled_after: float) -> int:
    """Put jobs whose worker stopped sending heartbeats (killed, lost) back in the queue."""
    manager = app.job_manager
    count = 0
    for job in await manager.get_stalled_jobs(seconds_since_heartbeat=stalled_after):
        await manager.retry_job(job)
        count += 1
    if count:
        log.warning("re-queued jobs of a worker that stopped", extra={"count": count})
    return count


@blueprint.periodic(cron="17 3 * * *", periodic_id="prune-jobs")
@blueprint.task(
    name="core:prune_finished_jobs", queueing_lock="core:prune_finished_jobs", pass_context=True
)
async def prune_finished_jobs(context: JobContext, timestamp: int) -> None:
    """Delete jobs that ended more than 30 days ago, with their progress rows."""
    del timestamp
    await context.app.job_manager.delete_old_jobs(nb_hours=24 * 30, include_failed=True)
    await context.app.connector.execute_query_async(
        "DELETE FROM job_progress p WHERE NOT EXISTS "
        "(SELECT 1 FROM procrastinate_jobs j WHERE j.id = p.job_id)"
    )


@dataclass(frozen=True)
class JobView:
    """A job as the API and CLI show it."""

    id: int
    task: str
    status: str
    attempts: int
    done: int
    total: int | None
    message: str
    error: str | None
    project_id: uuid.UUID | None
    scheduled_at: datetime | None
    updated_at: datetime | None
    phase: str | None = None
    unit: str | None = None
    counts: dict[str, int] | None = None
    phase_started_at: datetime | None = None
    rate: float | None = None
    """Units of the phase done per second, from its start to the last report."""
    eta_seconds: float | None = None
    """Seconds the phase still needs at that rate, counted from the last report."""


_JOB_COLUMNS = (
    "SELECT j.id, j.task_name, j.status::text, j.attempts, j.scheduled_at, "
    "p.done, p.total, p.message, p.error, p.project_id, p.updated_at, p.attempts AS pa, "
    "p.phase, p.unit, p.counts, p.phase_started_at "
    "FROM procrastinate_jobs j LEFT JOIN job_progress p ON p.job_id = j.id "
)


def _pace(
    done: int, total: int | None, started: datetime | None, updated: datetime | None
) -> tuple[float | None, float | None]:
    """Return a phase's (rate per second, ETA in seconds) as of its last report."""
    if started is None or updated is None or done <= 0:
        return None, None
    seconds = (updated - started).total_seconds()
    if seconds <= 0:
        return None, None
    rate = done / seconds
    eta = max(total - done, 0) / rate if total is not None else None
    return round(rate, 3), (round(eta, 1) if eta is not None else None)


def _view(row: Any) -> JobView:
    rate, eta = (None, None)
    if row.phase is not None:
        rate, eta = _pace(row.done or 0, row.total, row.phase_started_at, row.updated_at)
    return JobView(
        id=row.id,
        task=row.task_name,
        status=row.status,
        attempts=max(row.attempts, row.pa or 0),
        done=row.done or 0,
        total=row.total,
        message=row.message or "",
        error=row.error,
        project_id=row.project_id,
        scheduled_at=row.scheduled_at,
        updated_at=row.updated_at,
        phase=row.phase,
        unit=row.unit,
        counts=row.counts,
        phase_started_at=row.phase_started_at,
        rate=rate,
        eta_seconds=eta,
    )


async def list_jobs(
    session: AsyncSession,
    *,
    project_ids: list[uuid.UUID] | None,
    status: str | None = None,
    task: str | None = None,
    before: int | None = None,
    limit: int = 50,
) -> list[JobView]:
    """Return jobs, newest first: of `project_ids` only (None: every job, instance-wide ones
    included), with `status`, whose task is `task` or starts with it when it ends in `*`, and
    older than the job `before` (the next page).
    """
    clauses: list[str] = []
    params: dict[str, Any] = {"limit": limit}
    if project_ids is not None:
        clauses.append("p.project_id = ANY(:projects)")
        params["projects"] = project_ids
    if status is not None:
        clauses.append("j.status::text = :status")
        params["status"] = status
    if task is not None:
        if task.endswith("*"):
            clauses.append("starts_with(j.task_name, :task)")
            params["task"] = task.removesuffix("*")
        else:
            clauses.append("j.task_name = :task")
            params["task"] = task
    if before is not None:
        clauses.append("j.id < :before")
        params["before"] = before
    where = " AND ".join(clauses) or "TRUE"
    rows = await session.execute(
        text(_JOB_COLUMNS + f"WHERE {where} ORDER BY j.id DESC LIMIT :limit"),
        params,
    )
    return [_view(row) for row in rows]


async def get_job(session: AsyncSession, *, job_id: int) -> JobView:
    """Return a job with its progress.

    Raises:
        NotFound: no job has this id.
    """
    row = (
        await session.execute(text(_JOB_COLUMNS + "WHERE j.id = :id"), {"id": job_id})
    ).one_or_none()
    if row is None:
        raise NotFound(f"no job {job_id}")
    return _view(row)


__all__ = [
    "JobProgress",
    "JobView",
    "Phase",
    "blueprint",
    "create_job_app",
    "defer",
    "get_job",
    "list_jobs",
    "report_progress",
    "retry_strategy",
]
