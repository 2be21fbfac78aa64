"""Pull requests: open, list, show, change, close and reopen, and keeping them in step with
their branches (`refresh`, `on_push`). Reviews and line comments are `reviews`', the diff and
commits `changes`', merging `merging`'s.

Each function that acts for someone takes the caller's `Principal` and checks access to the
repository itself (`repos.access`): reading a pull request needs read access to its repository,
opening, reviewing, commenting, changing and merging need push access (the write role and the
`write` scope, and a repository that is not archived). Functions flush, never commit.

A pull request's `head_sha` and `base_sha` follow its branches: a push that moves either
(`on_push`), or a read that finds them moved (`refresh`), updates them, moves
`refs/pull/<n>/head` and recomputes mergeability with `git merge-tree` for the new pair.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.dialects.postgresql import distinct_on, insert
from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core import clock, events
from devflow.core.auth import Principal
from devflow.core.errors import Conflict, Invalid, NotFound
from devflow.identity import Project, User
from devflow.repos import access
from devflow.repos import service as repos
from devflow.repos.models import GitRepository
from devflow.repos.pulls.gitops import Git
from devflow.repos.pulls.models import PullCounter, PullRequest, PullReview
from devflow.repos.pulls.schemas import (
    MergeMethod,
    PullCreate,
    PullRead,
    PullUpdate,
)
from devflow.repos.storage import Storage

log = logging.getLogger(__name__)

STATE_FILTERS = ("open", "closed", "merged", "all")


# -- finding --------------------------------------------------------------------------------------


async def repository(
    session: AsyncSession, *, principal: Principal | None, project: str, name: str, write: bool
) -> GitRepository:
    """Return the repository if the caller may read it (or, with `write`, push to it).

    Raises:
        Unauthenticated, NotFound, PermissionDenied: see `repos.access`.
    """
    found = await repos.get_repository(session, project=project, name=name)
    shown = repos.full_name(project, name)
    if write:
        return access.require_push(principal, found, shown)
    return access.require_read(principal, found, shown)


async def find_pull(
    session: AsyncSession, repo: GitRepository, number: int, *, lock: bool = False
) -> PullRequest:
    """Return pull request `#number` of the repository (locked for update with `lock`).

    Raises:
        NotFound: there is none.
    """
    query = select(PullRequest).where(
        PullRequest.repository_id == repo.id, PullRequest.number == number
    )
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    found = await session.scalar(query)
    if found is None:
        raise NotFound(f"no pull request #{number} in {repo.name}; `devflow pr list` shows them")
    return found


def git_of(storage: Storage, repo: GitRepository) -> Git:
    """Return git on the repository's bare folder."""
    return Git(storage, storage.path(repo.id))


async def _head_repository(
    session: AsyncSession, repo: GitRepository, principal: Principal, data: PullCreate
) -> GitRepository:
    """The repository a new pull request's head branch is in: the base repository, or a fork
    of it (`data.head_repository`, PROJECT/NAME) that the caller may read.

    Raises:
        Unauthenticated, NotFound, PermissionDenied: the fork cannot be read.
        Invalid: it is not a fork of the base repository.
    """
    if data.head_repository is None:
        return repo
    project, _, name = data.head_repository.partition("/")
    found = await repos.get_repository(session, project=project, name=name)
    fork = access.require_read(principal, found, data.head_repository)
    if repo.id not in {fork.id, fork.forked_from_id}:
        raise Invalid(f"{data.head_repository} is not a fork of {repo.name}")
    return fork


async def _head_tip(git: Git, pr: PullRequest) -> str | None:
    """The commit the head branch is at, in the repository it lives in (None: gone, or its
    repository deleted)."""
    if pr.head_repository_id == pr.repository_id:
        return await git.resolve(f"refs/heads/{pr.head_branch}")
    if pr.head_repository_id is None:
        return None
    fork = git.storage.path(pr.head_repository_id)
    if not fork.exists():
        return None
    return await Git(git.storage, fork).resolve(f"refs/heads/{pr.head_branch}")


