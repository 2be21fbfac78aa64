"""The backfill of task and comment vectors, as a periodic job of the workflows blueprint.

Tasks and comments are embedded as they are written; this catches up what that missed (a failing
embedder, a changed model, tasks from before vectors existed), a batch per transaction.
"""

from __future__ import annotations

import procrastinate
from procrastinate import JobContext

from devflow.core.db import unit_of_work
from devflow.core.jobs import services_of
from devflow.knowledge import EMBEDDER
from devflow.workflows.similar.vectors import embed_missing

JOB = "workflows:embed_tasks"
_BATCH = 64


async def embed_tasks(context: JobContext, timestamp: int) -> int:
    """Embed every task and comment without a vector of the configured model; return how many."""
    del timestamp
    services = services_of(context)
    embedder = services.get(EMBEDDER)
    total = 0
    while True:
        async with unit_of_work(services.sessions) as session:
            done = await embed_missing(session, embedder=embedder, limit=_BATCH)
        total += done
        if done == 0:
            return total


def register(blueprint: procrastinate.Blueprint) -> None:
    """Add the backfill to `blueprint`, every five minutes, one at a time."""
    task = blueprint.task(name=JOB, queueing_lock=JOB, pass_context=True)(embed_tasks)
    blueprint.periodic(cron="*/5 * * * *", periodic_id="workflows-embed-tasks")(task)


__all__ = ["JOB", "embed_tasks", "register"]
