"""HTTP routes of the git-hosting domain: REST under /api/v1/projects/{project}/repos, and
Smart HTTP at /{project}/{repo}.git (`smart_http`)."""

from __future__ import annotations

import re

from fastapi import APIRouter, Query, status
from starlette.routing import Route

from devflow.core.config import Settings
from devflow.core.http import PrincipalDep, ServicesDep, SessionDep
from devflow.core.schemas import MAX_OFFSET, Page, error_responses
from devflow.repos import service
from devflow.repos.browse.api import router as browse
from devflow.repos.forks.api import router as forks
from devflow.repos.mirrors.api import router as mirrors
from devflow.repos.protection.api import router as protection
from devflow.repos.pulls.api import router as pulls
from devflow.repos.schemas import RepoCreate, RepoRead, RepoUpdate
from devflow.repos.settings import ReposSettings
from devflow.repos.smart_http import SmartHttp
from devflow.repos.ssh.api import router as ssh_keys
from devflow.repos.storage import Storage
from devflow.repos.webhooks.api import router as webhooks

_PACK_PATH = re.compile(r"^/[^/]+/[^/]+\.git/git-(?:upload|receive)-pack$")


def body_limit(settings: Settings, path: str) -> int | None:
    """Return the largest body a Smart HTTP pack request may send (None: the API's default)."""
    if _PACK_PATH.match(path):
        return settings.section(ReposSettings).max_push_bytes
    return None


api = APIRouter(
    prefix="/api/v1/projects/{project}/repos", tags=["repos"], responses=error_responses()
)


@api.get("", response_model=Page[RepoRead])
async def list_repositories(
    project: str,
    session: SessionDep,
    principal: PrincipalDep,
    services: ServicesDep,
    limit: int = Query(50, ge=1, le=500, description="At most this many."),
    offset: int = Query(0, ge=0, le=MAX_OFFSET, description="Skip this many first."),
) -> Page[RepoRead]:
    """List a project's repositories by name, a page at a time."""
    rows, total = await service.list_repositories(
        session, principal=principal, project=project, limit=limit, offset=offset
    )
    settings = services.settings
    items = [service.read_repository(r, project=project, settings=settings) for r in rows]
    return Page(items=items, total=total)


@api.post("", response_model=RepoRead, status_code=status.HTTP_201_CREATED)
async def create_repository(
    project: str,
    data: RepoCreate,
    session: SessionDep,
    principal: PrincipalDep,
    services: ServicesDep,
) -> RepoRead:
    """Create a repository, empty or with a README on its default branch (project writers)."""
    repo = await service.create_repository(
        session,
        principal=principal,
        project=project,
        data=data,
        storage=Storage.of(services.settings),
    )
    return service.read_repository(repo, project=project, settings=services.settings)


@api.get("/{name}", response_model=RepoRead)
async def show_repository(
    project: str, name: str, session: SessionDep, principal: PrincipalDep, services: ServicesDep
) -> RepoRead:
    """Show a repository: its clone URL, size and last push."""
    repo = await service.require_repository(
        session, principal=principal, project=project, name=name
    )
    return service.read_repository(repo, project=project, settings=services.settings)


@api.patch("/{name}", response_model=RepoRead)
async def update_repository(
    project: str,
    name: str,
    data: RepoUpdate,
    session: SessionDep,
    principal: PrincipalDep,
    services: ServicesDep,
) -> RepoRead:
    """Rename, archive, change visibility or default branch (project admins)."""
    repo = await service.update_repository(
        session,
        principal=principal,
        project=project,
        name=name,
        data=data,
        storage=Storage.of(services.settings),
    )
    return service.read_repository(repo, project=project, settings=services.settings)


@api.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_repository(
    project: str, name: str, session: SessionDep, principal: PrincipalDep, services: ServicesDep
) -> None:
    """Delete a repository and its files (project admins)."""
    await service.delete_repository(
        session,
        principal=principal,
        project=project,
        name=name,
        storage=Storage.of(services.settings),
    )


git = APIRouter()
_BASE = "/{project}/{repo}.git"
# Plain ASGI endpoints: the body streams to the backend while its answer streams back, which
# a FastAPI route (or a StreamingResponse, which listens for a disconnect on the same
# `receive`) cannot do.
git.routes.extend(
    Route(_BASE + tail, SmartHttp(tail), methods=[method])
    for tail, method in (
        ("/info/refs", "GET"),
        ("/git-upload-pack", "POST"),
        ("/git-receive-pack", "POST"),
    )
)

ROUTERS = (api, browse, forks, mirrors, protection, pulls, webhooks, ssh_keys, git)
