"""Webhooks of a project or a repository: who may manage them, the deliveries made from
DevFlow's events, each attempt's record, and manual redelivery.

Managing hooks and reading their deliveries needs the admin role in the project (a repository's
admins are its project's). Deliveries are made by `dispatch_event` (a job the database queues
with each event of a project that has an active hook) and sent by `attempt_delivery` (a job per
attempt); both are in `jobs`.

A hook's signing secret is sealed in the secrets store (`secrets.keep_internal`, owner
`repos.webhook:<hook id>`); the hook row only says it has one. A delivery reads it without an
audit record (`secrets.read_internal`: it never leaves DevFlow, it signs; a record per delivery
would drown the audit log), while keeping and forgetting it are always audited. Secrets stored
in clear before migration 0024 wait in `legacy_secret` until `seal_legacy_secret` seals them: at
server start (`repos.serving`) and before a delivery signs with one.
"""

from __future__ import annotations

import ipaddress
import secrets
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import orjson
from sqlalchemy import delete, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core import clock, events, jobs
from devflow.core.auth import Principal, Role
from devflow.core.config import Settings
from devflow.core.db import unit_of_work
from devflow.core.errors import Conflict, Invalid, NotFound
from devflow.core.services import Services
from devflow.identity import Project, User, require_project
from devflow.repos import access
from devflow.repos.models import GitRepository
from devflow.repos.service import full_name, get_repository
from devflow.repos.settings import ReposSettings
from devflow.repos.webhooks import delivery as sending
from devflow.repos.webhooks.models import Webhook, WebhookAttempt, WebhookDelivery
from devflow.repos.webhooks.payloads import (
    TRANSLATORS,
    Context,
    Outgoing,
    project_payload,
    repository_payload,
    user_payload,
)
from devflow.repos.webhooks.schemas import (
    AttemptRead,
    DeliveryDetail,
    DeliveryRead,
    WebhookCreate,
    WebhookRead,
    WebhookUpdate,
)
from devflow.repos.webhooks.settings import WebhookSettings
from devflow.secrets import forget_internal, keep_internal, read_internal

DELIVER = "repos:deliver_webhook"
DISPATCH = "repos:dispatch_webhooks"
ZEN = "Keep it logically awesome."
SIGNING = "webhook signing secret"


def webhook_settings(settings: Settings) -> WebhookSettings:
    """Return the webhook section of the settings."""
    return settings.section(ReposSettings).webhooks


def secret_owner(hook_id: uuid.UUID) -> str:
    """The owner of a hook's sealed signing secret in the secrets store."""
    return f"repos.webhook:{hook_id}"


async def _keep_secret(
    session: AsyncSession, services: Services, hook: Webhook, secret: str, why: str
) -> None:
    await keep_internal(
        session, services, owner=secret_owner(hook.id), value=secret, purpose=f"{SIGNING} {why}"
    )
    hook.has_secret, hook.legacy_secret = True, None


async def seal_legacy_secret(session: AsyncSession, services: Services, hook: Webhook) -> None:
    """Seal a secret stored in clear before migration 0024 and clear it from the hook row
    (the row is locked first, so two deliveries do not seal it twice)."""
    await session.refresh(hook, with_for_update=True)
    if hook.legacy_secret:
        await _keep_secret(session, services, hook, hook.legacy_secret, "sealed from clear")
        await session.flush()


async def seal_legacy_secrets(services: Services) -> int:
    """Seal every hook's secret still in clear (at server start); return how many."""
    async with unit_of_work(services.sessions) as session:
        hooks = list(
            await session.scalars(select(Webhook).where(Webhook.legacy_secret.is_not(None)))
        )
        for hook in hooks:
            await seal_legacy_secret(session, services, hook)
    return len(hooks)


# -- managing hooks -------------------------------------------------------------------------------


async def _admin_project(session: AsyncSession, principal: Principal, project: str) -> Project:
    return await require_project(session, principal=principal, name=project, role=Role.ADMIN)


async def _repository(
    session: AsyncSession, principal: Principal, project: str, name: str
) -> GitRepository:
    found = await get_repository(session, project=project, name=name)
    return access.require_admin(principal, found, full_name(project, name))


