"""Repositories in projects: create, list, show, change, delete; and the record of pushes.

Every function that acts for someone takes the caller's `Principal` (None for anonymous Smart
HTTP reads) and checks access itself (`access`). Files on disk are `storage`'s: a service
function changes them only after the checks, and the edge's transaction commits the rows.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core import clock, events
from devflow.core.auth import Principal, Role
from devflow.core.config import Settings
from devflow.core.errors import Conflict
from devflow.identity import Project, require_project
from devflow.repos import access
from devflow.repos.models import GitRepository, Push
from devflow.repos.schemas import RepoCreate, RepoRead, RepoUpdate, Visibility
from devflow.repos.settings import ReposSettings
from devflow.repos.storage import Storage


def full_name(project: str, name: str) -> str:
    """Return `project/name`, as URLs and messages show a repository."""
    return f"{project}/{name}"


def clone_url(base_url: str, project: str, name: str) -> str:
    """Return the Smart HTTP URL `git clone` takes."""
    return f"{base_url.rstrip('/')}/{project}/{name}.git"


def ssh_url(base_url: str, ssh_port: int, project: str, name: str) -> str | None:
    """Return the SSH URL `git clone` takes, on the host of the HTTP base URL (the SSH server
    listens on the HTTP server's address); None when SSH is off (`repos.ssh_port` 0)."""
    if ssh_port == 0:
        return None
    host = urlsplit(base_url).hostname or "localhost"
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    return f"ssh://git@{host}:{ssh_port}/{project}/{name}.git"


async def get_repository(session: AsyncSession, *, project: str, name: str) -> GitRepository | None:
    """Return a repository by its project's name and its own, or None."""
    return await session.scalar(
        select(GitRepository)
        .join(Project, Project.id == GitRepository.project_id)
        .where(Project.name == project, GitRepository.name == name)
    )


def repository_folder(settings: Settings, repo: GitRepository) -> Path:
    """The bare repository's folder on this machine (for a local `git clone`, never served)."""
    return Storage.of(settings).path(repo.id)


async def require_repository(
    session: AsyncSession, *, principal: Principal | None, project: str, name: str
) -> GitRepository:
    """Return a repository the caller may read.

    Raises:
        Unauthenticated, NotFound, PermissionDenied: see `access.require_read`.
    """
    found = await get_repository(session, project=project, name=name)
    return access.require_read(principal, found, full_name(project, name))


def read_repository(repo: GitRepository, *, project: str, settings: Settings) -> RepoRead:
    """Return the API view of a repository, with its clone URLs on this server."""
    base_url = settings.base_url
    return RepoRead(
        id=repo.id,
        project=project,
        name=repo.name,
        description=repo.description,
        visibility=Visibility(repo.visibility),
        default_branch=repo.default_branch,
        archived=repo.archived,
        size_bytes=repo.size_bytes,
        last_pushed_at=repo.last_pushed_at,
        created_at=repo.created_at,
        clone_url=clone_url(base_url, project, repo.name),
        ssh_url=ssh_url(base_url, settings.section(ReposSettings).ssh_port, project, repo.name),
        mirror=repo.is_mirror,
        forked_from_id=repo.forked_from_id,
    )


async def list_repositories(
    session: AsyncSession, *, principal: Principal, project: str, limit: int, offset: int
) -> tuple[list[GitRepository], int]:
    """Return a page of a project's repositories by name, and how many there are in all.

    Raises:
        NotFound, PermissionDenied: the caller is not a reader of the project.
    """
    found = await require_project(session, principal=principal, name=project, role=Role.READ)
    where = GitRepository.project_id == found.id
    total = await session.scalar(select(func.count()).select_from(GitRepository).where(where))
    rows = await session.scalars(
        select(GitRepository).where(where).order_by(GitRepository.name).limit(limit).offset(offset)
    )
    return list(rows), total or 0


async def create_repository(
    session: AsyncSession,
    *,
    principal: Principal,
    project: str,
    data: RepoCreate,
    storage: Storage,
) -> GitRepository:
    """Create a repository (empty, or with a README commit) in a project the caller writes to.

    Raises:
        NotFound, PermissionDenied: not a writer of the project.
        Conflict: the project has a repository of that name.
    """
    owner = await require_project(session, principal=principal, name=project, role=Role.WRITE)
    if await get_repository(session, project=project, name=data.name) is not None:
        raise Conflict(f"{full_name(project, data.name)} exists already")
    repo = GitRepository(
        id=uuid.uuid4(),
        project_id=owner.id,
        name=data.name,
        description=data.description,
        visibility=data.visibility.value,
        default_branch=data.default_branch,
        created_by=principal.user_id,
    )
    session.add(repo)
    await session.flush()  # the unique name, before anything is written to disk
    readme = f"# {data.name}\n\n{data.description}\n".replace("\n\n\n", "\n")
    await storage.create(
        repo.id,
        branch=data.default_branch,
        readme=readme if data.readme else None,
        author=principal.username,
    )
    repo.size_bytes = storage.size(repo.id)
    await _emit(session, "repo.created", repo, principal, project=project)
    return repo


async def update_repository(
    session: AsyncSession,
    *,
    principal: Principal,
    project: str,
    name: str,
    data: RepoUpdate,
    storage: Storage,
) -> GitRepository:
    """Rename, describe, archive or unarchive a repository, change its visibility or default
    branch (project admins).

    Raises:
        NotFound, PermissionDenied: as `access.require_admin`.
        Conflict: the new name is taken in the project.
    """
    found = await get_repository(session, project=project, name=name)
    repo = access.require_admin(principal, found, full_name(project, name))
    changes: dict[str, Any] = data.model_dump(exclude_none=True)
    if data.name is not None and data.name != repo.name:
        if await get_repository(session, project=project, name=data.name) is not None:
            raise Conflict(f"{full_name(project, data.name)} exists already")
        repo.name = data.name
    if data.description is not None:
        repo.description = data.description
    if data.visibility is not None:
        repo.visibility = data.visibility.value
    if data.archived is not None:
        repo.archived = data.archived
    if data.default_branch is not None and data.default_branch != repo.default_branch:
        await storage.set_default_branch(repo.id, data.default_branch)
        repo.default_branch = data.default_branch
    await session.flush()
    if changes:
        await _emit(session, "repo.updated", repo, principal, project=project, changes=changes)
    return repo


async def delete_repository(
    session: AsyncSession, *, principal: Principal, project: str, name: str, storage: Storage
) -> None:
    """Delete a repository, its files and its pushes' record (project admins). Pull requests
    from it into other repositories (it is a fork) are closed and kept, their head repository
    NULL; its own pull requests go with it.

    Raises:
        NotFound, PermissionDenied: as `access.require_admin`.
    """
    # Imported here: the pull requests' service imports this module.
    from devflow.repos.pulls.service import close_pulls_from

    found = await get_repository(session, project=project, name=name)
    repo = access.require_admin(principal, found, full_name(project, name))
    await close_pulls_from(
        session,
        head=repo,
        actor=principal,
        note=f"closed: its head repository {full_name(project, name)} was deleted",
    )
    await _emit(session, "repo.deleted", repo, principal, project=project)
    await session.delete(repo)
    await session.flush()  # the row goes first: a failure here leaves the files in place
    storage.delete(repo.id)


async def record_push(
    session: AsyncSession,
    *,
    repo_id: uuid.UUID,
    pusher: Principal,
    refs: list[dict[str, str]],
    size_bytes: int,
) -> Push | None:
    """Record a push that moved `refs`, update the repository's size and last push, and emit
    `repo.pushed`. Returns None when the repository was deleted meanwhile."""
    repo = await session.get(GitRepository, repo_id, with_for_update=True)
    if repo is None:
        return None
    now = clock.now()
    push = Push(repository_id=repo.id, pusher_id=pusher.user_id, pushed_at=now, refs=refs)
    session.add(push)
    repo.size_bytes = size_bytes
    repo.last_pushed_at = now
    await session.flush()
    project = await session.get_one(Project, repo.project_id)
    await _emit(session, "repo.pushed", repo, pusher, project=project.name, refs=refs)
    return push


async def _emit(
    session: AsyncSession,
    type_: str,
    repo: GitRepository,
    actor: Principal,
    *,
    project: str,
    **extra: Any,
) -> None:
    await emit_repo_event(
        session, type_, repo, project=project, actor=(actor.user_id, actor.username), **extra
    )


async def emit_repo_event(
    session: AsyncSession,
    type_: str,
    repo: GitRepository,
    *,
    project: str,
    actor: tuple[uuid.UUID, str],
    **extra: Any,
) -> None:
    """Record a `repo.*` event of `repo` (in the caller's transaction): the repository, its
    project and id, who acted (`pusher` for a push) and `extra`."""
    actor_id, actor_name = actor
    await events.emit(
        session,
        type=type_,
        project_id=repo.project_id,
        actor_id=actor_id,
        payload={
            "repository": repo.name,
            "project": project,
            "repository_id": str(repo.id),
            "pusher" if type_ == "repo.pushed" else "actor": actor_name,
            **extra,
        },
    )


__all__ = [
    "clone_url",
    "create_repository",
    "delete_repository",
    "full_name",
    "get_repository",
    "list_repositories",
    "read_repository",
    "record_push",
    "require_repository",
    "ssh_url",
    "update_repository",
]
