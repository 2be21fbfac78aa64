"""The job worker: registers every domain's tasks and runs them."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os

import procrastinate

from devflow.core.config import Settings
from devflow.core.db import libpq_url
from devflow.core.errors import Invalid
from devflow.core.jobs import create_job_app, job_context, requeue_stalled_jobs
from devflow.core.services import open_services
from devflow.domains import each, providers

log = logging.getLogger(__name__)


def domain_blueprints(settings: Settings) -> list[procrastinate.Blueprint]:
    """Return the task blueprints of every domain, plus configured plugin modules."""
    blueprints: list[procrastinate.Blueprint] = list(each("jobs"))
    for name in settings.jobs.extra_modules:
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            raise Invalid(f"DEVFLOW_JOBS__EXTRA_MODULES: cannot import {name!r}: {exc}") from None
        blueprint = getattr(module, "blueprint", None)
        if not isinstance(blueprint, procrastinate.Blueprint):
            raise Invalid(f"DEVFLOW_JOBS__EXTRA_MODULES: {name!r} has no procrastinate `blueprint`")
        blueprints.append(blueprint)
    return blueprints


def build_job_app(settings: Settings) -> procrastinate.App:
    """Build the procrastinate app with every task registered."""
    if settings.database_url is None:
        raise Invalid("no database configured: set DEVFLOW_DATABASE_URL, or run `devflow up`")
    return create_job_app(
        libpq_url(settings.database_url.get_secret_value()),
        blueprints=domain_blueprints(settings),
        settings=settings.jobs,
    )


async def run_worker(
    settings: Settings, *, name: str = "devflow-worker", parent_fd: int | None = None
) -> None:
    """Run jobs until stopped by SIGINT or SIGTERM (running jobs finish first).

    `parent_fd`: the read end of a pipe whose only write end the parent holds. At end-of-file
    (the parent is gone, however it died) the worker stops as it does on SIGTERM. `devflow up`
    passes one where the kernel has no parent-death signal.
    """
    app = build_job_app(settings)
    async with open_services(settings, providers()) as services, app.open_async():
        log.info("worker started", extra={"concurrency": settings.jobs.concurrency})
        sweeper = asyncio.create_task(_sweep_stalled(app, settings.jobs.stalled_after_seconds))
        work = asyncio.create_task(
            app.run_worker_async(
                name=name,
                shutdown_graceful_timeout=30.0,
                additional_context=job_context(services),
            )
        )
        if parent_fd is not None:
            _stop_when_closed(parent_fd, work)
        try:
            await work
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # this coroutine itself is cancelled, not only the work
        finally:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper


def _stop_when_closed(fd: int, work: asyncio.Task[None]) -> None:
    loop = asyncio.get_running_loop()

    def readable() -> None:
        try:
            if os.read(fd, 64):
                return
        except BlockingIOError:
            return
        except OSError:
            pass  # a broken pipe is a closed one
        loop.remove_reader(fd)
        log.warning("parent process gone; stopping")
        # procrastinate takes the cancellation of its run as a graceful stop: no new job is
        # fetched and running ones get `shutdown_graceful_timeout` to finish.
        work.cancel()

    loop.add_reader(fd, readable)


async def _sweep_stalled(app: procrastinate.App, stalled_after: float) -> None:
    """Every few seconds, re-queue the jobs of workers that died (kill -9, lost machine)."""
    while True:
        try:
            await requeue_stalled_jobs(app, stalled_after=stalled_after)
        except Exception:  # a failed sweep must never stop the worker
            log.exception("stalled-job sweep failed")
        await asyncio.sleep(max(1.0, stalled_after / 3))