def _check_target(url: str, settings: WebhookSettings) -> None:
    """Refuse a literal private address the settings do not open (names: at each attempt)."""
    if settings.allow_private_networks:
        return
    host = (urlsplit(url).hostname or "").lower()
    if host in {"localhost", "localhost.localdomain"} or host.endswith(".localhost"):
        address: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address("127.0.0.1")
    else:
        try:
            address = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            return
        if address.is_global:
            return
    if any(address in network for network in settings.private_networks):
        return
    raise Invalid(
        f"{host} is a private, loopback or link-local address: webhooks may reach one only "
        "where the operator allows it (DEVFLOW_REPOS__WEBHOOKS__ALLOW_PRIVATE_NETWORKS, or the "
        "network in DEVFLOW_REPOS__WEBHOOKS__PRIVATE_NETWORKS)",
        details={"reason": "private_address"},
    )


async def create_webhook(
    session: AsyncSession,
    *,
    principal: Principal,
    project: str,
    data: WebhookCreate,
    services: Services,
) -> tuple[Webhook, str | None]:
    """Create a hook (project admins) and queue its `ping`; return it with the secret DevFlow
    made for it (None when the caller gave one).

    Raises:
        NotFound, PermissionDenied: not an admin of the project (or no such repository).
        Invalid: a private target the settings do not allow.
    """
    settings = services.settings
    owner = await _admin_project(session, principal, project)
    repo = None
    if data.repository is not None:
        repo = await _repository(session, principal, project, data.repository)
    _check_target(data.url, webhook_settings(settings))
    made = None if data.secret is not None else secrets.token_urlsafe(32)
    hook = Webhook(
        id=uuid.uuid4(),
        project_id=owner.id,
        repository_id=repo.id if repo else None,
        url=data.url,
        content_type=data.content_type,
        events=data.events,
        active=data.active,
        created_at=clock.now(),
        created_by=principal.user_id,
    )
    session.add(hook)
    await session.flush()
    secret = data.secret if data.secret is not None else made
    assert secret is not None  # noqa: S101 - given or made
    await _keep_secret(session, services, hook, secret, "set at creation")
    await _emit(session, "webhook.created", hook, principal, project=project)
    if hook.active:
        await _ping(session, hook, owner, repo, principal, settings)
    return hook, made


async def _ping(
    session: AsyncSession,
    hook: Webhook,
    project: Project,
    repo: GitRepository | None,
    principal: Principal,
    settings: Settings,
) -> None:
    """Queue GitHub's `ping`: sent when a hook is made, whatever events it asked for."""
    base = settings.base_url.rstrip("/")
    payload: dict[str, Any] = {
        "zen": ZEN,
        "hook_id": str(hook.id),
        "hook": {
            "type": "Repository" if repo else "Organization",
            "id": str(hook.id),
            "name": "web",
            "active": hook.active,
            "events": hook.events,
            "config": {"content_type": hook.content_type, "url": hook.url, "insecure_ssl": "0"},
            "created_at": hook.created_at.isoformat(),
        },
    }
    if repo is not None:
        payload["repository"] = repository_payload(repo, project, base)
    payload["organization"] = project_payload(project, base)
    user = await session.get(User, principal.user_id) if principal.user_id else None
    payload["sender"] = user_payload(user)
    await _queue(session, hook, Outgoing("ping", payload), body=_encode(payload))


async def list_webhooks(
    session: AsyncSession,
    *,
    principal: Principal,
    project: str,
    repository: str | None,
    limit: int,
    offset: int,
) -> tuple[list[WebhookRead], int]:
    """Return a page of a project's hooks (of one repository if named), oldest first.

    Raises:
        NotFound, PermissionDenied: not an admin of the project (or no such repository).
    """
    owner = await _admin_project(session, principal, project)
    where = [Webhook.project_id == owner.id]
    if repository is not None:
        repo = await _repository(session, principal, project, repository)
        where.append(Webhook.repository_id == repo.id)
    total = await session.scalar(select(func.count()).select_from(Webhook).where(*where))
    rows = await session.execute(
        select(Webhook, GitRepository.name)
        .outerjoin(GitRepository, GitRepository.id == Webhook.repository_id)
        .where(*where)
        .order_by(Webhook.created_at, Webhook.id)
        .limit(limit)
        .offset(offset)
    )
    return [read_webhook(hook, project=project, repository=name) for hook, name in rows], (
        total or 0
    )


async def require_webhook(
    session: AsyncSession, *, principal: Principal, project: str, hook_id: uuid.UUID
) -> tuple[Webhook, str | None]:
    """Return a hook of the project and its repository's name (project admins).

    Raises:
        NotFound, PermissionDenied: not an admin of the project, or no such hook in it.
    """
    owner = await _admin_project(session, principal, project)
    found = (
        await session.execute(
            select(Webhook, GitRepository.name)
            .outerjoin(GitRepository, GitRepository.id == Webhook.repository_id)
            .where(Webhook.id == hook_id, Webhook.project_id == owner.id)
        )
    ).one_or_none()
    if found is None:
        raise NotFound(f"no webhook {hook_id} in project {project}")
    return found[0], found[1]


