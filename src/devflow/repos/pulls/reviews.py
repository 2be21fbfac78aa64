"""Reviews of pull requests (comment, approve, request changes) and comments on lines of the
head, which go outdated when the head no longer has the line as it was."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core import clock
from devflow.core.auth import Principal
from devflow.core.errors import Conflict, Invalid, NotFound
from devflow.repos.pulls.models import PullComment, PullReview
from devflow.repos.pulls.schemas import CommentCreate, CommentRead, ReviewCreate, ReviewRead
from devflow.repos.pulls.service import (
    emit,
    find_pull,
    git_of,
    refresh,
    repository,
    usernames,
)
from devflow.repos.storage import Storage

MAX_COMMENTED_FILE_BYTES = 5 * 1024 * 1024


# -- reviews and comments -------------------------------------------------------------------------

_VERDICT = {"comment": "commented", "approve": "approved", "request_changes": "changes_requested"}


async def add_review(
    session: AsyncSession,
    *,
    principal: Principal,
    project: str,
    name: str,
    number: int,
    data: ReviewCreate,
    storage: Storage,
) -> ReviewRead:
    """Comment on, approve or request changes to an open pull request, at its current head.

    The pull request's author may comment, never approve or request changes: a verdict is
    someone else's look at the change, and protection counts approvals (`service.verdicts`).

    Raises:
        Invalid: a comment or request for changes without a body, or a verdict by the author.
        Conflict: the pull request is not open.
    """
    repo = await repository(session, principal=principal, project=project, name=name, write=True)
    pr = await find_pull(session, repo, number, lock=True)
    if pr.state != "open":
        raise Conflict(f"pull request #{number} is {pr.state}: only open ones are reviewed")
    if data.event != "comment" and pr.author_id is not None and pr.author_id == principal.user_id:
        verb = "approve" if data.event == "approve" else "request changes on"
        raise Invalid(
            f"you cannot {verb} your own pull request #{number}: ask another reviewer, "
            "or leave a comment"
        )
    if data.event != "approve" and not data.body.strip():
        raise Invalid(
            "say what the review is about: a comment or a request for changes needs a body"
        )
    await refresh(pr, git_of(storage, repo))
    review = PullReview(
        pull_id=pr.id,
        author_id=principal.user_id,
        state=_VERDICT[data.event],
        body=data.body,
        commit_sha=pr.head_sha,
        created_at=clock.now(),
    )
    session.add(review)
    await session.flush()
    await emit(session, "pull_request.reviewed", repo, pr, principal, review=review.state)
    return _review_read(review, principal.username)


async def list_reviews(
    session: AsyncSession, *, principal: Principal | None, project: str, name: str, number: int
) -> list[ReviewRead]:
    """Return a pull request's reviews, oldest first."""
    repo = await repository(session, principal=principal, project=project, name=name, write=False)
    pr = await find_pull(session, repo, number)
    rows = list(
        await session.scalars(
            select(PullReview).where(PullReview.pull_id == pr.id).order_by(PullReview.created_at)
        )
    )
    names = await usernames(session, [r.author_id for r in rows])
    return [_review_read(r, names.get(r.author_id)) for r in rows]


def _review_read(review: PullReview, author: str | None) -> ReviewRead:
    return ReviewRead(
        id=str(review.id),
        author=author,
        state=review.state,
        body=review.body,
        commit_sha=review.commit_sha,
        created_at=review.created_at,
    )


async def add_comment(
    session: AsyncSession,
    *,
    principal: Principal,
    project: str,
    name: str,
    number: int,
    data: CommentCreate,
    storage: Storage,
) -> CommentRead:
    """Comment on a line of a file at the pull request's current head.

    Raises:
        NotFound: the head has no such file (or it is too large to comment on).
        Invalid: the file has fewer lines.
        Conflict: the pull request is merged.
    """
    repo = await repository(session, principal=principal, project=project, name=name, write=True)
    pr = await find_pull(session, repo, number, lock=True)
    if pr.state == "merged":
        raise Conflict(f"pull request #{number} is merged; comment on a new one")
    git = git_of(storage, repo)
    await refresh(pr, git)
    lines = await git.file_lines(pr.head_sha, data.path, max_bytes=MAX_COMMENTED_FILE_BYTES)
    if lines is None:
        raise NotFound(f"the head {pr.head_sha[:12]} has no file {data.path!r} to comment on")
    if data.line > len(lines):
        raise Invalid(
            f"{data.path} has {len(lines)} lines at the head; line {data.line} is not one"
        )
    comment = PullComment(
        pull_id=pr.id,
        author_id=principal.user_id,
        body=data.body,
        path=data.path,
        line=data.line,
        commit_sha=pr.head_sha,
        line_text=lines[data.line - 1],
        created_at=clock.now(),
    )
    session.add(comment)
    await session.flush()
    await emit(session, "pull_request.commented", repo, pr, principal, path=data.path,
                line=data.line)  # fmt: skip
    return _comment_read(comment, principal.username, outdated=False)


async def list_comments(
    session: AsyncSession,
    *,
    principal: Principal | None,
    project: str,
    name: str,
    number: int,
    storage: Storage,
) -> list[CommentRead]:
    """Return a pull request's line comments, oldest first, each marked outdated when the
    current head no longer has its line as it was."""
    repo = await repository(session, principal=principal, project=project, name=name, write=False)
    pr = await find_pull(session, repo, number)
    git = git_of(storage, repo)
    await refresh(pr, git)
    rows = list(
        await session.scalars(
            select(PullComment).where(PullComment.pull_id == pr.id).order_by(PullComment.created_at)
        )
    )
    names = await usernames(session, [c.author_id for c in rows])
    files: dict[str, list[str] | None] = {}
    shown = []
    for comment in rows:
        outdated = False
        if comment.commit_sha != pr.head_sha:
            if comment.path not in files:
                files[comment.path] = await git.file_lines(
                    pr.head_sha, comment.path, max_bytes=MAX_COMMENTED_FILE_BYTES
                )
            lines = files[comment.path]
            outdated = (
                lines is None
                or comment.line > len(lines)
                or lines[comment.line - 1] != comment.line_text
            )
        shown.append(_comment_read(comment, names.get(comment.author_id), outdated=outdated))
    return shown


def _comment_read(comment: PullComment, author: str | None, *, outdated: bool) -> CommentRead:
    return CommentRead(
        id=str(comment.id),
        author=author,
        body=comment.body,
        path=comment.path,
        line=comment.line,
        commit_sha=comment.commit_sha,
        line_text=comment.line_text,
        outdated=outdated,
        created_at=comment.created_at,
    )


__all__ = ["add_comment", "add_review", "list_comments", "list_reviews"]
