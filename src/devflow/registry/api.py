"""HTTP routes of the registry domain: REST management under /api/v1/registry, and each
format's protocol endpoints (/pypi/…, /npm/…, /v2/…), included from the registry of formats."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Query, Request, status

from devflow.core import jobs
from devflow.core.config import Settings
from devflow.core.http import PrincipalDep, ServicesDep, SessionDep
from devflow.core.schemas import Page
from devflow.registry import gc, packages, service, usage, versions
from devflow.registry.formats import FORMATS
from devflow.registry.http import forget_repository, runtime
from devflow.registry.schemas import (
    DeprecateRequest,
    GcReport,
    GcRequest,
    PackageDetail,
    PackageRead,
    RepositoryCreate,
    RepositoryRead,
    RepositoryUpdate,
    StatsRead,
    YankRequest,
)
from devflow.registry.settings import RegistrySettings

router = APIRouter()


def body_limit(settings: Settings, path: str) -> int | None:
    """Return the largest request body the registry accepts on `path` (None: the API default).

    Checked against a declared Content-Length before anything is read (web.RequestGuard); each
    protocol still counts what actually arrives against its own, finer limit.
    """
    for prefix, fmt in _PREFIXES:
        if path.startswith(prefix):
            return fmt.body_limit(settings.section(RegistrySettings).max_upload_bytes)
    return None


_PREFIXES = tuple((fmt.prefix + "/", fmt) for fmt in FORMATS.values())
HOT_ROUTES = tuple(route for fmt in FORMATS.values() for route in fmt.hot_routes())
"""Matched before FastAPI's router (`web.middleware.HotRoutes`)."""
api = APIRouter(prefix="/api/v1/registry", tags=["registry"])


@api.get("/repositories", response_model=Page[RepositoryRead])
async def list_repositories(
    session: SessionDep,
    principal: PrincipalDep,
    services: ServicesDep,
    format: str | None = Query(None, description="Only this format."),  # noqa: A002
) -> Page[RepositoryRead]:
    """List the repositories you can read."""
    repos = await service.list_repositories(session, principal=principal, fmt=format)
    base = services.settings.base_url
    items = [await service.read_repository(session, r, base_url=base) for r in repos]
    return Page(items=items, total=len(items))


@api.post("/repositories", response_model=RepositoryRead, status_code=status.HTTP_201_CREATED)
async def create_repository(
    data: RepositoryCreate, session: SessionDep, principal: PrincipalDep, services: ServicesDep
) -> RepositoryRead:
    """Create a repository in a project you administer."""
    repo = await service.create_repository(session, principal=principal, data=data)
    return await service.read_repository(session, repo, base_url=services.settings.base_url)


@api.get("/repositories/{name}", response_model=RepositoryRead)
async def show_repository(
    name: str, session: SessionDep, principal: PrincipalDep, services: ServicesDep
) -> RepositoryRead:
    """Show a repository and the URL its clients use."""
    repo = await service.require_repository(session, principal=principal, name=name)
    return await service.read_repository(session, repo, base_url=services.settings.base_url)


@api.patch("/repositories/{name:path}", response_model=RepositoryRead)
async def update_repository(
    name: str,
    data: RepositoryUpdate,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    services: ServicesDep,
) -> RepositoryRead:
    """Change a repository's visibility or description (project admins)."""
    repo = await service.update_repository(session, principal=principal, name=name, data=data)
    forget_repository(request, name)
    return await service.read_repository(session, repo, base_url=services.settings.base_url)


@api.delete("/repositories/{name}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_repository(
    name: str, request: Request, session: SessionDep, principal: PrincipalDep
) -> None:
    """Delete a repository and its packages (project admins); blobs go at the next GC."""
    await service.delete_repository(session, principal=principal, name=name)
    forget_repository(request, name)


@api.get("/repositories/{name}/packages", response_model=Page[PackageRead])
async def list_packages(
    name: str,
    session: SessionDep,
    principal: PrincipalDep,
    q: str | None = Query(None, description="Only packages whose name or summary contains this."),
) -> Page[PackageRead]:
    """List a repository's packages."""
    items = await packages.list_packages(session, principal=principal, repository=name, query=q)
    return Page(items=items, total=len(items))


# Registered in this order (decorators apply bottom-up): `{package:path}` would match
# `<package>/versions` too.
@api.get("/repositories/{name}/packages/{package:path}", response_model=PackageDetail)
@api.get("/repositories/{name}/packages/{package:path}/versions", response_model=PackageDetail)
async def show_package(
    name: str, package: str, session: SessionDep, principal: PrincipalDep, services: ServicesDep
) -> PackageDetail:
    """Show a package with its versions, files, dependencies and tags."""
    return await packages.describe_package(
        session,
        principal=principal,
        repository=name,
        name=package,
        base_url=services.settings.base_url,
    )