async def _pin_head(git: Git, pr: PullRequest, head: str) -> None:
    """Point `refs/pull/<n>/head` at `head`; a fork's commit is fetched into the base
    repository first (its objects must be here for mergeability and merges)."""
    ref = f"refs/pull/{pr.number}/head"
    fork_id = pr.head_repository_id
    if fork_id is None or fork_id == pr.repository_id:  # None: no fork left to fetch from
        await git.must("update-ref", ref, head)
        return
    fork = git.storage.path(fork_id)
    await git.must("fetch", "--quiet", "--no-tags", "--no-write-fetch-head", str(fork),
                   f"+{head}:{ref}")  # fmt: skip


# -- keeping in step with the branches ------------------------------------------------------------


async def refresh(pr: PullRequest, git: Git) -> bool:
    """Follow an open pull request's branches; recompute mergeability for a new pair.

    Returns whether the head moved. A branch that is gone leaves its last commit recorded.
    """
    moved = False
    if pr.state == "open":
        head = await _head_tip(git, pr)
        if head is not None and head != pr.head_sha:
            pr.head_sha, moved = head, True
            pr.updated_at = clock.now()
            await _pin_head(git, pr, head)
        base = await git.resolve(f"refs/heads/{pr.base_branch}")
        if base is not None and base != pr.base_sha:
            pr.base_sha = base
    if (pr.checked_base, pr.checked_head) != (pr.base_sha, pr.head_sha):
        merged = await git.merge_tree(pr.base_sha, pr.head_sha)
        pr.mergeable = merged.clean
        pr.conflicts = merged.conflicts
        pr.checked_base, pr.checked_head = pr.base_sha, pr.head_sha
    return moved


async def on_push(
    session: AsyncSession,
    *,
    repo_id: uuid.UUID,
    pusher: Principal,
    refs: Sequence[dict[str, str]],
    storage: Storage,
) -> list[int]:
    """Bring the open pull requests whose head or base branch a push moved up to date: new
    head and `refs/pull/<n>/head`, mergeability, and `pull_request.synchronize` for a head that
    moved. Returns their numbers.

    Called with the push's record, in its transaction, inside a savepoint: a failure here is
    logged and leaves the push on record (the next read of each pull request catches up)."""
    branches = {
        r["ref"].removeprefix("refs/heads/") for r in refs if r["ref"].startswith("refs/heads/")
    }
    if not branches:
        return []
    try:
        async with session.begin_nested():
            return await _follow(session, repo_id, pusher, branches, storage)
    except Exception:
        log.exception("pull requests of repository %s did not follow a push", repo_id)
        return []


async def _follow(
    session: AsyncSession,
    repo_id: uuid.UUID,
    pusher: Principal,
    branches: set[str],
    storage: Storage,
) -> list[int]:
    repo = await session.get(GitRepository, repo_id)
    if repo is None:
        return []
    rows = await session.scalars(
        select(PullRequest)
        .where(
            PullRequest.state == "open",
            or_(
                and_(
                    PullRequest.repository_id == repo_id,
                    or_(
                        PullRequest.head_branch.in_(branches),
                        PullRequest.base_branch.in_(branches),
                    ),
                ),
                # A push to a fork moves the heads of pull requests from it into its source.
                and_(
                    PullRequest.head_repository_id == repo_id,
                    PullRequest.head_branch.in_(branches),
                ),
            ),
        )
        .order_by(PullRequest.repository_id, PullRequest.number)
        .with_for_update()
    )
    touched = []
    for pr in rows:
        base = repo if pr.repository_id == repo_id else await session.get(
            GitRepository, pr.repository_id
        )  # fmt: skip
        if base is None:
            continue
        if await refresh(pr, git_of(storage, base)):
            await _emit(session, "pull_request.synchronize", base, pr, pusher)
        if base is repo:
            touched.append(pr.number)
    await session.flush()
    return touched


# -- opening, listing, showing --------------------------------------------------------------------


async def _next_number(session: AsyncSession, repo: GitRepository) -> int:
    """The repository's next number; the counter row stays locked until the transaction ends,
    so numbers are handed out one at a time and a rollback leaves no gap."""
    statement = (
        insert(PullCounter)
        .values(repository_id=repo.id, last_number=1)
        .on_conflict_do_update(
            index_elements=[PullCounter.repository_id],
            set_={"last_number": PullCounter.last_number + 1},
        )
        .returning(PullCounter.last_number)
    )
    number = int((await session.execute(statement)).scalar_one())
    if number > 2**31 - 1:
        raise Conflict(f"{repo.name} has run out of pull request numbers")
    return number