async def update_webhook(
    session: AsyncSession,
    *,
    principal: Principal,
    project: str,
    hook_id: uuid.UUID,
    data: WebhookUpdate,
    services: Services,
) -> tuple[Webhook, str | None]:
    """Change a hook's URL, secret, events or active flag (project admins).

    Raises:
        NotFound, PermissionDenied: as `require_webhook`.
        Invalid: a private target the settings do not allow.
    """
    hook, name = await require_webhook(
        session, principal=principal, project=project, hook_id=hook_id
    )
    if data.url is not None:
        _check_target(data.url, webhook_settings(services.settings))
        hook.url = data.url
    if data.secret is not None:
        await _keep_secret(session, services, hook, data.secret, "changed")
    if data.events is not None:
        hook.events = data.events
    if data.active is not None:
        hook.active = data.active
    await session.flush()
    changed = sorted(data.model_dump(exclude_none=True))
    await _emit(session, "webhook.updated", hook, principal, project=project, changes=changed)
    return hook, name


async def delete_webhook(
    session: AsyncSession, *, principal: Principal, project: str, hook_id: uuid.UUID
) -> None:
    """Delete a hook, its sealed secret and its deliveries' log (project admins); queued
    attempts find it gone.

    Raises:
        NotFound, PermissionDenied: as `require_webhook`.
    """
    hook, _ = await require_webhook(session, principal=principal, project=project, hook_id=hook_id)
    await _emit(session, "webhook.deleted", hook, principal, project=project)
    await forget_internal(session, owner=secret_owner(hook.id), purpose=f"{SIGNING}: hook deleted")
    await session.delete(hook)
    await session.flush()


def read_webhook(
    hook: Webhook, *, project: str, repository: str | None, secret: str | None = None
) -> WebhookRead:
    """Return the API view of a hook: never its secret, unless `secret` is the one just made."""
    return WebhookRead(
        id=hook.id,
        project=project,
        repository=repository,
        url=hook.url,
        content_type=hook.content_type,
        events=list(hook.events),
        active=hook.active,
        has_secret=hook.has_secret,
        created_at=hook.created_at,
        secret=secret,
    )


async def _emit(
    session: AsyncSession,
    type_: str,
    hook: Webhook,
    principal: Principal,
    *,
    project: str,
    **extra: Any,
) -> None:
    # The secret never goes into an event: events are streamed to every project reader.
    await events.emit(
        session,
        type=type_,
        project_id=hook.project_id,
        actor_id=principal.user_id,
        payload={"project": project, "hook_id": str(hook.id), "url": hook.url, **extra},
    )


# -- deliveries -----------------------------------------------------------------------------------


def _encode(payload: dict[str, Any]) -> str:
    return orjson.dumps(payload).decode()


async def _queue(
    session: AsyncSession,
    hook: Webhook,
    outgoing: Outgoing,
    *,
    body: str,
    event_id: int | None = None,
    seq: int = 0,
) -> WebhookDelivery:
    """Record a delivery and defer its first attempt, in the caller's transaction."""
    made = WebhookDelivery(
        id=sending.delivery_id(),
        hook_id=hook.id,
        event_id=event_id,
        seq=seq,
        event=outgoing.event,
        action=outgoing.action,
        body=body,
        status="pending",
        attempts=0,
        created_at=clock.now(),
    )
    session.add(made)
    await session.flush()
    await _defer_attempt(session, made, hook, number=1)
    return made


async def _defer_attempt(
    session: AsyncSession,
    delivery: WebhookDelivery,
    hook: Webhook,
    *,
    number: int,
    manual: bool = False,
    delay: float = 0.0,
) -> None:
    await jobs.defer(
        session,
        task=DELIVER,
        args={"delivery_id": str(delivery.id), "attempt": number, "manual": manual},
        project_id=hook.project_id,
        scheduled_at=clock.now() + timedelta(seconds=delay) if delay > 0 else None,
    )


def _wants(hook: Webhook, outgoing: Outgoing) -> bool:
    if hook.repository_id is not None and hook.repository_id != outgoing.repository_id:
        return False
    return "*" in hook.events or outgoing.event in hook.events


