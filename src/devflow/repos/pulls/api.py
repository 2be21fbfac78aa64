"""REST routes of pull requests, under /api/v1/projects/{project}/repos/{name}/pulls."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, status

from devflow.core.http import PrincipalDep, ServicesDep, SessionDep
from devflow.core.schemas import MAX_OFFSET, Page, error_responses
from devflow.repos.pulls import changes, merging, reviews, service
from devflow.repos.pulls.schemas import (
    CommentCreate,
    CommentRead,
    CommitRead,
    DiffRead,
    MergeCreate,
    MergeRead,
    PullCreate,
    PullRead,
    PullUpdate,
    ReviewCreate,
    ReviewRead,
)
from devflow.repos.storage import Storage

ProjectPath = Annotated[str, Path(max_length=64, description="Project name.")]
NamePath = Annotated[str, Path(max_length=100, description="Repository name.")]
NumberPath = Annotated[int, Path(ge=1, le=2**31 - 1, description="Pull request number.")]

router = APIRouter(
    prefix="/api/v1/projects/{project}/repos/{name}/pulls",
    tags=["pull requests"],
    responses=error_responses(),
)


def _storage(services: ServicesDep) -> Storage:
    return Storage.of(services.settings)


@router.get("", response_model=Page[PullRead])
async def list_pulls(
    project: ProjectPath,
    name: NamePath,
    session: SessionDep,
    principal: PrincipalDep,
    state: Literal["open", "closed", "merged", "all"] = "open",
    limit: int = Query(50, ge=1, le=500, description="At most this many."),
    offset: int = Query(0, ge=0, le=MAX_OFFSET, description="Skip this many first."),
) -> Page[PullRead]:
    """List a repository's pull requests, newest first (open ones unless `state` says)."""
    repo, rows, total = await service.list_pulls(
        session, principal=principal, project=project, name=name, state=state, limit=limit,
        offset=offset,
    )  # fmt: skip
    return Page(items=await service.read_pulls(session, repo, rows), total=total)


@router.post("", response_model=PullRead, status_code=status.HTTP_201_CREATED)
async def open_pull(
    project: ProjectPath,
    name: NamePath,
    data: PullCreate,
    session: SessionDep,
    principal: PrincipalDep,
    services: ServicesDep,
) -> PullRead:
    """Open a pull request from a branch into another (push access)."""
    pr = await service.open_pull(
        session, principal=principal, project=project, name=name, data=data,
        storage=_storage(services),
    )  # fmt: skip
    repo = await service.repository(
        session, principal=principal, project=project, name=name, write=False
    )
    return await service.read_pull(session, repo, pr)


@router.get("/{number}", response_model=PullRead)
async def show_pull(
    project: ProjectPath,
    name: NamePath,
    number: NumberPath,
    session: SessionDep,
    principal: PrincipalDep,
    services: ServicesDep,
) -> PullRead:
    """Show a pull request: its branches' commits and whether it merges cleanly."""
    repo, pr = await service.show_pull(
        session, principal=principal, project=project, name=name, number=number,
        storage=_storage(services),
    )  # fmt: skip
    return await service.read_pull(session, repo, pr)


@router.patch("/{number}", response_model=PullRead)
async def update_pull(
    project: ProjectPath,
    name: NamePath,
    number: NumberPath,
    data: PullUpdate,
    session: SessionDep,
    principal: PrincipalDep,
) -> PullRead:
    """Change a pull request's title, body or draft flag (push access)."""
    repo, pr = await service.update_pull(
        session, principal=principal, project=project, name=name, number=number, data=data
    )
    return await service.read_pull(session, repo, pr)


async def _set_state(
    project: str, name: str, number: int, session: SessionDep, principal: PrincipalDep,
    services: ServicesDep, *, open_: bool,
) -> PullRead:  # fmt: skip
    repo, pr = await service.set_state(
        session, principal=principal, project=project, name=name, number=number, open_=open_,
        storage=_storage(services),
    )  # fmt: skip
    return await service.read_pull(session, repo, pr)