async def open_pull(
    session: AsyncSession,
    *,
    principal: Principal,
    project: str,
    name: str,
    data: PullCreate,
    storage: Storage,
) -> PullRequest:
    """Open a pull request from `data.head` into `data.base` (the default branch by default).

    Raises:
        NotFound, PermissionDenied: no push access to the repository.
        Invalid: a missing branch, or head and base the same branch.
        Conflict: an open pull request of the same branches exists.
    """
    repo = await repository(session, principal=principal, project=project, name=name, write=True)
    head_repo = await _head_repository(session, repo, principal, data)
    base = data.base or repo.default_branch
    if head_repo.id == repo.id and data.head == base:
        raise Invalid(f"head and base are both {base!r}: a pull request merges two branches")
    git = git_of(storage, repo)
    head_sha = await git_of(storage, head_repo).resolve(f"refs/heads/{data.head}")
    base_sha = await git.resolve(f"refs/heads/{base}")
    for where, branch, sha in ((head_repo, data.head, head_sha), (repo, base, base_sha)):
        if sha is None:
            raise Invalid(f"{where.name} has no branch {branch!r}: push it first")
    assert head_sha is not None  # noqa: S101 - checked above
    assert base_sha is not None  # noqa: S101
    twin = await session.scalar(
        select(PullRequest.number).where(
            PullRequest.repository_id == repo.id,
            PullRequest.head_repository_id == head_repo.id,
            PullRequest.head_branch == data.head,
            PullRequest.base_branch == base,
            PullRequest.state == "open",
        )
    )
    if twin is not None:
        raise Conflict(
            f"pull request #{twin} already merges {data.head} into {base}",
            details={"number": twin},
        )
    now = clock.now()
    pr = PullRequest(
        id=uuid.uuid4(),
        repository_id=repo.id,
        number=await _next_number(session, repo),
        title=data.title,
        body=data.body,
        draft=data.draft,
        state="open",
        head_repository_id=head_repo.id,
        head_branch=data.head,
        base_branch=base,
        head_sha=head_sha,
        base_sha=base_sha,
        conflicts=[],
        author_id=principal.user_id,
        created_at=now,
        updated_at=now,
    )
    session.add(pr)
    await session.flush()
    # A number given back by a rolled-back creation may find its old ref: overwrite it.
    await _pin_head(git, pr, head_sha)
    await refresh(pr, git)
    await _emit(session, "pull_request.opened", repo, pr, principal)
    return pr


async def list_pulls(
    session: AsyncSession,
    *,
    principal: Principal | None,
    project: str,
    name: str,
    state: str,
    limit: int,
    offset: int,
) -> tuple[GitRepository, list[PullRequest], int]:
    """Return a page of a repository's pull requests, newest first, and how many in all."""
    repo = await repository(session, principal=principal, project=project, name=name, write=False)
    where = [PullRequest.repository_id == repo.id]
    if state != "all":
        where.append(PullRequest.state == state)
    total = await session.scalar(select(func.count()).select_from(PullRequest).where(*where))
    rows = await session.scalars(
        select(PullRequest)
        .where(*where)
        .order_by(PullRequest.number.desc())
        .limit(limit)
        .offset(offset)
    )
    return repo, list(rows), total or 0


async def show_pull(
    session: AsyncSession,
    *,
    principal: Principal | None,
    project: str,
    name: str,
    number: int,
    storage: Storage,
) -> tuple[GitRepository, PullRequest]:
    """Return a pull request, its branches and mergeability brought up to date."""
    repo = await repository(session, principal=principal, project=project, name=name, write=False)
    pr = await find_pull(session, repo, number)
    await refresh(pr, git_of(storage, repo))
    await session.flush()
    return repo, pr


async def update_pull(
    session: AsyncSession,
    *,
    principal: Principal,
    project: str,
    name: str,
    number: int,
    data: PullUpdate,
) -> tuple[GitRepository, PullRequest]:
    """Change a pull request's title, body or draft flag.

    Raises:
        Conflict: a merged pull request (it is history).
    """
    repo = await repository(session, principal=principal, project=project, name=name, write=True)
    pr = await find_pull(session, repo, number, lock=True)
    if pr.state == "merged":
        raise Conflict(f"pull request #{number} is merged; it cannot change")
    changes: dict[str, Any] = data.model_dump(exclude_none=True)
    for key, value in changes.items():
        setattr(pr, key, value)
    if changes:
        pr.updated_at = clock.now()
        await session.flush()
        await _emit(session, "pull_request.edited", repo, pr, principal, changes=sorted(changes))
    return repo, pr


