"""Webhook jobs: making an event's deliveries, and sending one attempt of a delivery.

`repos:dispatch_webhooks` is deferred by the database itself (the `repos_webhook_event`
trigger of migration 0018), in the transaction that wrote an event of a project with an active
hook; `repos:deliver_webhook` by `service` in the transaction that made the delivery (or failed
its previous attempt, or asked for a redelivery). Both are safe to run twice.
"""

from __future__ import annotations

import random
import uuid

import procrastinate
from procrastinate import JobContext

from devflow.core.db import unit_of_work
from devflow.core.jobs import services_of
from devflow.repos.webhooks import service
from devflow.repos.webhooks.service import DELIVER, DISPATCH

PRUNE = "repos:prune_webhook_deliveries"


async def dispatch_webhooks(context: JobContext, event_id: int) -> int:
    """Make the deliveries of one event; return how many."""
    services = services_of(context)
    async with unit_of_work(services.sessions) as session:
        return await service.dispatch_event(session, event_id=event_id, settings=services.settings)


async def deliver_webhook(
    context: JobContext,
    delivery_id: str,
    attempt: int,
    manual: bool = False,
) -> str:
    """Send one attempt of a delivery; return its status afterwards."""
    services = services_of(context)
    return await service.attempt_delivery(
        services,
        delivery_id=uuid.UUID(delivery_id),
        number=attempt,
        manual=manual,
        rand=random.random,
    )


async def prune_webhook_deliveries(context: JobContext, timestamp: int) -> int:
    """Delete deliveries past `keep_days`; return how many."""
    del timestamp
    services = services_of(context)
    async with unit_of_work(services.sessions) as session:
        return await service.prune_deliveries(session, settings=services.settings)


def register(blueprint: procrastinate.Blueprint) -> None:
    """Add the webhook tasks to the repos domain's `blueprint`. Retries of a delivery are its
    own (`attempt_delivery` queues them with backoff); procrastinate's retry only covers a
    failure of DevFlow's side (the database) once."""
    retry = procrastinate.RetryStrategy(max_attempts=3, wait=5)
    blueprint.task(name=DISPATCH, pass_context=True, retry=retry)(dispatch_webhooks)
    blueprint.task(name=DELIVER, pass_context=True, retry=retry)(deliver_webhook)
    prune = blueprint.task(name=PRUNE, queueing_lock=PRUNE, pass_context=True)(
        prune_webhook_deliveries
    )
    blueprint.periodic(cron="29 4 * * *", periodic_id="repos-prune-webhook-deliveries")(prune)


__all__ = ["PRUNE", "deliver_webhook", "dispatch_webhooks", "prune_webhook_deliveries", "register"]
