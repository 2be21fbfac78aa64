"""Imports from a URL and pull mirrors.

An import is a job (`repos:import_repository`): the request checks who may, the name and the
URL (and resolves its host, so that a private address is refused at once, 403), then the job
clones with `git clone --bare` through the outbound guard (`gitops`) into `repos/.incoming/`,
and only when the clone is complete writes the repository's row and renames the folder into
place, in one transaction: a failed import leaves no row, and at most an orphan folder, which is
harmless. A pull mirror is the same import plus a `RepoMirror` row; a periodic job queues a
`repos:fetch_mirror` for each mirror that is due, which runs `git fetch --prune` (branches and
tags) through the same guard and records what moved as a push (`repo.pushed`).

Credentials are given by reference, `secret://NAME`: a secret of the repository's project
(`secrets.resolve_project_secret`, the project tier only). The request checks that the caller
may read it; the import job and each fetch resolve it as DevFlow (principal None, audited with
the mirror as the reason) and hand it to git in its environment (`gitops`). Only the reference
is stored (`RepoMirror.credentials`, the job's arguments); no value reaches a row, a job's
arguments or error, an event or a log line.
"""

from __future__ import annotations

import shutil
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from devflow.core import clock, jobs
from devflow.core.auth import Principal, Role
from devflow.core.config import Settings
from devflow.core.db import unit_of_work
from devflow.core.errors import Conflict, Invalid, NotFound
from devflow.core.services import Services
from devflow.identity import Project, User, require_project
from devflow.repos import access
from devflow.repos.mirrors import gitops
from devflow.repos.mirrors.models import RepoMirror
from devflow.repos.mirrors.schemas import (
    ImportCreate,
    basic_auth,
    check_source_url,
    name_from_url,
    secret_name,
)
from devflow.repos.mirrors.settings import MirrorSettings
from devflow.repos.models import GitRepository
from devflow.repos.service import emit_repo_event, full_name, get_repository, record_push
from devflow.repos.settings import ReposSettings
from devflow.repos.storage import ZERO, Storage, write_hooks
from devflow.secrets import resolve_project_secret

IMPORT = "repos:import_repository"
FETCH = "repos:fetch_mirror"
SCHEDULE = "repos:schedule_mirror_fetches"


def mirror_settings(settings: Settings) -> MirrorSettings:
    """Return the imports' and mirrors' settings."""
    return settings.section(ReposSettings).mirrors


async def start_import(
    session: AsyncSession,
    *,
    principal: Principal,
    project: str,
    data: ImportCreate,
    services: Services,
) -> tuple[int, str]:
    """Queue the import of `data.url` into a project the caller writes to; return the job's id
    and the repository's name.

    Raises:
        NotFound, PermissionDenied: not a writer of the project.
        Invalid: a URL that is not http(s), holds credentials, or suggests no name; an
            interval under the setting's minimum; credentials naming no secret of the project
            the caller may read.
        AddressRefused: the URL's host resolves to a refused address (403).
        Conflict: the project has a repository of that name.
    """
    owner = await require_project(session, principal=principal, name=project, role=Role.WRITE)
    source = check_source_url(data.url)
    name = data.name or name_from_url(data.url)
    limits = mirror_settings(services.settings)
    if data.mirror and data.interval_seconds < limits.min_interval_seconds:
        raise Invalid(f"a mirror's interval is at least {limits.min_interval_seconds}s")
    if await get_repository(session, project=project, name=name) is not None:
        raise Conflict(f"{full_name(project, name)} exists already")
    await gitops.checked_address(source, limits)  # refused now rather than in the job
    if data.credentials is not None:
        await _credentials(
            session, services, data.credentials, project=owner, principal=principal, reveal=False
        )
    job_id = await jobs.defer(
        session,
        task=IMPORT,
        args={
            "project_id": str(owner.id),
            "user_id": str(principal.user_id),
            "name": name,
            "url": source.url,
            "description": data.description,
            "visibility": data.visibility.value,
            "mirror": data.mirror,
            "interval_seconds": data.interval_seconds,
            "credentials": data.credentials,
        },
        project_id=owner.id,
    )
    return job_id, name


async def _credentials(
    session: AsyncSession,
    services: Services,
    reference: str,
    *,
    project: Project,
    principal: Principal | None,
    reveal: bool = True,
) -> tuple[str, str] | None:
    """The (user, password) a `secret://NAME` of the project gives (None when not `reveal`).

    Raises:
        Invalid: the project has no such secret, or the caller may not read it.
    """
    try:
        value = await resolve_project_secret(
            session, services, principal=principal, project_id=project.id, project=project.name,
            name=secret_name(reference), purpose="repository import or mirror fetch",
            reveal=reveal,
        )  # fmt: skip
    except NotFound as exc:
        raise Invalid(
            f"credentials {reference}: {exc.message} (set it with `devflow secrets set "
            f"{secret_name(reference)} --project {project.name}`)",
            details={"field": "credentials"},
        ) from None
    return basic_auth(value) if value is not None else None