async def dispatch_event(session: AsyncSession, *, event_id: int, settings: Settings) -> int:
    """Make the deliveries of one DevFlow event: one per GitHub event it becomes (the mapping
    table `payloads.TRANSLATORS`) and per active hook of its project that asked for it and
    existed when it happened. Run twice, it makes nothing more. Returns how many it made."""
    event = await session.get(events.Event, event_id)
    translate = TRANSLATORS.get(event.type) if event is not None else None
    if event is None or translate is None or event.project_id is None:
        return 0
    hooks = list(
        await session.scalars(
            select(Webhook).where(
                Webhook.project_id == event.project_id,
                Webhook.active,
                Webhook.created_at <= event.created_at,
            )
        )
    )
    done = await session.scalar(
        select(exists().where(WebhookDelivery.event_id == event_id))  # a second run
    )
    if not hooks or done:
        return 0
    made = 0
    for seq, outgoing in enumerate(await translate(Context(session, settings), event)):
        body = _encode(outgoing.payload)
        for hook in hooks:
            if _wants(hook, outgoing):
                await _queue(session, hook, outgoing, body=body, event_id=event_id, seq=seq)
                made += 1
    return made


async def attempt_delivery(
    services: Services,
    *,
    delivery_id: uuid.UUID,
    number: int,
    manual: bool,
    rand: Callable[[], float],
) -> str:
    """Send attempt `number` of a delivery and record it; queue the next one after a failure
    that may pass (a timeout, no connection, 5xx, 408, 429) while automatic attempts remain.
    Returns the delivery's status afterwards (`gone` if it or its hook was deleted)."""
    sessions = services.sessions
    config = webhook_settings(services.settings)
    async with unit_of_work(sessions) as session:
        found = await _delivery_and_hook(session, delivery_id)
        if found is None:
            return "gone"
        delivery, hook = found
        if delivery.attempts >= number:  # this attempt is on record: a job run twice
            return delivery.status
        body = delivery.body.encode()
        if hook.legacy_secret:
            await seal_legacy_secret(session, services, hook)
        secret = None
        if hook.has_secret:
            secret = await read_internal(
                session, services, owner=secret_owner(hook.id), purpose=f"{SIGNING}: delivery"
            )
        headers = sending.request_headers(hook, delivery, body, secret=secret)
        url, active = hook.url, hook.active
    if active or manual:
        outcome = await sending.post(url, headers=headers, body=body, settings=config)
    else:
        outcome = sending.Outcome(0, error="the hook is inactive: nothing was sent")
    async with unit_of_work(sessions) as session:
        found = await _delivery_and_hook(session, delivery_id, lock=True)
        if found is None:
            return "gone"
        delivery, hook = found
        session.add(_attempt_row(delivery, number, manual, headers, outcome))
        delivery.attempts = max(delivery.attempts, number)
        delivery.last_attempt_at = clock.now()
        again = not manual and outcome.retryable and number < config.max_attempts
        if outcome.ok:
            delivery.status = "delivered"
        elif again:
            delivery.status = "pending"
            wait = sending.backoff(number, config, rand)
            await _defer_attempt(session, delivery, hook, number=number + 1, delay=wait)
        else:
            delivery.status = "failed"
        return delivery.status


def _attempt_row(
    delivery: WebhookDelivery,
    number: int,
    manual: bool,
    headers: dict[str, str],
    outcome: sending.Outcome,
) -> WebhookAttempt:
    return WebhookAttempt(
        delivery_id=delivery.id,
        number=number,
        manual=manual,
        started_at=clock.now() - timedelta(milliseconds=outcome.duration_ms),
        duration_ms=outcome.duration_ms,
        request_headers=headers,
        response_status=outcome.status,
        response_headers=outcome.headers,
        response_body=outcome.body,
        error=outcome.error,
    )


async def _delivery_and_hook(
    session: AsyncSession, delivery_id: uuid.UUID, *, lock: bool = False
) -> tuple[WebhookDelivery, Webhook] | None:
    query = (
        select(WebhookDelivery, Webhook)
        .join(Webhook, Webhook.id == WebhookDelivery.hook_id)
        .where(WebhookDelivery.id == delivery_id)
    )
    if lock:
        query = query.with_for_update(of=WebhookDelivery)
    row = (await session.execute(query)).one_or_none()
    return (row[0], row[1]) if row is not None else None


async def prune_deliveries(session: AsyncSession, *, settings: Settings) -> int:
    """Delete the deliveries older than `keep_days` that have no attempt queued, with their
    log; return how many."""
    cutoff = clock.now() - timedelta(days=webhook_settings(settings).keep_days)
    gone = await session.execute(
        delete(WebhookDelivery)
        .where(WebhookDelivery.created_at < cutoff, WebhookDelivery.status != "pending")
        .returning(WebhookDelivery.id)
    )
    return len(gone.all())


