"""Tables of the git-hosting domain: repositories and the pushes they received.

A repository's files live in `$DEVFLOW_HOME/repos/<id>.git`, named by its id and never by its
name: renaming is a row update, and no path is ever built from what a caller typed.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, String, UniqueConstraint, false
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from devflow.core import clock
from devflow.core.db import Base


class GitRepository(Base):
    """A bare git repository in a project."""

    __tablename__ = "repos_repository"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    project_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(2000), default="")
    visibility: Mapped[str] = mapped_column(String(16), default="private")
    default_branch: Mapped[str] = mapped_column(String(255), default="main")
    archived: Mapped[bool] = mapped_column(default=False)
    # A pull mirror (`mirrors`): kept in step with its source, it refuses pushes.
    is_mirror: Mapped[bool] = mapped_column(default=False, server_default=false())
    # A fork (`forks`): the repository its objects and branches were copied from.
    forked_from_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("repos_repository.id", ondelete="SET NULL"), index=True, default=None
    )
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    last_pushed_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))


class Push(Base):
    """One push that moved refs: which, from what to what, by whom."""

    __tablename__ = "repos_push"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    repository_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("repos_repository.id", ondelete="CASCADE"), index=True
    )
    pusher_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    pushed_at: Mapped[datetime] = mapped_column(default=clock.now)
    # One {"ref", "old", "new"} per ref moved (40 zeros: created or deleted).
    refs: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)


from devflow.repos.mirrors.models import RepoMirror  # noqa: E402, F401
from devflow.repos.protection.models import BranchRule, CommitStatus  # noqa: E402, F401
from devflow.repos.pulls.models import PullComment, PullCounter, PullRequest, PullReview  # noqa: E402, F401
from devflow.repos.ssh.models import SshKey  # noqa: E402, F401
from devflow.repos.webhooks.models import Webhook, WebhookAttempt, WebhookDelivery  # noqa: E402, F401
