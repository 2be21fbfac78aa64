"""Closing the tasks a merged change names (`core.task_links.TaskCloser`, provided to git
hosting through the services)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core.auth import Principal
from devflow.core.errors import DevflowError
from devflow.core.services import Services
from devflow.workflows import reads, service
from devflow.workflows.schemas import TaskUpdate
from devflow.workflows.settings import WorkflowsSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BoardTaskCloser:
    """Moves tasks to their board's first done column through the task service."""

    lease: timedelta

    async def close(
        self,
        session: AsyncSession,
        *,
        principal: Principal,
        project: str,
        numbers: Sequence[int],
        note: str,
    ) -> list[int]:
        """See `core.task_links.TaskCloser.close`."""
        if not numbers:
            return []
        board = await reads.show_board(session, principal=principal, project=project, limit=1)
        done = next((c.name for c in board.columns if c.state == "done"), None)
        if done is None:
            return []
        closed = []
        for number in numbers:
            try:
                async with session.begin_nested():
                    task = await reads.get_task(
                        session, principal=principal, project=project, number=number
                    )
                    if task.state == "done":
                        continue
                    await service.update_task(
                        session,
                        principal=principal,
                        project=project,
                        number=number,
                        data=TaskUpdate(version=task.version, column=done),
                        lease=self.lease,
                    )
            except DevflowError as exc:
                log.info("%s did not close task #%s: %s", note, number, exc)
                continue
            closed.append(number)
        return closed


def make_closer(services: Services) -> BoardTaskCloser:
    """The task closer of this process (its settings' lease)."""
    return BoardTaskCloser(services.settings.section(WorkflowsSettings).lease)


__all__ = ["BoardTaskCloser", "make_closer"]