async def set_state(
    session: AsyncSession,
    *,
    principal: Principal,
    project: str,
    name: str,
    number: int,
    open_: bool,
    storage: Storage,
) -> tuple[GitRepository, PullRequest]:
    """Close an open pull request, or reopen a closed one.

    Raises:
        Conflict: it is merged, already in that state, or (reopening) its head branch is gone.
    """
    repo = await repository(session, principal=principal, project=project, name=name, write=True)
    pr = await find_pull(session, repo, number, lock=True)
    wanted = "open" if open_ else "closed"
    if pr.state == "merged":
        raise Conflict(f"pull request #{number} is merged; it cannot be closed or reopened")
    if pr.state == wanted:
        raise Conflict(f"pull request #{number} is {wanted} already")
    git = git_of(storage, repo)
    if open_:
        if pr.head_repository_id is None:
            raise Conflict(
                f"the repository that held branch {pr.head_branch!r} was deleted: #{number} "
                "cannot be reopened; push the branch somewhere and open a new pull request"
            )
        if await _head_tip(git, pr) is None:
            raise Conflict(f"branch {pr.head_branch!r} is gone: push it again to reopen #{number}")
        pr.state, pr.closed_at = "open", None
        await refresh(pr, git)
    else:
        pr.state, pr.closed_at = "closed", clock.now()
    pr.updated_at = clock.now()
    await session.flush()
    kind = "pull_request.reopened" if open_ else "pull_request.closed"
    await _emit(session, kind, repo, pr, principal)
    return repo, pr