async def _job_credentials(
    services: Services, reference: str | None, project_id: uuid.UUID
) -> tuple[str, str] | None:
    """Resolve a stored reference for a job, as DevFlow (principal None)."""
    if reference is None:
        return None
    async with unit_of_work(services.sessions) as session:
        project = await session.get(Project, project_id)
        if project is None:
            raise NotFound("the project was deleted meanwhile")
        return await _credentials(session, services, reference, project=project, principal=None)


async def run_import(
    services: Services,
    *,
    args: dict[str, Any],
    on_progress: gitops.Progress | None = None,
) -> str:
    """Clone the source and create the repository (the job's work); return its id.

    Raises:
        Conflict: the name was taken meanwhile (nothing is created).
        AddressRefused, SourceFailed: the source could not be reached or cloned.
        Invalid: its credentials name no secret of the project.
    """
    settings, sessions = services.settings, services.sessions
    storage = Storage.of(settings)
    source = check_source_url(args["url"])
    credentials = await _job_credentials(
        services, args.get("credentials"), uuid.UUID(args["project_id"])
    )
    repo_id = uuid.uuid4()
    storage.prepare()
    incoming = storage.root / ".incoming"
    incoming.mkdir(mode=storage.dir_mode, exist_ok=True)
    building = incoming / f"{repo_id}.git"
    try:
        await gitops.run_guarded(
            storage, source, mirror_settings(settings),
            ["clone", "--bare", "--progress", "--template=",
             f"--config=core.sharedRepository=0{storage.file_mode:o}", "--", source.url,
             str(building)],
            cwd=incoming, on_progress=on_progress, credentials=credentials,
        )  # fmt: skip
        await storage.run("remote", "remove", "origin", cwd=building)
        write_hooks(building)
        branch = await _head_branch(storage, building)
        async with unit_of_work(sessions) as session:
            await _create_row(session, building, repo_id, branch, args)
            building.rename(storage.path(repo_id))  # the commit follows: a row, files in place
    finally:
        if building.exists():
            shutil.rmtree(building, ignore_errors=True)
    return str(repo_id)


async def _head_branch(storage: Storage, path: Path) -> str:
    head = (await storage.run("symbolic-ref", "-q", "HEAD", cwd=path)).strip()
    return head.removeprefix("refs/heads/") or "main"


def folder_size(path: Path) -> int:
    """Return the bytes a repository's files take."""
    return sum(f.lstat().st_size for f in path.rglob("*") if f.is_file())


async def _create_row(
    session: AsyncSession, path: Path, repo_id: uuid.UUID, branch: str, args: dict[str, Any]
) -> None:
    project = await session.get(Project, uuid.UUID(args["project_id"]))
    user = await session.get(User, uuid.UUID(args["user_id"]))
    if project is None or user is None:
        raise NotFound("the project or the importing user was deleted meanwhile")
    if await get_repository(session, project=project.name, name=args["name"]) is not None:
        raise Conflict(f"{full_name(project.name, args['name'])} was created meanwhile")
    now = clock.now()
    repo = GitRepository(
        id=repo_id, project_id=project.id, name=args["name"], description=args["description"],
        visibility=args["visibility"], default_branch=branch, is_mirror=args["mirror"],
        created_by=user.id, size_bytes=folder_size(path), last_pushed_at=now,
    )  # fmt: skip
    session.add(repo)
    await session.flush()
    if args["mirror"]:
        interval = int(args["interval_seconds"])
        session.add(
            RepoMirror(
                repository_id=repo_id, url=args["url"], interval_seconds=interval,
                next_fetch_at=now + timedelta(seconds=interval), last_fetched_at=now,
                credentials=args.get("credentials"),
            )
        )  # fmt: skip
        await session.flush()
    await emit_repo_event(
        session,
        "repo.created",
        repo,
        project=project.name,
        actor=(user.id, user.username),
        imported_from=args["url"],
        mirror=bool(args["mirror"]),
    )


async def get_mirror(
    session: AsyncSession, *, principal: Principal | None, project: str, name: str
) -> RepoMirror:
    """Return a repository's pull mirror, for a caller who may read it.

    Raises:
        Unauthenticated, NotFound, PermissionDenied: as `access.require_read`; NotFound also
            when it is not a mirror.
    """
    found = await get_repository(session, project=project, name=name)
    repo = access.require_read(principal, found, full_name(project, name))
    mirror = await session.get(RepoMirror, repo.id)
    if mirror is None:
        raise NotFound(f"{full_name(project, name)} is not a pull mirror")
    return mirror


