"""Background jobs on procrastinate, in the same PostgreSQL.

Domains declare tasks on a `procrastinate.Blueprint` in their `jobs.py`; the worker registers them
all. Jobs are deferred inside the caller's transaction (`defer`), so a job exists exactly when the
write that caused it committed. Tasks report progress with `report_progress`; failures are
recorded with their error and retried with exponential backoff; a job whose worker died is
put back in the queue by any live worker (`requeue_stalled_jobs`).
"""

from __future__ import annotations

import asyncio
import logging
import traceback
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, LiteralString, NoReturn

import orjson
import procrastinate
from procrastinate import JobContext, RetryStrategy
from procrastinate.job_context import AbortReason
from psycopg.types.json import Jsonb
from sqlalchemy import BigInteger, ForeignKey, String, Text, func, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from devflow.core import clock, events
from devflow.core.config import JobSettings
from devflow.core.db import Base
from devflow.core.errors import Conflict, NotFound
from devflow.core.progress_events import PROGRESS_EVENT, ProgressEvents
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


_PROGRESS_EVENTS = "devflow.progress_events"


def _progress_events(context: JobContext) -> ProgressEvents:
    """Return this job's throttle (each job's context has its own copy of the extra context)."""
    found = context.additional_context.get(_PROGRESS_EVENTS)
    if isinstance(found, ProgressEvents):
        return found
    connector = context.app.connector

    async def send(payload: dict[str, Any], project_id: uuid.UUID | None) -> None:
        await connector.execute_query_async(
            events.EMIT_SQL,
            type=PROGRESS_EVENT,
            project_id=project_id,
            payload=Jsonb(payload),
        )

    made = ProgressEvents(send)
    context.additional_context[_PROGRESS_EVENTS] = made
    return made


def _progress_payload(context: JobContext, row: dict[str, Any]) -> dict[str, Any]:
    """Return a progress row as a `job.progress` payload: the fields the API shows a job with."""
    rate, eta = (None, None)
    if row["phase"] is not None:
        rate, eta = _pace(row["done"], row["total"], row["phase_started_at"], row["updated_at"])
    when = {
        key: row[key].isoformat() if row[key] is not None else None
        for key in ("phase_started_at", "updated_at")
    }
    return {
        "job_id": context.job.id,
        "task": context.job.task_name,
        "attempts": row["attempts"],
        "done": row["done"],
        "total": row["total"],
        "message": row["message"],
        "error": row["error"],
        "phase": row["phase"],
        "unit": row["unit"],
        "counts": row["counts"],
        "rate": rate,
        "eta_seconds": eta,
        **when,
    }


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
    starts when its name first appears, so that its rate and ETA count its own unit. The
    dashboard hears of it through a `job.progress` event (throttled: `ProgressEvents`)."""
    if phase is not None:
        done, total = phase.done, phase.total
    row = await context.app.connector.execute_query_one_async(
        "INSERT INTO job_progress (job_id, done, total, message, attempts, phase, unit, counts, "
        "phase_started_at, updated_at) VALUES (%(id)s, %(done)s, %(total)s, %(message)s, "
        "%(attempts)s, %(phase)s, %(unit)s, %(counts)s, now(), now()) "
        "ON CONFLICT (job_id) DO UPDATE SET done = EXCLUDED.done, total = EXCLUDED.total, "
        "message = EXCLUDED.message, unit = EXCLUDED.unit, counts = EXCLUDED.counts, "
        "phase_started_at = CASE WHEN job_progress.phase IS NOT DISTINCT FROM EXCLUDED.phase "
        "THEN coalesce(job_progress.phase_started_at, now()) ELSE now() END, "
        "phase = EXCLUDED.phase, updated_at = now() RETURNING *",
        id=context.job.id,
        done=done,
        total=total,
        message=message[:500],
        attempts=context.job.attempts + 1,
        phase=phase.name if phase else None,
        unit=phase.unit if phase else None,
        counts=Jsonb(phase.counts) if phase and phase.counts is not None else None,
    )
    await _progress_events(context).report(_progress_payload(context, row), row["project_id"])


async def record_outcome(
    call_next: Callable[[], Awaitable[Any]], context: JobContext, worker: object
) -> Any:
    """Worker middleware: count attempts, keep the error of a failed attempt, say how a
    cancelled one stopped, and send the attempt's final `job.progress` event."""
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
    except asyncio.CancelledError:
        # procrastinate cancels an async task whose job was cancelled while it ran (or whose
        # worker is shutting down): the task stops at its next await.
        await _ended(
            context,
            "UPDATE job_progress SET message = %(message)s, updated_at = now() "
            "WHERE job_id = %(id)s RETURNING *",
            message=_stopped(context),
        )
        raise
    except Exception as exc:
        await _ended(
            context,
            "UPDATE job_progress SET error = %(error)s, message = %(message)s, updated_at = now() "
            "WHERE job_id = %(id)s RETURNING *",
            error=failure_text(exc)[-4000:],
            message=_failed_attempt(context, attempt),
        )
        raise
    await _ended(
        context,
        "UPDATE job_progress SET error = NULL, message = CASE WHEN message = 'running' "
        "THEN 'done' ELSE message END, updated_at = now() WHERE job_id = %(id)s RETURNING *",
    )
    return result


