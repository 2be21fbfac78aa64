"""Settings of webhook delivery (`DEVFLOW_REPOS__WEBHOOKS__…`)."""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network

from pydantic import BaseModel, Field


class WebhookSettings(BaseModel):
    """How webhooks are delivered: time limits, retries, and which addresses they may reach."""

    timeout_seconds: float = Field(
        10.0,
        gt=0,
        le=300,
        description="A receiver must answer within this many seconds (GitHub's limit is 10); "
        "a slower one counts as a failed attempt and is retried.",
    )
    max_attempts: int = Field(
        5,
        ge=1,
        le=50,
        description="Automatic attempts per delivery (the first included); a manual "
        "redelivery is one more.",
    )
    retry_base_seconds: float = Field(
        10.0,
        ge=0,
        description="Backoff before the second attempt; each later wait doubles, with jitter "
        "(a random half to all of it).",
    )
    retry_max_seconds: float = Field(
        3600.0, ge=0, description="The longest wait between two automatic attempts."
    )
    max_logged_bytes: int = Field(
        64 * 1024,
        ge=1024,
        description="A response body is kept in the delivery log up to this many bytes.",
    )
    keep_days: int = Field(
        30,
        ge=1,
        description="Deliveries (with their attempts' log) are deleted this many days after "
        "they were made, once no attempt of theirs is queued.",
    )
    allow_private_networks: bool = Field(
        False,
        description="Let webhooks reach private, loopback and link-local addresses (a "
        "receiver on the same machine or network). Off: such targets are refused.",
    )
    private_networks: list[IPv4Network | IPv6Network] = Field(
        default_factory=list,
        description='Private networks webhooks may reach, as CIDR (`["10.20.0.0/16"]`); '
        "other private addresses stay refused.",
    )


__all__ = ["WebhookSettings"]
