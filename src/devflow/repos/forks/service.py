"""Forks: a new repository whose branches and tags start as the source's, and which remembers
its source (`GitRepository.forked_from_id`).

The fork's objects are copied, not shared: `git clone --bare --no-hardlinks` from the source's
folder. Alternates (`--shared`, `--reference`) would make the fork read the source's object
store, so deleting or pruning the source would break the fork; hard links would tie both to one
inode quota and file. A copy costs disk and time once, and each repository stays whole on its
own. Only branches and tags are copied (not `refs/pull/*`). The copy is built in
`repos/.incoming/` and renamed into place in the transaction that writes the row, as every new
repository is.
"""

from __future__ import annotations

import shutil
import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core.auth import Principal, Role
from devflow.core.errors import Conflict
from devflow.identity import Project, require_project
from devflow.repos import access
from devflow.repos.forks.schemas import ForkCreate
from devflow.repos.models import GitRepository
from devflow.repos.service import emit_repo_event, full_name, get_repository
from devflow.repos.storage import Storage, write_hooks


async def fork_repository(
    session: AsyncSession,
    *,
    principal: Principal,
    project: str,
    name: str,
    data: ForkCreate,
    storage: Storage,
) -> tuple[GitRepository, str]:
    """Fork a repository the caller may read into a project the caller writes to; return the
    fork and its project's name.

    Raises:
        Unauthenticated, NotFound, PermissionDenied: the source cannot be read, or the target
            project written.
        Conflict: the target project has a repository of that name.
    """
    found = await get_repository(session, project=project, name=name)
    source = access.require_read(principal, found, full_name(project, name))
    target_project = data.project or project
    owner = await require_project(
        session, principal=principal, name=target_project, role=Role.WRITE
    )
    fork_name = data.name or source.name
    if await get_repository(session, project=target_project, name=fork_name) is not None:
        raise Conflict(f"{full_name(target_project, fork_name)} exists already")
    fork = GitRepository(
        id=uuid.uuid4(),
        project_id=owner.id,
        name=fork_name,
        description=source.description,
        visibility=source.visibility,
        default_branch=source.default_branch,
        forked_from_id=source.id,
        created_by=principal.user_id,
        last_pushed_at=source.last_pushed_at,
    )
    session.add(fork)
    await session.flush()  # the unique name, before anything is written to disk
    await _copy(storage, source.id, fork.id)
    fork.size_bytes = storage.size(fork.id)
    await emit_repo_event(
        session,
        "repo.forked",
        fork,
        project=target_project,
        actor=(principal.user_id, principal.username),
        forked_from=full_name(project, source.name),
        forked_from_id=str(source.id),
    )
    return fork, target_project


async def _copy(storage: Storage, source_id: uuid.UUID, fork_id: uuid.UUID) -> None:
    storage.prepare()
    incoming = storage.root / ".incoming"
    incoming.mkdir(mode=storage.dir_mode, exist_ok=True)
    building = incoming / f"{fork_id}.git"
    try:
        await storage.run(
            "clone", "--quiet", "--bare", "--no-hardlinks", "--template=",
            f"--config=core.sharedRepository=0{storage.file_mode:o}",
            "--", str(storage.path(source_id)), str(building), cwd=incoming,
        )  # fmt: skip
        await storage.run("remote", "remove", "origin", cwd=building)
        write_hooks(building)
        building.rename(storage.path(fork_id))
    finally:
        if building.exists():
            shutil.rmtree(building, ignore_errors=True)


async def source_name(session: AsyncSession, repo: GitRepository) -> str | None:
    """Return `project/name` of the repository a fork was copied from (None: not a fork, or
    its source was deleted)."""
    if repo.forked_from_id is None:
        return None
    row = (
        await session.execute(
            select(Project.name, GitRepository.name)
            .join(Project, Project.id == GitRepository.project_id)
            .where(GitRepository.id == repo.forked_from_id)
        )
    ).first()
    return full_name(row[0], row[1]) if row else None


async def list_forks(
    session: AsyncSession, *, principal: Principal | None, project: str, name: str
) -> list[tuple[GitRepository, str]]:
    """Return the forks of a repository that the caller may read, with their projects' names."""
    found = await get_repository(session, project=project, name=name)
    source = access.require_read(principal, found, full_name(project, name))
    rows = await session.execute(
        select(GitRepository, Project.name)
        .join(Project, Project.id == GitRepository.project_id)
        .where(GitRepository.forked_from_id == source.id)
        .order_by(Project.name, GitRepository.name)
        .limit(500)
    )
    return [(repo, owner) for repo, owner in rows if access.can_read(principal, repo)]


__all__ = ["fork_repository", "list_forks", "source_name"]