async def list_deliveries(
    session: AsyncSession,
    *,
    principal: Principal,
    project: str,
    hook_id: uuid.UUID,
    limit: int,
    offset: int,
) -> tuple[list[DeliveryRead], int]:
    """Return a page of a hook's deliveries, newest first (project admins).

    Raises:
        NotFound, PermissionDenied: as `require_webhook`.
    """
    hook, _ = await require_webhook(session, principal=principal, project=project, hook_id=hook_id)
    where = WebhookDelivery.hook_id == hook.id
    total = await session.scalar(select(func.count()).select_from(WebhookDelivery).where(where))
    last_status = (
        select(WebhookAttempt.response_status)
        .where(WebhookAttempt.delivery_id == WebhookDelivery.id)
        .order_by(WebhookAttempt.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    rows = await session.execute(
        select(WebhookDelivery, last_status)
        .where(where)
        .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id)
        .limit(limit)
        .offset(offset)
    )
    return [_read_delivery(d, status) for d, status in rows], total or 0


def _read_delivery(delivery: WebhookDelivery, status: int | None) -> DeliveryRead:
    return DeliveryRead(
        id=delivery.id,
        hook_id=delivery.hook_id,
        event=delivery.event,
        action=delivery.action,
        status=delivery.status,
        attempts=delivery.attempts,
        created_at=delivery.created_at,
        last_attempt_at=delivery.last_attempt_at,
        response_status=status,
    )


async def _require_delivery(
    session: AsyncSession,
    *,
    principal: Principal,
    project: str,
    hook_id: uuid.UUID,
    delivery_id: uuid.UUID,
) -> tuple[Webhook, WebhookDelivery]:
    hook, _ = await require_webhook(session, principal=principal, project=project, hook_id=hook_id)
    found = await session.get(WebhookDelivery, delivery_id)
    if found is None or found.hook_id != hook.id:
        raise NotFound(f"no delivery {delivery_id} of webhook {hook_id}")
    return hook, found


async def show_delivery(
    session: AsyncSession,
    *,
    principal: Principal,
    project: str,
    hook_id: uuid.UUID,
    delivery_id: uuid.UUID,
) -> DeliveryDetail:
    """Return a delivery with its body and the log of every attempt (project admins).

    Raises:
        NotFound, PermissionDenied: as `require_webhook`; no such delivery of the hook.
    """
    _, delivery = await _require_delivery(
        session, principal=principal, project=project, hook_id=hook_id, delivery_id=delivery_id
    )
    attempts = list(
        await session.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id == delivery.id)
            .order_by(WebhookAttempt.number, WebhookAttempt.id)
        )
    )
    log = [AttemptRead.model_validate(a, from_attributes=True) for a in attempts]
    last = log[-1].response_status if log else None
    return DeliveryDetail(
        **_read_delivery(delivery, last).model_dump(), request_body=delivery.body, log=log
    )


async def redeliver(
    session: AsyncSession,
    *,
    principal: Principal,
    project: str,
    hook_id: uuid.UUID,
    delivery_id: uuid.UUID,
) -> DeliveryRead:
    """Queue one more attempt of a delivery, with the same delivery id (project admins).

    Raises:
        NotFound, PermissionDenied: as `show_delivery`.
        Conflict: an attempt of it is queued or running already.
    """
    hook, delivery = await _require_delivery(
        session, principal=principal, project=project, hook_id=hook_id, delivery_id=delivery_id
    )
    await session.refresh(delivery, with_for_update=True)
    if delivery.status == "pending":
        raise Conflict(
            f"delivery {delivery.id} has an attempt queued or running already; redeliver it "
            "once that has ended",
            details={"status": delivery.status},
        )
    delivery.status = "pending"
    await session.flush()
    await _defer_attempt(session, delivery, hook, number=delivery.attempts + 1, manual=True)
    return _read_delivery(delivery, None)


__all__ = [
    "DELIVER",
    "DISPATCH",
    "attempt_delivery",
    "create_webhook",
    "delete_webhook",
    "dispatch_event",
    "list_deliveries",
    "list_webhooks",
    "prune_deliveries",
    "read_webhook",
    "redeliver",
    "require_webhook",
    "seal_legacy_secret",
    "seal_legacy_secrets",
    "secret_owner",
    "show_delivery",
    "update_webhook",
    "webhook_settings",
]