async def close_pulls_from(
    session: AsyncSession, *, head: GitRepository, actor: Principal, note: str
) -> list[PullRequest]:
    """Close the open pull requests of other repositories whose head branch is in `head`, a
    fork about to be deleted, each with `pull_request.closed` carrying `note`. Returns them.

    Called by `repos.service.delete_repository` before the row goes: the foreign key then sets
    their `head_repository_id` NULL, and they stay, closed or merged, as history (their commits
    are the base's `refs/pull/<n>/head`).
    """
    rows = await session.scalars(
        select(PullRequest)
        .where(
            PullRequest.head_repository_id == head.id,
            PullRequest.repository_id != head.id,  # its own go with it
            PullRequest.state == "open",
        )
        .order_by(PullRequest.repository_id, PullRequest.number)
        # A merge in flight finishes first; PostgreSQL then re-checks `state` and leaves the
        # merged one out.
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    closed = []
    for pr in rows:
        base = await session.get_one(GitRepository, pr.repository_id)
        pr.state, pr.closed_at = "closed", clock.now()
        pr.updated_at = pr.closed_at
        await session.flush()
        await _emit(session, "pull_request.closed", base, pr, actor, note=note)
        closed.append(pr)
    return closed


# -- shapes and events ----------------------------------------------------------------------------


async def usernames(
    session: AsyncSession, ids: Sequence[uuid.UUID | None]
) -> dict[uuid.UUID | None, str]:
    """Return the user names of the given ids."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = await session.execute(select(User.id, User.username).where(User.id.in_(wanted)))
    return {row.id: row.username for row in rows}


async def verdicts(
    session: AsyncSession, pull_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, tuple[int, int]]:
    """Per pull request: how many reviewers' latest verdict approves, and how many ask for
    changes (plain comments change no verdict). The author's own verdicts never count:
    `reviews.add_review` refuses them, and rows written before it did are left out here."""
    if not pull_ids:
        return {}
    latest = (
        select(PullReview.pull_id, PullReview.state)
        .join(PullRequest, PullRequest.id == PullReview.pull_id)
        .where(
            PullReview.pull_id.in_(pull_ids),
            PullReview.state.in_(("approved", "changes_requested")),
            or_(
                PullRequest.author_id.is_(None),
                PullReview.author_id.is_distinct_from(PullRequest.author_id),
            ),
        )
        .ext(distinct_on(PullReview.pull_id, PullReview.author_id))
        .order_by(PullReview.pull_id, PullReview.author_id, PullReview.created_at.desc())
        .subquery()
    )
    counted: dict[uuid.UUID, tuple[int, int]] = {}
    for pull_id, state in (await session.execute(select(latest.c.pull_id, latest.c.state))).all():
        approvals, changes = counted.get(pull_id, (0, 0))
        counted[pull_id] = (approvals + (state == "approved"), changes + (state != "approved"))
    return counted


async def read_pulls(
    session: AsyncSession, repo: GitRepository, pulls: Sequence[PullRequest]
) -> list[PullRead]:
    """Return the API view of pull requests of a repository."""
    project = await session.get_one(Project, repo.project_id)
    names = await usernames(session, [p.author_id for p in pulls] + [p.merged_by for p in pulls])
    counted = await verdicts(session, [p.id for p in pulls])
    heads = await _head_names(session, repo, project.name, pulls)
    return [
        _read(pr, repo, project.name, names, counted.get(pr.id, (0, 0)),
              heads.get(pr.head_repository_id))
        for pr in pulls
    ]  # fmt: skip


async def _head_names(
    session: AsyncSession, repo: GitRepository, project: str, pulls: Sequence[PullRequest]
) -> dict[uuid.UUID | None, str]:
    """PROJECT/NAME of each head repository (a deleted one has none)."""
    names: dict[uuid.UUID | None, str] = {repo.id: repos.full_name(project, repo.name)}
    forks = {p.head_repository_id for p in pulls} - {repo.id, None}
    if forks:
        rows = await session.execute(
            select(GitRepository.id, Project.name, GitRepository.name)
            .join(Project, Project.id == GitRepository.project_id)
            .where(GitRepository.id.in_(forks))
        )
        names.update({id_: repos.full_name(owner, name) for id_, owner, name in rows})
    return names


async def read_pull(session: AsyncSession, repo: GitRepository, pr: PullRequest) -> PullRead:
    """Return the API view of one pull request."""
    return (await read_pulls(session, repo, [pr]))[0]


def merge_status(pr: PullRequest) -> str:
    """clean, conflicts, unrelated (no common history) or unknown."""
    if pr.mergeable is None:
        return "unknown"
    if pr.mergeable:
        return "clean"
    return "conflicts" if pr.conflicts else "unrelated"


def _read(
    pr: PullRequest,
    repo: GitRepository,
    project: str,
    names: dict[uuid.UUID | None, str],
    verdict: tuple[int, int],
    head_repository: str | None,
) -> PullRead:
    return PullRead(
        number=pr.number,
        project=project,
        repository=repo.name,
        title=pr.title,
        body=pr.body,
        draft=pr.draft,
        state=pr.state,
        head=pr.head_branch,
        head_repository=head_repository,
        base=pr.base_branch,
        head_sha=pr.head_sha,
        base_sha=pr.base_sha,
        mergeable=pr.mergeable,
        merge_status=merge_status(pr),
        conflicts=pr.conflicts,
        author=names.get(pr.author_id),
        approvals=verdict[0],
        changes_requested=verdict[1],
        created_at=pr.created_at,
        updated_at=pr.updated_at,
        closed_at=pr.closed_at,
        merged_at=pr.merged_at,
        merged_by=names.get(pr.merged_by),
        merge_method=MergeMethod(pr.merge_method) if pr.merge_method else None,
        merge_commit_sha=pr.merge_commit_sha,
    )


async def _emit(
    session: AsyncSession,
    type_: str,
    repo: GitRepository,
    pr: PullRequest,
    actor: Principal,
    **extra: Any,
) -> None:
    project = await session.get_one(Project, repo.project_id)
    await events.emit(
        session,
        type=type_,
        project_id=repo.project_id,
        actor_id=actor.user_id,
        payload={
            "project": project.name,
            "repository": repo.name,
            "repository_id": str(repo.id),
            "number": pr.number,
            "title": pr.title,
            "state": pr.state,
            "draft": pr.draft,
            "head": pr.head_branch,
            "base": pr.base_branch,
            "head_sha": pr.head_sha,
            "base_sha": pr.base_sha,
            "actor": actor.username,
            **extra,
        },
    )


emit = _emit

__all__ = [
    "STATE_FILTERS",
    "close_pulls_from",
    "emit",
    "find_pull",
    "git_of",
    "list_pulls",
    "merge_status",
    "on_push",
    "open_pull",
    "read_pull",
    "read_pulls",
    "refresh",
    "repository",
    "set_state",
    "show_pull",
    "update_pull",
    "usernames",
    "verdicts",
]
