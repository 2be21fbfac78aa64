"""Input and output shapes of the webhook API and CLI."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, Field, StrictBool, StringConstraints

EVENTS = (
    "push",
    "pull_request",
    "pull_request_review",
    "status",
    "create",
    "delete",
    "issues",
)
"""The GitHub event names a hook may ask for (`*`: all of them, and those added later)."""


def _check_url(value: str) -> str:
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in value):  # noqa: PLR2004 - control chars
        raise ValueError("a webhook URL holds no spaces or control characters")
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError("a webhook URL starts with http:// or https:// and names a host")
    if parts.username or parts.password:
        raise ValueError("a webhook URL carries no user or password; use the secret instead")
    return value


def _check_events(value: list[str]) -> list[str]:
    unknown = sorted(set(value) - {*EVENTS, "*"})
    if unknown:
        raise ValueError(
            f"unknown events {', '.join(unknown)}: choose among {', '.join(EVENTS)}, or *"
        )
    if not value:
        raise ValueError("a webhook needs at least one event (or *)")
    return sorted(set(value))


def _check_secret(value: str) -> str:
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):  # noqa: PLR2004 - control chars
        raise ValueError("a webhook secret holds no control characters")
    return value


Url = Annotated[str, StringConstraints(max_length=2000), AfterValidator(_check_url)]
Events = Annotated[list[str], Field(max_length=20), AfterValidator(_check_events)]
Secret = Annotated[
    str, StringConstraints(min_length=1, max_length=255), AfterValidator(_check_secret)
]


class WebhookCreate(BaseModel):
    """A new hook: of the whole project, or of one of its repositories."""

    url: Url = Field(description="Where DevFlow POSTs each event.")
    repository: str | None = Field(
        None,
        max_length=100,
        description="A repository of the project (its events only); none: the whole project.",
    )
    secret: Secret | None = Field(
        None,
        description="Signs each body (X-Hub-Signature-256). Left out: DevFlow makes one and "
        "returns it once, in this answer. Never shown again.",
    )
    content_type: Literal["json"] = "json"
    events: Events = Field(default_factory=lambda: ["push"], description="Events to send.")
    active: StrictBool = True


class WebhookUpdate(BaseModel):
    """Changes to a hook (only the fields given change)."""

    url: Url | None = None
    secret: Secret | None = Field(None, description="A new secret (never shown again).")
    events: Events | None = None
    active: StrictBool | None = None


class WebhookRead(BaseModel):
    """A hook, without its secret."""

    id: uuid.UUID
    project: str
    repository: str | None = Field(description="None: every repository of the project.")
    url: str
    content_type: str
    events: list[str]
    active: bool
    has_secret: bool
    created_at: datetime
    secret: str | None = Field(
        None, description="Only in the answer that created the hook, and only if DevFlow made it."
    )


class AttemptRead(BaseModel):
    """One POST of a delivery."""

    number: int
    manual: bool
    started_at: datetime
    duration_ms: int
    request_headers: dict[str, Any]
    response_status: int | None
    response_headers: dict[str, Any] | None
    response_body: str | None
    error: str | None


class DeliveryRead(BaseModel):
    """A delivery: one event sent to one hook, whatever the attempts it took."""

    id: uuid.UUID = Field(description="X-GitHub-Delivery: the same in every attempt.")
    hook_id: uuid.UUID
    event: str
    action: str | None
    status: str = Field(description="pending, delivered or failed.")
    attempts: int
    created_at: datetime
    last_attempt_at: datetime | None
    response_status: int | None = Field(None, description="Of the last attempt.")


class DeliveryDetail(DeliveryRead):
    """A delivery with its request body and every attempt, oldest first."""

    request_body: str
    log: list[AttemptRead]


__all__ = [
    "EVENTS",
    "AttemptRead",
    "DeliveryDetail",
    "DeliveryRead",
    "WebhookCreate",
    "WebhookRead",
    "WebhookUpdate",
]
