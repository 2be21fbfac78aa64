"""The pull mirror of a repository: where it fetches from and how often.

The URL never holds credentials (`schemas.check_source_url` refuses them), and `credentials`
only names a secret of the project (`secret://NAME`), so nothing secret is stored here. The
repository itself is `GitRepository` with `is_mirror` set, which refuses pushes.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from devflow.core import clock
from devflow.core.db import Base


class RepoMirror(Base):
    """A repository kept in step with a remote one by `git fetch --prune` at an interval."""

    __tablename__ = "repos_mirror"

    repository_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("repos_repository.id", ondelete="CASCADE"), primary_key=True
    )
    url: Mapped[str] = mapped_column(String(2000))
    interval_seconds: Mapped[int] = mapped_column(Integer)
    next_fetch_at: Mapped[datetime] = mapped_column(default=clock.now, index=True)
    last_fetched_at: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(String(2000), default=None)
    credentials: Mapped[str | None] = mapped_column(String(200), default=None)
    """`secret://NAME`: the project's secret each fetch authenticates with (None: none)."""


__all__ = ["RepoMirror"]