_VERSION = "/repositories/{name}/packages/{package:path}/versions/{version}"


@api.post(_VERSION + "/yank", status_code=204)
async def yank(
    name: str,
    package: str,
    version: str,
    data: YankRequest,
    session: SessionDep,
    principal: PrincipalDep,
) -> None:
    """Yank a version: installers skip it unless it is pinned."""
    await versions.yank_version(
        session,
        principal=principal,
        repository=name,
        name=package,
        version=version,
        reason=data.reason,
    )


@api.post(_VERSION + "/unyank", status_code=204)
async def unyank(
    name: str, package: str, version: str, session: SessionDep, principal: PrincipalDep
) -> None:
    """Undo a yank."""
    await versions.yank_version(
        session,
        principal=principal,
        repository=name,
        name=package,
        version=version,
        reason=None,
        yanked=False,
    )


@api.post(_VERSION + "/deprecate", status_code=204)
async def deprecate(
    name: str,
    package: str,
    version: str,
    data: DeprecateRequest,
    session: SessionDep,
    principal: PrincipalDep,
) -> None:
    """Deprecate a version with a message (empty: undeprecate)."""
    await versions.deprecate_version(
        session,
        principal=principal,
        repository=name,
        name=package,
        version=version,
        message=data.message,
    )


@api.delete(_VERSION, status_code=204)
async def delete_version(
    name: str, package: str, version: str, session: SessionDep, principal: PrincipalDep
) -> None:
    """Delete a version (project admins only; versions are otherwise immutable)."""
    await versions.delete_version(
        session, principal=principal, repository=name, name=package, version=version
    )


@api.delete("/repositories/{name}/packages/{package:path}", status_code=204)
async def delete_package(
    name: str, package: str, session: SessionDep, principal: PrincipalDep
) -> None:
    """Delete a package with every version (project admins)."""
    await versions.delete_package(session, principal=principal, repository=name, name=package)


@api.get("/search", response_model=Page[PackageRead])
async def search(
    session: SessionDep,
    principal: PrincipalDep,
    q: str = Query(description="Text in the package name or summary."),
    format: str | None = Query(None, description="Only this format."),  # noqa: A002
) -> Page[PackageRead]:
    """Search packages by name and summary across the repositories you can read."""
    items = await packages.search_packages(session, principal=principal, query=q, fmt=format)
    return Page(items=items, total=len(items))


@api.get("/stats", response_model=StatsRead)
async def stats(
    session: SessionDep,
    principal: PrincipalDep,
    repository: str | None = Query(None, description="One repository."),
) -> StatsRead:
    """Storage and download statistics per repository and per format."""
    return await usage.stats(session, principal=principal, repository=repository)


@api.post("/gc", response_model=GcReport)
async def collect_garbage(
    data: GcRequest,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    services: ServicesDep,
) -> GcReport:
    """Garbage-collect the blob store (instance admins): a dry run answers at once, a real
    run is queued as the `registry:collect_garbage` job."""
    principal.require_instance_admin()
    grace = timedelta(seconds=services.settings.section(RegistrySettings).gc_grace_seconds)
    report = await gc.collect_garbage(
        session,
        store=runtime(request).store,
        grace=grace,
        dry_run=True,
        untagged_retention=services.settings.section(RegistrySettings).untagged_retention(),
    )
    if not data.dry_run:
        report.dry_run = False
        report.job_id = await jobs.defer(
            session,
            task="registry:collect_garbage",
            args={},
            queueing_lock="registry:collect_garbage",
        )
    return report


# OCI image repositories are named `<project>/<name>`: these come last, after every more
# specific `/repositories/{name}/…` route, so a name with '/' still reaches show and delete.
# OpenAPI has no path parameter holding '/', so the schema lists only the routes above.
api.add_api_route(
    "/repositories/{name:path}",
    show_repository,
    methods=["GET"],
    response_model=RepositoryRead,
    include_in_schema=False,
)
api.add_api_route(
    "/repositories/{name:path}",
    delete_repository,
    methods=["DELETE"],
    status_code=status.HTTP_204_NO_CONTENT,
    include_in_schema=False,
)

router.include_router(api)
for _format in FORMATS.values():
    for _router in _format.routers():
        router.include_router(_router)


ROUTERS = (router,)
"""The routers this module serves (the domain manifest names them)."""
