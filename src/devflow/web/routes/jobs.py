"""Jobs: a listing with filters, one job's status and progress, cancel and retry."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, BeforeValidator, Field

from devflow.core import jobs
from devflow.core.auth import Principal, Scope
from devflow.core.http import PrincipalDep, SessionDep
from devflow.core.schemas import MAX_ID, Page
from devflow.identity import (
    get_controllable_job,
    get_visible_job,
    may_control_job,
    visible_project_ids,
)

router = APIRouter(prefix="/api/v1", tags=["jobs"])


class JobRead(BaseModel):
    """A background job."""

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
    phase: str | None = Field(
        description="The phase the job is in (ingestion: `fetch`, then `embed`); `done` and "
        "`total` count this phase's `unit`."
    )
    unit: str | None = Field(description="What `done` and `total` count (`pages`, `chunks` …).")
    counts: dict[str, int] | None = Field(description="The task's own counters, as they stand.")
    phase_started_at: datetime | None
    rate: float | None = Field(
        description="Units done per second in this phase, from its start to `updated_at`."
    )
    eta_seconds: float | None = Field(
        description="Seconds this phase still needs at `rate`, counted from `updated_at`."
    )
    actions: list[Literal["cancel", "retry"]] = Field(
        description="What the caller may do with the job now: `cancel` a queued or running "
        "one, `retry` a failed one (the write role in its project; instance-wide jobs: "
        "instance admins)."
    )


def _read(job: jobs.JobView, principal: Principal) -> JobRead:
    actions: list[Literal["cancel", "retry"]] = []
    if may_control_job(principal, job):
        if job.status in jobs.CANCELLABLE:
            actions.append("cancel")
        if job.status in jobs.RETRYABLE:
            actions.append("retry")
    return JobRead.model_validate({**vars(job), "actions": actions})


_SHOWN = 40  # characters of a refused id repeated in the answer


def _job_id(value: object) -> object:
    """Refuse what cannot be a job's id in words that say what one is."""
    if isinstance(value, str) and not (
        value.isascii()
        and value.isdigit()
        and len(value) <= len(str(MAX_ID))
        and 1 <= int(value) <= MAX_ID
    ):
        shown = value if len(value) <= _SHOWN else value[:_SHOWN] + "…"
        raise ValueError(
            f"{shown!r} is not a job id: a job id is a whole number from 1 to {MAX_ID} "
            "(`devflow jobs list` shows them)"
        )
    return value


JobId = Annotated[int, Path(ge=1, le=MAX_ID, description="The job's id."), BeforeValidator(_job_id)]


JobStatus = Literal["todo", "doing", "succeeded", "failed", "cancelled", "aborting", "aborted"]


@router.get("/jobs", response_model=Page[JobRead])
async def list_jobs(
    session: SessionDep,
    principal: PrincipalDep,
    status: JobStatus | None = Query(None, description="Only jobs in this state."),
    task: str | None = Query(
        None, max_length=100, description="Only this task; `knowledge:*` matches a prefix."
    ),
    before: int | None = Query(None, ge=1, le=MAX_ID, description="Jobs older than this id."),
    limit: int = Query(50, ge=1, le=500),
) -> Page[JobRead]:
    """List the jobs you can see, newest first (instance-wide jobs: instance admins only)."""
    principal.require_scope(Scope.READ)
    found = await jobs.list_jobs(
        session,
        project_ids=visible_project_ids(principal),
        status=status,
        task=task,
        before=before,
        limit=limit,
    )
    items = [_read(job, principal) for job in found]
    return Page(items=items, total=len(items))


@router.get("/jobs/{job_id}", response_model=JobRead)
async def get_job(session: SessionDep, principal: PrincipalDep, job_id: JobId) -> JobRead:
    """Return a job's status, progress and last error."""
    job = await get_visible_job(session, principal=principal, job_id=job_id)
    return _read(job, principal)


@router.post("/jobs/{job_id}/cancel", response_model=JobRead)
async def cancel_job(session: SessionDep, principal: PrincipalDep, job_id: JobId) -> JobRead:
    """Cancel a job: a queued one at once (`cancelled`); a running one is asked to stop
    (`aborting` until its task notices, then `aborted`). Needs the write role in its project."""
    job = await get_controllable_job(session, principal=principal, job_id=job_id)
    cancelled = await jobs.cancel_job(session, job=job, actor_id=principal.user_id)
    return _read(cancelled, principal)


@router.post("/jobs/{job_id}/retry", response_model=JobRead)
async def retry_job(session: SessionDep, principal: PrincipalDep, job_id: JobId) -> JobRead:
    """Queue a failed job again as its next attempt. Needs the write role in its project."""
    job = await get_controllable_job(session, principal=principal, job_id=job_id)
    retried = await jobs.retry_job(session, job=job, actor_id=principal.user_id)
    return _read(retried, principal)