async def _ended(context: JobContext, query: LiteralString, **params: Any) -> None:
    """Record how an attempt ended and send its final `job.progress` event."""
    row = await context.app.connector.execute_query_one_async(
        query,
        id=context.job.id,
        **params,
    )
    await _progress_events(context).close(_progress_payload(context, row), row["project_id"])


def _stopped(context: JobContext) -> str:
    """Say why a running attempt was cancelled."""
    reason = context.abort_reason()
    if reason is AbortReason.USER_REQUEST:
        return "cancelled while running"
    if reason is AbortReason.SHUTDOWN:
        return "interrupted: its worker stopped"
    return "interrupted"


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
    """Delete jobs that ended more than 30 days ago, with their progress rows, and progress
    events older than a day."""
    del timestamp
    await context.app.job_manager.delete_old_jobs(nb_hours=24 * 30, include_failed=True)
    await context.app.connector.execute_query_async(
        "DELETE FROM job_progress p WHERE NOT EXISTS "
        "(SELECT 1 FROM procrastinate_jobs j WHERE j.id = p.job_id)"
    )
    # Progress events serve live views; the job's row keeps where it ended.
    await context.app.connector.execute_query_async(
        "DELETE FROM event WHERE type = %(type)s AND created_at < now() - interval '1 day'",
        type=PROGRESS_EVENT,
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


# A running job asked to stop is `aborting` until its task notices (procrastinate 3 keeps it
# `doing` with `abort_requested`; its enum's own `aborting` is no longer used). The same
# expression filters by status in `list_jobs`.
_JOB_COLUMNS = (
    "SELECT j.id, j.task_name, j.attempts, j.scheduled_at, "
    "(CASE WHEN j.abort_requested AND j.status = 'doing' THEN 'aborting' "
    "ELSE j.status::text END) AS status, "
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
        clauses.append(
            "(CASE WHEN j.abort_requested AND j.status = 'doing' THEN 'aborting' "
            "ELSE j.status::text END) = :status"
        )
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


CANCELLABLE = frozenset({"todo", "doing"})
RETRYABLE = frozenset({"failed"})


async def cancel_job(session: AsyncSession, *, job: JobView, actor_id: uuid.UUID | None) -> JobView:
    """Cancel a job as procrastinate does: a queued one at once (`cancelled`), a running one is
    asked to stop (`aborting` until its task notices, then `aborted`); the caller checked who
    may. Recorded as a `job.cancelled` event.

    Raises:
        Conflict: the job already ended, or it ended meanwhile.
    """
    if job.status == "aborting":
        return job  # asked already: asking again changes nothing
    if job.status not in CANCELLABLE:
        raise Conflict(
            f"job {job.id} already ended ({job.status}); only a queued or running job can be "
            "cancelled" + ("; retry it instead" if job.status in RETRYABLE else ""),
            details={"status": job.status},
        )
    cancelled = await session.scalar(
        text("SELECT procrastinate_cancel_job_v1(:id, true, false)"), {"id": job.id}
    )
    if cancelled is None:
        await _refused_meanwhile(session, job, "cancelled")
    # Read again: a worker may have taken the job between the look and the cancel.
    running = (await get_job(session, job_id=job.id)).status == "aborting"
    await _set_message(
        session, job.id, "asked to stop: cancelled" if running else "cancelled before it ran"
    )
    await events.emit(
        session,
        type="job.cancelled",
        payload={"job_id": job.id, "task": job.task, "running": running},
        project_id=job.project_id,
        actor_id=actor_id,
    )
    return await get_job(session, job_id=job.id)


async def retry_job(session: AsyncSession, *, job: JobView, actor_id: uuid.UUID | None) -> JobView:
    """Queue a failed job again as its next attempt (procrastinate's manual retry, which counts
    it as one); the caller checked who may. Recorded as a `job.retried` event.

    Raises:
        Conflict: the job has not failed (it is queued, running or ended otherwise), or another
            job holding its queueing lock already waits.
    """
    if job.status not in RETRYABLE:
        raise Conflict(_not_retryable(job), details={"status": job.status})
    lock_holder = await session.scalar(
        text(
            "SELECT w.id FROM procrastinate_jobs j JOIN procrastinate_jobs w "
            "ON w.queueing_lock = j.queueing_lock AND w.status = 'todo' WHERE j.id = :id"
        ),
        {"id": job.id},
    )
    if lock_holder is not None:
        raise Conflict(
            f"job {lock_holder} already waits to do the same work as job {job.id}; "
            f"follow it with `devflow jobs show {lock_holder} --watch`",
            details={"waiting_job": int(lock_holder)},
        )
    try:
        async with session.begin_nested():
            await session.execute(
                text("SELECT procrastinate_retry_job_v2(:id, now(), NULL, NULL, NULL)"),
                {"id": job.id},
            )
    except DBAPIError:
        await _refused_meanwhile(session, job, "retried")
    await session.execute(
        text(
            "UPDATE job_progress SET done = 0, total = NULL, phase = NULL, unit = NULL, "
            "phase_started_at = NULL WHERE job_id = :id"
        ),
        {"id": job.id},
    )
    await _set_message(session, job.id, "queued again")
    retried = await get_job(session, job_id=job.id)
    await events.emit(
        session,
        type="job.retried",
        payload={"job_id": job.id, "task": job.task, "attempts": retried.attempts},
        project_id=job.project_id,
        actor_id=actor_id,
    )
    return retried


def _not_retryable(job: JobView) -> str:
    why = {
        "todo": "it is queued already and runs when a worker is free",
        "doing": "it is running; cancel it first",
        "aborting": "it is stopping; retry it once it has",
        "succeeded": "it succeeded",
    }.get(
        job.status,
        f"it was {job.status} and stays so; start its work again where it began (refresh the "
        "source, publish again …)",
    )
    return f"only a failed job can be retried, and job {job.id} has not failed: {why}"


async def _refused_meanwhile(session: AsyncSession, job: JobView, verb: str) -> NoReturn:
    now = await get_job(session, job_id=job.id)
    raise Conflict(
        f"job {job.id} could not be {verb}: it became {now.status} meanwhile",
        details={"status": now.status},
    )


async def _set_message(session: AsyncSession, job_id: int, message: str) -> None:
    # A job deferred by procrastinate itself (a periodic one) has no progress row until it runs.
    await session.execute(
        text(
            "INSERT INTO job_progress (job_id, message, updated_at) VALUES (:id, :message, now()) "
            "ON CONFLICT (job_id) DO UPDATE SET message = EXCLUDED.message, updated_at = now()"
        ),
        {"id": job_id, "message": message},
    )


__all__ = [
    "PROGRESS_EVENT",
    "JobProgress",
    "JobView",
    "Phase",
    "blueprint",
    "cancel_job",
    "create_job_app",
    "defer",
    "get_job",
    "list_jobs",
    "report_progress",
    "retry_job",
    "retry_strategy",
]