async def request_fetch(
    session: AsyncSession, *, principal: Principal, project: str, name: str
) -> int:
    """Queue a fetch of a mirror now (project admins); return the job's id."""
    found = await get_repository(session, project=project, name=name)
    repo = access.require_admin(principal, found, full_name(project, name))
    if await session.get(RepoMirror, repo.id) is None:
        raise NotFound(f"{full_name(project, name)} is not a pull mirror")
    return await _defer_fetch(session, repo)


async def _defer_fetch(session: AsyncSession, repo: GitRepository) -> int:
    return await jobs.defer(
        session,
        task=FETCH,
        args={"repository_id": str(repo.id)},
        project_id=repo.project_id,
        queueing_lock=f"{FETCH}:{repo.id}",
        lock=f"{FETCH}:{repo.id}",
    )


async def schedule_fetches(session: AsyncSession) -> int:
    """Queue a fetch of every mirror that is due (the periodic job); return how many."""
    due = await session.scalars(
        select(GitRepository)
        .join(RepoMirror, RepoMirror.repository_id == GitRepository.id)
        .where(RepoMirror.next_fetch_at <= clock.now())
    )
    count = 0
    for repo in due:
        await _defer_fetch(session, repo)
        count += 1
    return count


async def fetch_mirror(services: Services, *, repository_id: uuid.UUID) -> list[dict[str, str]]:
    """Fetch a mirror from its source (`git fetch --prune`, branches and tags); record what
    moved as a push by the mirror's creator; return the refs moved. A failure is kept in the
    mirror's `last_error` and raised (the job fails, and the next one comes at the interval)."""
    settings, sessions = services.settings, services.sessions
    storage = Storage.of(settings)
    async with unit_of_work(sessions) as session:
        mirror = await session.get(RepoMirror, repository_id)
        repo = await session.get(GitRepository, repository_id)
        if mirror is None or repo is None:
            return []
        url, reference, project_id = mirror.url, mirror.credentials, repo.project_id
    path = storage.path(repository_id)
    before = await _refs(storage, path)
    error: str | None = None
    try:
        credentials = await _job_credentials(services, reference, project_id)
        await gitops.run_guarded(
            storage, check_source_url(url), mirror_settings(settings),
            ["fetch", "--prune", "--progress", "--no-write-fetch-head", "--", url,
             "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"],
            cwd=path, credentials=credentials,
        )  # fmt: skip
    except Exception as exc:
        error = str(exc)[:2000]
        raise
    finally:
        after = await _refs(storage, path)
        moved = [
            {"ref": ref, "old": before.get(ref, ZERO), "new": after.get(ref, ZERO)}
            for ref in sorted(before.keys() | after.keys())
            if before.get(ref) != after.get(ref)
        ]
        await _record_fetch(sessions, storage, repository_id, moved, error)
    return moved


async def _record_fetch(
    sessions: async_sessionmaker[AsyncSession],
    storage: Storage,
    repository_id: uuid.UUID,
    moved: list[dict[str, str]],
    error: str | None,
) -> None:
    async with unit_of_work(sessions) as session:
        mirror = await session.get(RepoMirror, repository_id, with_for_update=True)
        repo = await session.get(GitRepository, repository_id)
        if mirror is None or repo is None:
            return
        now = clock.now()
        mirror.next_fetch_at = now + timedelta(seconds=mirror.interval_seconds)
        mirror.last_error = error
        if error is None:
            mirror.last_fetched_at = now
        creator = await session.get(User, repo.created_by) if repo.created_by else None
        if moved and creator is not None:
            pusher = Principal(
                user_id=creator.id, username=creator.username, is_admin=False,
                scopes=frozenset(),
            )  # fmt: skip
            size = folder_size(storage.path(repository_id))
            await record_push(
                session, repo_id=repository_id, pusher=pusher, refs=moved, size_bytes=size
            )


async def _refs(storage: Storage, path: Path) -> dict[str, str]:
    out = await storage.run(
        "for-each-ref", "--format=%(objectname) %(refname)", "refs/heads", "refs/tags", cwd=path
    )
    return {ref: sha for sha, _, ref in (line.partition(" ") for line in out.splitlines())}


__all__ = [
    "FETCH",
    "IMPORT",
    "SCHEDULE",
    "fetch_mirror",
    "get_mirror",
    "mirror_settings",
    "request_fetch",
    "run_import",
    "schedule_fetches",
    "start_import",
]
