"""A port for closing the tasks a change names ("Fixes #12"): the workflows domain provides it,
git hosting uses it when a pull request is merged, and neither imports the other."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core.auth import Principal
from devflow.core.services import Key


class TaskCloser(Protocol):
    """Closes tasks of a project on behalf of a caller."""

    async def close(
        self,
        session: AsyncSession,
        *,
        principal: Principal,
        project: str,
        numbers: Sequence[int],
        note: str,
    ) -> list[int]:
        """Move each task to its board's first done column as `principal` would (its role is
        checked); return the numbers closed. A task that is missing, done already or cannot
        move is left as it is, and the caller's transaction is unharmed."""
        ...


TASK_CLOSER: Key[TaskCloser] = Key("workflows.task_closer")

__all__ = ["TASK_CLOSER", "TaskCloser"]
