"""Commit statuses: what CI and other systems report about a commit, GitHub's way.

A status is a row per report; the latest per context counts (`combined_status`), which is what
protected branches require and pull requests show. Reporting needs the write role (as GitHub's
`repo:status`), reading the read role.
"""

from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core.auth import Principal
from devflow.core.errors import Invalid, NotFound
from devflow.identity import User
from devflow.repos import access
from devflow.repos.models import GitRepository
from devflow.repos.protection.gitview import GitView
from devflow.repos.protection.models import CommitStatus
from devflow.repos.protection.schemas import (
    SHA,
    CombinedStatus,
    StatusCreate,
    StatusCreator,
    StatusRead,
    StatusState,
)
from devflow.repos.service import emit_repo_event, full_name, get_repository
from devflow.repos.storage import Storage

MAX_PER_CONTEXT = 1000
"""Statuses one commit may hold under one context (GitHub's limit too)."""
_REF = re.compile(r"^[^\x00-\x20\x7f~^:?*\[\\-][^\x00-\x20\x7f~^:?*\[\\]{0,254}$")


def _read(row: CommitStatus, login: str | None) -> StatusRead:
    return StatusRead(
        id=row.id,
        state=StatusState(row.state),
        context=row.context,
        target_url=row.target_url,
        description=row.description,
        creator=StatusCreator(login=login) if login else None,
        created_at=row.created_at,
        updated_at=row.created_at,
    )


async def create_status(
    session: AsyncSession,
    *,
    principal: Principal,
    project: str,
    name: str,
    sha: str,
    data: StatusCreate,
    storage: Storage,
) -> StatusRead:
    """Record a status of a commit and emit `repo.status` (writers of the repository).

    Raises:
        NotFound, PermissionDenied: as `access.require_push`.
        Invalid: not a full sha of a commit of the repository, or too many statuses already.
    """
    shown = full_name(project, name)
    repo = access.require_push(
        principal, await get_repository(session, project=project, name=name), shown
    )
    sha = sha.lower()
    if not SHA.match(sha):
        raise Invalid("a status is reported on a commit's full sha (40 hexadecimal digits)")
    if await GitView(storage, storage.path(repo.id)).commit_of(sha) != sha:
        raise Invalid(f"no commit {sha} in {shown}: push it first")
    count = await session.scalar(
        select(func.count()).where(
            CommitStatus.repository_id == repo.id,
            CommitStatus.sha == sha,
            CommitStatus.context == data.context,
        )
    )
    if (count or 0) >= MAX_PER_CONTEXT:
        raise Invalid(f"{sha} holds {MAX_PER_CONTEXT} statuses for {data.context!r} already")
    row = CommitStatus(
        repository_id=repo.id,
        sha=sha,
        state=data.state.value,
        context=data.context,
        target_url=data.target_url,
        description=data.description,
        creator_id=principal.user_id,
    )
    session.add(row)
    await session.flush()
    await emit_repo_event(
        session,
        "repo.status",
        repo,
        project=project,
        actor=(principal.user_id, principal.username),
        sha=sha,
        state=row.state,
        context=row.context,
        target_url=row.target_url,
        description=row.description,
    )
    return _read(row, principal.username)


async def resolve_commit(storage: Storage, repo: GitRepository, ref: str, shown: str) -> str:
    """Return the commit a branch, tag or sha names in a repository.

    Raises:
        NotFound: nothing by that name (or a name git could take for an option).
    """
    commit = None
    if _REF.match(ref) and ".." not in ref and "@{" not in ref:
        commit = await GitView(storage, storage.path(repo.id)).commit_of(ref)
    if commit is None:
        raise NotFound(f"no commit {ref[:100]!r} in {shown}")
    return commit


async def list_statuses(
    session: AsyncSession,
    *,
    principal: Principal,
    project: str,
    name: str,
    ref: str,
    storage: Storage,
    limit: int,
    offset: int,
) -> tuple[list[StatusRead], int]:
    """Return a page of the statuses of the commit `ref` names, newest first, and their number.

    Raises:
        NotFound, PermissionDenied: as `access.require_read`; an unknown ref.
    """
    shown = full_name(project, name)
    repo = access.require_read(
        principal, await get_repository(session, project=project, name=name), shown
    )
    sha = await resolve_commit(storage, repo, ref, shown)
    where = (CommitStatus.repository_id == repo.id, CommitStatus.sha == sha)
    total = await session.scalar(select(func.count()).select_from(CommitStatus).where(*where))
    rows = await session.execute(
        select(CommitStatus, User.username)
        .outerjoin(User, User.id == CommitStatus.creator_id)
        .where(*where)
        .order_by(CommitStatus.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [_read(row, login) for row, login in rows], total or 0


async def combined_status(session: AsyncSession, repo: GitRepository, sha: str) -> CombinedStatus:
    """Return the latest status per context of a commit and their combined state.

    For protected branches and pull requests; the caller has checked access. `failure` when any
    context's latest is failure or error, `pending` when there is none or any is pending, else
    `success` (GitHub's rule).
    """
    latest = (
        select(CommitStatus, User.username)
        .outerjoin(User, User.id == CommitStatus.creator_id)
        .where(CommitStatus.repository_id == repo.id, CommitStatus.sha == sha)
        .order_by(CommitStatus.context, CommitStatus.id.desc())
        .ext(distinct_on(CommitStatus.context))
    )
    statuses = [_read(row, login) for row, login in await session.execute(latest)]
    states = {s.state for s in statuses}
    if states & {StatusState.FAILURE, StatusState.ERROR}:
        state = StatusState.FAILURE
    elif not statuses or StatusState.PENDING in states:
        state = StatusState.PENDING
    else:
        state = StatusState.SUCCESS
    return CombinedStatus(state=state, sha=sha, total_count=len(statuses), statuses=statuses)


async def combined_status_of_ref(
    session: AsyncSession,
    *,
    principal: Principal,
    project: str,
    name: str,
    ref: str,
    storage: Storage,
) -> CombinedStatus:
    """Return the combined status of the commit `ref` names (readers of the repository).

    Raises:
        NotFound, PermissionDenied: as `access.require_read`; an unknown ref.
    """
    shown = full_name(project, name)
    repo = access.require_read(
        principal, await get_repository(session, project=project, name=name), shown
    )
    return await combined_status(session, repo, await resolve_commit(storage, repo, ref, shown))


__all__ = [
    "MAX_PER_CONTEXT",
    "combined_status",
    "combined_status_of_ref",
    "create_status",
    "list_statuses",
    "resolve_commit",
]
