"""Jobs of imports and mirrors: the import itself, one mirror's fetch, and the periodic job that
queues the fetches that are due. The import's progress (git's own counts of objects received
and resolved) is the job's progress, on the jobs page."""

from __future__ import annotations

import uuid
from typing import Any

import procrastinate
from procrastinate import JobContext

from devflow.core.db import unit_of_work
from devflow.core.jobs import Phase, report_progress, services_of
from devflow.repos.mirrors import service
from devflow.repos.mirrors.service import FETCH, IMPORT, SCHEDULE


async def import_repository(context: JobContext, /, **args: Any) -> str:
    """Clone a source into a new repository; return its id."""
    services = services_of(context)

    async def progress(phase: str, done: int, total: int | None) -> None:
        await report_progress(context, phase=Phase(phase, "objects", done, total))

    await report_progress(context, message=f"cloning {args['url']}")
    return await service.run_import(services, args=args, on_progress=progress)


async def fetch_mirror(context: JobContext, repository_id: str) -> int:
    """Fetch one mirror from its source; return how many refs moved."""
    services = services_of(context)
    moved = await service.fetch_mirror(services, repository_id=uuid.UUID(repository_id))
    return len(moved)


async def schedule_mirror_fetches(context: JobContext, timestamp: int) -> int:
    """Queue a fetch of every mirror that is due; return how many."""
    del timestamp
    services = services_of(context)
    async with unit_of_work(services.sessions) as session:
        return await service.schedule_fetches(session)


def register(blueprint: procrastinate.Blueprint) -> None:
    """Add the import and mirror tasks to the repos domain's `blueprint`."""
    blueprint.task(name=IMPORT, pass_context=True)(import_repository)
    blueprint.task(name=FETCH, pass_context=True)(fetch_mirror)
    schedule = blueprint.task(name=SCHEDULE, queueing_lock=SCHEDULE, pass_context=True)(
        schedule_mirror_fetches
    )
    blueprint.periodic(cron="* * * * *", periodic_id="repos-schedule-mirror-fetches")(schedule)


__all__ = ["fetch_mirror", "import_repository", "register", "schedule_mirror_fetches"]
