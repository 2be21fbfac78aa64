"""Tables of webhooks: the hooks, one delivery per (hook, outgoing event), and each attempt.

A delivery's id is the `X-GitHub-Delivery` header: it stays the same across retries and manual
redeliveries, so a receiver can drop a copy it has already handled. The body is stored as the
exact bytes sent (and signed), so every attempt sends the same thing.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Identity, String, Text, UniqueConstraint, false
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from devflow.core import clock
from devflow.core.db import Base


class Webhook(Base):
    """A receiver of a project's events, or of one repository's (`repository_id`)."""

    __tablename__ = "repos_webhook"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    project_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), index=True
    )
    repository_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("repos_repository.id", ondelete="CASCADE"), index=True
    )
    url: Mapped[str] = mapped_column(String(2000))
    # The signing secret is sealed in the secrets store (`secrets.keep_internal`, owner
    # `repos.webhook:<id>`); this says whether there is one.
    has_secret: Mapped[bool] = mapped_column(default=False, server_default=false())
    # A secret stored in clear before migration 0024, until DevFlow seals it at its first touch
    # (`service.seal_legacy_secret`: at server start, or before a delivery signs with it).
    legacy_secret: Mapped[str | None] = mapped_column(String(255), default=None)
    content_type: Mapped[str] = mapped_column(String(16), default="json")
    events: Mapped[list[str]] = mapped_column(JSONB, default=list)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))


class WebhookDelivery(Base):
    """One event sent to one hook: its body, its state, and how many attempts it took."""

    __tablename__ = "repos_webhook_delivery"
    __table_args__ = (UniqueConstraint("hook_id", "event_id", "seq"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    hook_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("repos_webhook.id", ondelete="CASCADE"), index=True
    )
    # The DevFlow event it came from (None: a ping), and which of its outgoing events (a push
    # of two branches is two `push` deliveries).
    event_id: Mapped[int | None] = mapped_column(BigInteger)
    seq: Mapped[int] = mapped_column(default=0)
    event: Mapped[str] = mapped_column(String(50))
    action: Mapped[str | None] = mapped_column(String(50))
    body: Mapped[str] = mapped_column(Text)
    # pending (an attempt is queued or running), delivered (a 2xx), failed (no more attempts).
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    last_attempt_at: Mapped[datetime | None] = mapped_column(default=None)


class WebhookAttempt(Base):
    """One POST of a delivery: what was sent and what came back (the body cut short)."""

    __tablename__ = "repos_webhook_attempt"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    delivery_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("repos_webhook_delivery.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int]
    manual: Mapped[bool] = mapped_column(default=False)
    started_at: Mapped[datetime] = mapped_column(default=clock.now)
    duration_ms: Mapped[int] = mapped_column(default=0)
    request_headers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    response_status: Mapped[int | None] = mapped_column(default=None)
    response_headers: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    response_body: Mapped[str | None] = mapped_column(Text, default=None)
    error: Mapped[str | None] = mapped_column(String(2000), default=None)


__all__ = ["Webhook", "WebhookAttempt", "WebhookDelivery"]
