"""Background work of the workflows domain: returning expired claims to the queue, and the
run engine's steps."""

from __future__ import annotations

from datetime import timedelta

import procrastinate
from procrastinate import JobContext

from devflow.core.db import unit_of_work
from devflow.core.jobs import services_of
from devflow.workflows.claims import release_expired
from devflow.workflows.runs import engine
from devflow.workflows.runs.queue import STEP_TASK, enqueue_job
from devflow.workflows.similar import jobs as similar_jobs

blueprint = procrastinate.Blueprint()
similar_jobs.register(blueprint)

_LATE = timedelta(minutes=1)  # a step this late has lost its job (or its job is stuck)


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


@blueprint.task(name=STEP_TASK, pass_context=True)
async def run_step(context: JobContext, step_id: int) -> bool:
    """Carry out one step of a run (exactly once: see `runs.engine`)."""
    services = services_of(context)
    return await engine.carry_out(services.sessions, services.settings, step_id)


@blueprint.periodic(cron="* * * * *", periodic_id="workflows-sweep-steps")
@blueprint.task(
    name="workflows:sweep_steps", queueing_lock="workflows:sweep_steps", pass_context=True
)
async def sweep_steps(context: JobContext, timestamp: int) -> int:
    """Defer a job again for each step still pending a minute past its time."""
    del timestamp
    async with unit_of_work(services_of(context).sessions) as session:
        late = await engine.due_steps(session, late_by=_LATE)
        for step_id in late:
            await enqueue_job(session, step_id)
    return len(late)


__all__ = ["blueprint", "release_expired_leases", "run_step", "sweep_steps"]
