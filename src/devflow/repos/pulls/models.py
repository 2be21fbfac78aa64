"""Tables of pull requests: the request, its per-repository number, reviews and line comments.

A pull request names its branches, never paths: `head_repository_id` is the repository the head
branch lives in (the base repository, or a fork of it; NULL once that fork is deleted),
`head_sha` and `base_sha` the commits it was last seen at, `checked_*` the pair its mergeability
was computed for.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from devflow.core import clock
from devflow.core.db import Base

STATES = ("open", "closed", "merged")
REVIEW_STATES = ("commented", "approved", "changes_requested")


class PullCounter(Base):
    """The last pull request number of a repository: its row lock keeps numbers gapless (a
    creation that rolls back gives its number back), as `workflows`' task counter does."""

    __tablename__ = "repos_pull_counter"

    repository_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("repos_repository.id", ondelete="CASCADE"), primary_key=True
    )
    last_number: Mapped[int] = mapped_column(Integer)


class PullRequest(Base):
    """A request to merge a head branch into a base branch (`#number` in its repository)."""

    __tablename__ = "repos_pull"
    __table_args__ = (UniqueConstraint("repository_id", "number"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    repository_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("repos_repository.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text, default="")
    draft: Mapped[bool] = mapped_column(default=False)
    state: Mapped[str] = mapped_column(String(16), default="open")
    # The repository the head branch lives in: the base repository itself, or a fork of it.
    # NULL once that fork is deleted: its pull requests are closed first (`close_pulls_from`)
    # and stay as history, never deleted with it.
    head_repository_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("repos_repository.id", ondelete="SET NULL")
    )
    head_branch: Mapped[str] = mapped_column(String(255))
    base_branch: Mapped[str] = mapped_column(String(255))
    head_sha: Mapped[str] = mapped_column(String(40))
    base_sha: Mapped[str] = mapped_column(String(40))
    # Mergeability of (checked_base, checked_head): None while unknown; conflicting paths.
    mergeable: Mapped[bool | None] = mapped_column(default=None)
    conflicts: Mapped[list[str]] = mapped_column(JSONB, default=list)
    checked_base: Mapped[str | None] = mapped_column(String(40), default=None)
    checked_head: Mapped[str | None] = mapped_column(String(40), default=None)
    author_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    merged_at: Mapped[datetime | None] = mapped_column(default=None)
    merged_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    merge_method: Mapped[str | None] = mapped_column(String(16), default=None)
    merge_commit_sha: Mapped[str | None] = mapped_column(String(40), default=None)


class PullReview(Base):
    """A review: a comment, an approval or a request for changes, at the head it saw."""

    __tablename__ = "repos_pull_review"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    pull_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("repos_pull.id", ondelete="CASCADE"), index=True
    )
    author_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    state: Mapped[str] = mapped_column(String(20))
    body: Mapped[str] = mapped_column(Text, default="")
    commit_sha: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class PullComment(Base):
    """A comment on one line of one file of a head commit; the line's text is kept so a later
    head that changes the line marks the comment outdated."""

    __tablename__ = "repos_pull_comment"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    pull_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("repos_pull.id", ondelete="CASCADE"), index=True
    )
    author_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text)
    path: Mapped[str] = mapped_column(String(1000))
    line: Mapped[int] = mapped_column(Integer)
    commit_sha: Mapped[str] = mapped_column(String(40))
    line_text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class MergeJournal(Base):
    """A merge about to move a base branch, committed before its push (`merging`): a row whose
    pull request is not merged names a push that a crash may have left without its rows, which
    `recovery.recover_merges` undoes. The merge's own transaction deletes its row.

    No foreign key to the pull request: the merging transaction holds that row `FOR UPDATE`,
    which would block the journal's own short transaction checking the key.
    """

    __tablename__ = "repos_merge_journal"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    repository_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("repos_repository.id", ondelete="CASCADE"), index=True
    )
    pull_number: Mapped[int] = mapped_column(Integer)
    base_ref: Mapped[str] = mapped_column(String(300))
    old_sha: Mapped[str] = mapped_column(String(40))
    new_sha: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


__all__ = [
    "REVIEW_STATES",
    "STATES",
    "MergeJournal",
    "PullComment",
    "PullCounter",
    "PullRequest",
    "PullReview",
]
