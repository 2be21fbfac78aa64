"""Job status and progress."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, Path
from pydantic import BaseModel

from devflow.core.http import PrincipalDep, SessionDep
from devflow.core.schemas import MAX_ID
from devflow.identity import get_visible_job

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


@router.get("/jobs/{job_id}", response_model=JobRead)
async def get_job(
    session: SessionDep, principal: PrincipalDep, job_id: int = Path(ge=1, le=MAX_ID)
) -> JobRead:
    """Return a job's status, progress and last error."""
    job = await get_visible_job(session, principal=principal, job_id=job_id)
    return JobRead.model_validate(job, from_attributes=True)
