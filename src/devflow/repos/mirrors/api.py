"""Routes of imports and pull mirrors, under /api/v1/projects/{project}/repos."""

from __future__ import annotations

from fastapi import APIRouter, status

from devflow.core.http import PrincipalDep, ServicesDep, SessionDep
from devflow.core.schemas import error_responses
from devflow.repos.mirrors import service
from devflow.repos.mirrors.schemas import ImportCreate, ImportStarted, MirrorRead, SyncStarted

router = APIRouter(
    prefix="/api/v1/projects/{project}/repos", tags=["repos"], responses=error_responses()
)


@router.post("/import", response_model=ImportStarted, status_code=status.HTTP_202_ACCEPTED)
async def import_repository(
    project: str,
    data: ImportCreate,
    session: SessionDep,
    principal: PrincipalDep,
    services: ServicesDep,
) -> ImportStarted:
    """Import a repository from an http(s) URL, once or as a pull mirror (project writers): a
    job clones it; follow it at /api/v1/jobs/{job_id}. Private addresses and URLs holding
    credentials are refused: name a secret of the project instead (`credentials:
    secret://NAME`)."""
    job_id, name = await service.start_import(
        session, principal=principal, project=project, data=data, services=services
    )
    return ImportStarted(job_id=job_id, project=project, name=name, mirror=data.mirror)


@router.get("/{name}/mirror", response_model=MirrorRead)
async def show_mirror(
    project: str, name: str, session: SessionDep, principal: PrincipalDep
) -> MirrorRead:
    """Show a pull mirror: its source, interval, last fetch and last error (readers)."""
    mirror = await service.get_mirror(session, principal=principal, project=project, name=name)
    return MirrorRead.model_validate(mirror, from_attributes=True)


@router.post(
    "/{name}/mirror/sync", response_model=SyncStarted, status_code=status.HTTP_202_ACCEPTED
)
async def sync_mirror(
    project: str, name: str, session: SessionDep, principal: PrincipalDep
) -> SyncStarted:
    """Fetch a pull mirror from its source now (project admins)."""
    job_id = await service.request_fetch(session, principal=principal, project=project, name=name)
    return SyncStarted(job_id=job_id)
