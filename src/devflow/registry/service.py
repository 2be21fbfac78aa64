"""Registry management: repositories, and the lookups of packages and versions.

Protocol endpoints (formats/) and the REST API both call these; every function that acts for
someone takes the caller's `Principal` (None for anonymous protocol reads) and checks access
itself. Around it: `packages` (listings, search, a package in full), `versions` (yank,
deprecate, delete, tags), `publish` (the one publish path), `usage` (statistics). Nothing here
branches on a format's name: what differs between formats, the format says (`formats.Format`).
"""

from __future__ import annotations

import uuid

from sqlalchemy import Select, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core import clock, events
from devflow.core.auth import Principal, Role, Scope
from devflow.core.errors import Conflict, Invalid, NotFound
from devflow.identity import Project, require_access, require_project, visible_project_ids
from devflow.registry import access
from devflow.registry.formats import api_formats, find_format
from devflow.registry.models import (
    Package,
    PackageFile,
    PackageVersion,
    Repository,
)
from devflow.registry.schemas import (
    Kind,
    RepositoryCreate,
    RepositoryRead,
    RepositoryUpdate,
)
from devflow.registry.scopes import REGISTRY_READ

# -- repositories ---------------------------------------------------------------------------------


async def get_repository(session: AsyncSession, *, name: str) -> Repository | None:
    """Return a repository by name, or None."""
    return await session.scalar(select(Repository).where(Repository.name == name))


def client_url(repo: Repository, base_url: str) -> str:
    """Return the URL a package client is pointed at for this repository."""
    fmt = find_format(repo.format)
    if fmt is None:
        return f"{base_url}/{repo.format}/{repo.name}/"
    return fmt.client_url(repo, base_url)


def upload_url(repo: Repository, base_url: str) -> str:
    """Return the URL a package client publishes to in this repository."""
    fmt = find_format(repo.format)
    if fmt is None:
        return client_url(repo, base_url)
    return fmt.upload_url(repo, base_url)


def stored_name(repo: Repository, name: str) -> str:
    """Return the name a package called `name` is stored under in `repo` (its format's rule)."""
    fmt = find_format(repo.format)
    return name if fmt is None else fmt.normalize(name)


async def read_repository(
    session: AsyncSession, repo: Repository, *, base_url: str
) -> RepositoryRead:
    """Return the API view of a repository."""
    project = await session.get_one(Project, repo.project_id)
    return RepositoryRead(
        id=repo.id,
        name=repo.name,
        project=project.name,
        format=repo.format,
        kind=repo.kind,
        visibility=repo.visibility,
        description=repo.description,
        created_at=repo.created_at,
        url=client_url(repo, base_url),
        upload_url=upload_url(repo, base_url),
    )


async def create_repository(
    session: AsyncSession, *, principal: Principal, data: RepositoryCreate
) -> Repository:
    """Create a repository in a project the caller administers.

    Raises:
        Conflict: the name is taken (names are unique across the instance).
        Invalid: a format or kind this version cannot serve yet.
    """
    project = await require_project(
        session, principal=principal, name=data.project, role=Role.ADMIN
    )
    if data.kind is not Kind.HOSTED:
        raise Invalid(f"{data.kind.value} repositories are not available yet; use --kind hosted")
    fmt = find_format(data.format.value)
    if fmt is not None and fmt.created_on_push:
        raise Invalid(f"{fmt.name} repositories are created by their first push")
    if fmt is None:
        served = ", ".join(f.name for f in api_formats())
        raise Invalid(f"the {data.format.value} format is not available yet; available: {served}")
    if await get_repository(session, name=data.name) is not None:
        raise Conflict(f"a repository named {data.name!r} already exists")
    repo = Repository(
        name=data.name,
        project_id=project.id,
        format=data.format.value,
        kind=data.kind.value,
        visibility=data.visibility.value,
        description=data.description,
        config={},
        created_by=principal.user_id,
    )
    session.add(repo)
    await session.flush()
    await events.emit(
        session,
        type="registry.repository.created",
        project_id=project.id,
        actor_id=principal.user_id,
        payload={"repository": repo.name, "format": repo.format, "visibility": repo.visibility},
    )
    return repo


def readable_repositories(principal: Principal) -> Select[Repository]:
    """Return a query of the repositories the caller may read (for listings and statistics)."""
    query = select(Repository)
    if principal.is_instance_admin:
        return query
    visible = visible_project_ids(principal) or []
    conditions = [Repository.visibility == access.Visibility.PUBLIC]
    if principal.has_scope(REGISTRY_READ):
        conditions.append(Repository.project_id.in_(visible))
        if principal.project_id is None:
            conditions.append(Repository.visibility == access.Visibility.INTERNAL)
    return query.where(or_(*conditions))


