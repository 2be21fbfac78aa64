"""Tables of protected branches and commit statuses.

A branch rule names branches by a glob (`main`, `release/*`) and says what a push to them may
not do; a commit status is one report (pending, success, failure, error) a CI or another system
made about a commit under a context name. Both belong to a repository and go with it.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Identity, Index, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from devflow.core import clock
from devflow.core.db import Base


class BranchRule(Base):
    """What pushes to the branches matching `pattern` may not do."""

    __tablename__ = "repos_branch_rule"
    __table_args__ = (UniqueConstraint("repository_id", "pattern"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    repository_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("repos_repository.id", ondelete="CASCADE"), index=True
    )
    pattern: Mapped[str] = mapped_column(String(255))
    no_force_push: Mapped[bool] = mapped_column(default=False)
    no_delete: Mapped[bool] = mapped_column(default=False)
    require_pull_request: Mapped[bool] = mapped_column(default=False)
    required_approvals: Mapped[int] = mapped_column(default=0)
    required_checks: Mapped[list[str]] = mapped_column(ARRAY(String(255)), default=list)
    # Usernames; empty: every writer of the repository may push.
    push_allow: Mapped[list[str]] = mapped_column(ARRAY(String(64)), default=list)
    protected_files: Mapped[list[str]] = mapped_column(ARRAY(String(500)), default=list)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)


class CommitStatus(Base):
    """One report about a commit under a context; the latest per context counts."""

    __tablename__ = "repos_commit_status"
    __table_args__ = (
        Index("ix_repos_commit_status_repository_id_sha", "repository_id", "sha", "context"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    repository_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("repos_repository.id", ondelete="CASCADE")
    )
    sha: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    context: Mapped[str] = mapped_column(String(255))
    target_url: Mapped[str | None] = mapped_column(String(2000))
    description: Mapped[str | None] = mapped_column(String(140))
    creator_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
