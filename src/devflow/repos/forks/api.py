"""Routes of forks, under /api/v1/projects/{project}/repos/{name}/forks."""

from __future__ import annotations

from fastapi import APIRouter, status

from devflow.core.http import PrincipalDep, ServicesDep, SessionDep
from devflow.core.schemas import error_responses
from devflow.repos import service as repos
from devflow.repos.forks import service
from devflow.repos.forks.schemas import ForkCreate, ForkRead
from devflow.repos.storage import Storage

router = APIRouter(
    prefix="/api/v1/projects/{project}/repos/{name}/forks",
    tags=["repos"],
    responses=error_responses(),
)


@router.post("", response_model=ForkRead, status_code=status.HTTP_201_CREATED)
async def fork_repository(
    project: str,
    name: str,
    data: ForkCreate,
    session: SessionDep,
    principal: PrincipalDep,
    services: ServicesDep,
) -> ForkRead:
    """Fork a repository you may read into a project you write to (its branches and tags are
    copied; the fork remembers its source)."""
    fork, owner = await service.fork_repository(
        session,
        principal=principal,
        project=project,
        name=name,
        data=data,
        storage=Storage.of(services.settings),
    )
    shown = repos.read_repository(fork, project=owner, settings=services.settings)
    return ForkRead(**shown.model_dump(), forked_from=repos.full_name(project, name))


@router.get("", response_model=list[ForkRead])
async def list_forks(
    project: str, name: str, session: SessionDep, principal: PrincipalDep, services: ServicesDep
) -> list[ForkRead]:
    """List a repository's forks that you may read (at most 500)."""
    forks = await service.list_forks(session, principal=principal, project=project, name=name)
    settings = services.settings
    return [
        ForkRead(
            **repos.read_repository(fork, project=owner, settings=settings).model_dump(),
            forked_from=repos.full_name(project, name),
        )
        for fork, owner in forks
    ]