async def list_repositories(
    session: AsyncSession, *, principal: Principal, fmt: str | None = None
) -> list[Repository]:
    """Return the repositories the caller may read, by name."""
    query = readable_repositories(principal).order_by(Repository.name)
    if fmt:
        query = query.where(Repository.format == fmt)
    return list(await session.scalars(query))


async def require_repository(
    session: AsyncSession, *, principal: Principal | None, name: str
) -> Repository:
    """Return a repository the caller may read.

    Raises:
        NotFound, Unauthenticated: see `access.require_read`.
    """
    return access.require_read(principal, await get_repository(session, name=name), name)


async def update_repository(
    session: AsyncSession, *, principal: Principal, name: str, data: RepositoryUpdate
) -> Repository:
    """Change a repository's visibility or description (project admins)."""
    repo = await require_repository(session, principal=principal, name=name)
    _require_project_admin(principal, repo)
    if data.visibility is not None:
        repo.visibility = data.visibility.value
    if data.description is not None:
        repo.description = data.description
    await session.flush()
    return repo


def _require_project_admin(principal: Principal, repo: Repository) -> None:
    require_access(
        principal,
        repo.project_id,
        Role.ADMIN,
        scope=Scope.WRITE,
        visible=True,  # the caller reads it: refuse, do not hide
        denied=f"only admins of {repo.name!r}'s project may change it",
    )


async def delete_repository(session: AsyncSession, *, principal: Principal, name: str) -> None:
    """Delete a repository and everything in it (project admins); blobs go at the next GC."""
    repo = await require_repository(session, principal=principal, name=name)
    _require_project_admin(principal, repo)
    await session.delete(repo)
    await session.flush()
    await events.emit(
        session,
        type="registry.repository.deleted",
        project_id=repo.project_id,
        actor_id=principal.user_id,
        payload={"repository": repo.name, "format": repo.format},
    )


# -- packages and versions ------------------------------------------------------------------------


async def get_package(session: AsyncSession, *, repo: Repository, name: str) -> Package | None:
    """Return a package of a repository by its (normalized) name."""
    return await session.scalar(
        select(Package).where(Package.repository_id == repo.id, Package.name == name)
    )


async def require_package(session: AsyncSession, *, repo: Repository, name: str) -> Package:
    """Return a package or raise NotFound."""
    package = await get_package(session, repo=repo, name=name)
    if package is None:
        raise NotFound(f"no package {name!r} in {repo.name!r}")
    return package


async def list_versions(session: AsyncSession, *, package: Package) -> list[PackageVersion]:
    """Return a package's versions, oldest first."""
    return list(
        await session.scalars(
            select(PackageVersion)
            .where(PackageVersion.package_id == package.id)
            .order_by(PackageVersion.published_at, PackageVersion.version)
        )
    )


async def require_version(
    session: AsyncSession, *, package: Package, version: str
) -> PackageVersion:
    """Return a version or raise NotFound."""
    found = await session.scalar(
        select(PackageVersion).where(
            PackageVersion.package_id == package.id, PackageVersion.version == version
        )
    )
    if found is None:
        raise NotFound(f"no version {version!r} of {package.display_name!r}")
    return found


async def files_of(session: AsyncSession, *, version_ids: list[uuid.UUID]) -> list[PackageFile]:
    """Return the files of some versions, by file name."""
    if not version_ids:
        return []
    return list(
        await session.scalars(
            select(PackageFile)
            .where(PackageFile.version_id.in_(version_ids))
            .order_by(PackageFile.filename)
        )
    )


async def touch_package(session: AsyncSession, package: Package) -> None:
    """Record a change to a package (npm `_rev`, ETags, `modified` times)."""
    await session.execute(
        update(Package)
        .where(Package.id == package.id)
        .values(revision=Package.revision + 1, updated_at=clock.now())
    )
    await session.refresh(package)


__all__ = [
    "client_url",
    "create_repository",
    "delete_repository",
    "files_of",
    "get_package",
    "get_repository",
    "list_repositories",
    "list_versions",
    "read_repository",
    "readable_repositories",
    "require_package",
    "require_repository",
    "require_version",
    "stored_name",
    "touch_package",
    "update_repository",
    "upload_url",
]
