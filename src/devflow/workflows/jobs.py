"""Background work of the workflows domain: returning expired claims to the queue."""

from __future__ import annotations

import procrastinate
from procrastinate import JobContext

from devflow.core.db import unit_of_work
from devflow.core.jobs import services_of
from devflow.workflows.claims import release_expired

blueprint = procrastinate.Blueprint()


@blueprint.periodic(cron="* * * * *", periodic_id="workflows-release-leases")
@blueprint.task(
    name="workflows:release_expired_leases",
    queueing_lock="workflows:release_expired_leases",
    pass_context=True,
)
async def release_expired_leases(context: JobContext, timestamp: int) -> int:
    """Give tasks whose claim's lease ran out back to the queue (a claim also does it first)."""
    del timestamp
    async with unit_of_work(services_of(context).sessions) as session:
        return await release_expired(session)


__all__ = ["blueprint", "release_expired_leases"]