@router.post("/{number}/close", response_model=PullRead)
async def close_pull(
    project: ProjectPath,
    name: NamePath,
    number: NumberPath,
    session: SessionDep,
    principal: PrincipalDep,
    services: ServicesDep,
) -> PullRead:
    """Close an open pull request without merging it (push access)."""
    return await _set_state(project, name, number, session, principal, services, open_=False)


@router.post("/{number}/reopen", response_model=PullRead)
async def reopen_pull(
    project: ProjectPath,
    name: NamePath,
    number: NumberPath,
    session: SessionDep,
    principal: PrincipalDep,
    services: ServicesDep,
) -> PullRead:
    """Reopen a closed pull request whose head branch still exists (push access)."""
    return await _set_state(project, name, number, session, principal, services, open_=True)


@router.get("/{number}/diff", response_model=DiffRead)
async def diff(
    project: ProjectPath,
    name: NamePath,
    number: NumberPath,
    session: SessionDep,
    principal: PrincipalDep,
    services: ServicesDep,
) -> DiffRead:
    """The files a pull request changes, with line counts, and the patch (each size-limited)."""
    return await changes.diff(
        session, principal=principal, project=project, name=name, number=number,
        storage=_storage(services),
    )  # fmt: skip


@router.get("/{number}/commits", response_model=list[CommitRead])
async def commits(
    project: ProjectPath,
    name: NamePath,
    number: NumberPath,
    session: SessionDep,
    principal: PrincipalDep,
    services: ServicesDep,
) -> list[CommitRead]:
    """The pull request's commits, oldest first (at most 250)."""
    return await changes.commits(
        session, principal=principal, project=project, name=name, number=number,
        storage=_storage(services),
    )  # fmt: skip


@router.get("/{number}/reviews", response_model=list[ReviewRead])
async def list_reviews(
    project: ProjectPath,
    name: NamePath,
    number: NumberPath,
    session: SessionDep,
    principal: PrincipalDep,
) -> list[ReviewRead]:
    """A pull request's reviews, oldest first."""
    return await reviews.list_reviews(
        session, principal=principal, project=project, name=name, number=number
    )


@router.post("/{number}/reviews", response_model=ReviewRead, status_code=status.HTTP_201_CREATED)
async def add_review(
    project: ProjectPath,
    name: NamePath,
    number: NumberPath,
    data: ReviewCreate,
    session: SessionDep,
    principal: PrincipalDep,
    services: ServicesDep,
) -> ReviewRead:
    """Review a pull request: `comment`, `approve` or `request_changes` (push access; its
    author may only comment)."""
    return await reviews.add_review(
        session, principal=principal, project=project, name=name, number=number, data=data,
        storage=_storage(services),
    )  # fmt: skip


@router.get("/{number}/comments", response_model=list[CommentRead])
async def list_comments(
    project: ProjectPath,
    name: NamePath,
    number: NumberPath,
    session: SessionDep,
    principal: PrincipalDep,
    services: ServicesDep,
) -> list[CommentRead]:
    """A pull request's line comments, oldest first, with `outdated` where the line changed."""
    return await reviews.list_comments(
        session, principal=principal, project=project, name=name, number=number,
        storage=_storage(services),
    )  # fmt: skip


@router.post("/{number}/comments", response_model=CommentRead, status_code=status.HTTP_201_CREATED)
async def add_comment(
    project: ProjectPath,
    name: NamePath,
    number: NumberPath,
    data: CommentCreate,
    session: SessionDep,
    principal: PrincipalDep,
    services: ServicesDep,
) -> CommentRead:
    """Comment on a line of a file at the pull request's head (push access)."""
    return await reviews.add_comment(
        session, principal=principal, project=project, name=name, number=number, data=data,
        storage=_storage(services),
    )  # fmt: skip


@router.post("/{number}/merge", response_model=MergeRead)
async def merge_pull(
    project: ProjectPath,
    name: NamePath,
    number: NumberPath,
    data: MergeCreate,
    session: SessionDep,
    principal: PrincipalDep,
    services: ServicesDep,
) -> MergeRead:
    """Merge a pull request by `method` (push access); `sha` is the head you saw: 409 if it
    moved, or with the conflicting paths when it does not merge cleanly."""
    return await merging.merge_pull(
        session, principal=principal, project=project, name=name, number=number, data=data,
        services=services,
    )  # fmt: skip


__all__ = ["router"]
