"""Sending one attempt of a delivery: the headers GitHub sends, the signature, the guarded
POST with its time limit, the log row, and the backoff before the next attempt.

The POST goes through `core.outbound`'s guarded client: the address is checked on the socket
actually opened (a name that resolves to a private address is refused unless the settings allow
it), no proxy from the environment, no redirect followed (GitHub follows none either: a 3xx is a
failed attempt). The whole attempt, connection to last byte read, has one deadline.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from devflow.core.outbound import OutboundError, OutboundPolicy, guarded_http_client
from devflow.repos.webhooks.models import Webhook, WebhookDelivery
from devflow.repos.webhooks.settings import WebhookSettings

USER_AGENT = "DevFlow-Hookshot/1.0"
_RETRY_STATUSES = frozenset({408, 425, 429})


def sign(secret: str, body: bytes) -> str:
    """Return `X-Hub-Signature-256`: the HMAC-SHA256 of the body with the secret, in hex."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def request_headers(
    hook: Webhook, delivery: WebhookDelivery, body: bytes, *, secret: str | None
) -> dict[str, str]:
    """Return the headers of every attempt of a delivery (the delivery id never changes),
    signed with `secret` when the hook has one."""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-GitHub-Event": delivery.event,
        "X-GitHub-Delivery": str(delivery.id),
        "X-GitHub-Hook-ID": str(hook.id),
        "X-GitHub-Hook-Installation-Target-Type": (
            "repository" if hook.repository_id else "organization"
        ),
        "X-GitHub-Hook-Installation-Target-ID": str(hook.repository_id or hook.project_id),
    }
    if secret:
        headers["X-Hub-Signature-256"] = sign(secret, body)
    return headers


def backoff(attempt: int, settings: WebhookSettings, rand: Callable[[], float]) -> float:
    """Return the seconds to wait after failed attempt number `attempt` (1, 2 …): the base
    doubled each time, capped, then jittered to between half and all of it, so that many
    deliveries failing together do not come back together."""
    wait: float = min(
        settings.retry_max_seconds, settings.retry_base_seconds * 2.0 ** (attempt - 1)
    )
    return wait / 2 + wait / 2 * rand()


@dataclass(frozen=True)
class Outcome:
    """What one POST gave: a status and what came back, or an error."""

    duration_ms: int
    status: int | None = None
    headers: dict[str, Any] | None = None
    body: str | None = None
    error: str | None = None
    retryable: bool = False

    @property
    def ok(self) -> bool:
        """Return whether the receiver took it (any 2xx)."""
        return self.status is not None and 200 <= self.status < 300  # noqa: PLR2004


def policy(settings: WebhookSettings) -> OutboundPolicy:
    """Return the outbound limits of webhook attempts."""
    return OutboundPolicy(
        allow_private=settings.allow_private_networks,
        private_networks=tuple(settings.private_networks),
        connect_timeout=min(5.0, settings.timeout_seconds),
        timeout=settings.timeout_seconds,
        max_redirects=0,
        user_agent=USER_AGENT,
    )


async def post(
    url: str,
    *,
    headers: dict[str, str],
    body: bytes,
    settings: WebhookSettings,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Outcome:
    """POST the body once and return what happened (never raises for the receiver's sake)."""
    started = time.monotonic()

    def took() -> int:
        return int((time.monotonic() - started) * 1000)

    client = (
        httpx.AsyncClient(transport=transport)
        if transport is not None
        else guarded_http_client(policy(settings))
    )
    try:
        async with asyncio.timeout(settings.timeout_seconds), client:
            async with client.stream("POST", url, content=body, headers=headers) as response:
                kept = bytearray()
                async for piece in response.aiter_bytes():
                    kept += piece
                    if len(kept) >= settings.max_logged_bytes:
                        break  # enough for the log; the rest is not read
            status = response.status_code
            return Outcome(
                took(),
                status=status,
                headers=dict(response.headers),
                body=bytes(kept[: settings.max_logged_bytes]).decode(errors="replace"),
                retryable=status >= 500 or status in _RETRY_STATUSES,  # noqa: PLR2004
            )
    except TimeoutError:
        return Outcome(
            took(),
            error=f"no answer within {settings.timeout_seconds:g} s (timed out)",
            retryable=True,
        )
    except OutboundError as exc:
        return _refused(exc, took())
    except httpx.HTTPError as exc:
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, OutboundError):
            return _refused(cause, took())
        return Outcome(took(), error=f"cannot reach {url}: {exc or type(exc).__name__}",
                       retryable=True)  # fmt: skip


def _refused(exc: OutboundError, took: int) -> Outcome:
    """An address or port the settings do not allow: retrying would change nothing."""
    message = str(exc)
    if exc.reason == "private_address":
        message = (
            f"{exc.url} is a private, loopback or link-local address; webhooks may reach one "
            "only where the operator allows it (DEVFLOW_REPOS__WEBHOOKS__ALLOW_PRIVATE_NETWORKS "
            "or DEVFLOW_REPOS__WEBHOOKS__PRIVATE_NETWORKS)"
        )
    return Outcome(took, error=message[:2000], retryable=exc.reason not in {
        "private_address", "port_refused", "unix_socket", "bad_url"})  # fmt: skip


def delivery_id() -> uuid.UUID:
    """Return a new delivery id (a GUID, as GitHub's)."""
    return uuid.uuid4()


__all__ = ["USER_AGENT", "Outcome", "backoff", "policy", "post", "request_headers", "sign"]
