"""Jobs: a listing with filters, and one job's status and progress."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from devflow.core import jobs
from devflow.core.auth import Scope
from devflow.core.http import PrincipalDep, SessionDep
from devflow.core.schemas import MAX_ID, Page
from devflow.identity import get_visible_job, visible_project_ids

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
    items = [JobRead.model_validate(job, from_attributes=True) for job in found]
    return Page(items=items, total=len(items))


@router.get("/jobs/{job_id}", response_model=JobRead)
async def get_job(
    session: SessionDep, principal: PrincipalDep, job_id: int = Path(ge=1, le=MAX_ID)
) -> JobRead:
    """Return a job's status, progress and last error."""
    job = await get_visible_job(session, principal=principal, job_id=job_id)
    return JobRead.model_validate(job, from_attributes=True)
