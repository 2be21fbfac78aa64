"""Settings of imports and pull mirrors (`DEVFLOW_REPOS__MIRRORS__…`)."""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network

from pydantic import BaseModel, Field


class MirrorSettings(BaseModel):
    """Which sources an import or a pull mirror may reach, and how long a fetch may take."""

    allow_private_networks: bool = Field(
        False,
        description="Let imports and mirrors fetch from private, loopback and link-local "
        "addresses (a git server on the same machine or network). Off: such URLs are refused.",
    )
    private_networks: list[IPv4Network | IPv6Network] = Field(
        default_factory=list,
        description="Private networks imports and mirrors may reach, as CIDR "
        '(`["10.20.0.0/16"]`); other private addresses stay refused.',
    )
    timeout_seconds: float = Field(
        3600.0, gt=0, description="The longest one clone or mirror fetch may run."
    )
    min_interval_seconds: int = Field(
        600, ge=60, description="The shortest interval a pull mirror may be fetched at."
    )


__all__ = ["MirrorSettings"]
