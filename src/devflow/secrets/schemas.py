"""Shapes of the secrets API: values only where asked for (`reveal`), never in listings."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

Tier = Literal["system", "user", "project"]


class SecretWrite(BaseModel):
    """A new value, or a 1Password reference resolved on use (exactly one of the two)."""

    value: str | None = Field(
        None, description="The secret's value (UTF-8 text, no NUL, at most 64 KiB)."
    )
    reference: str | None = Field(
        None, description="A 1Password reference `op://vault/item[/section]/field` instead."
    )
    environment: str | None = Field(
        None, description="development, staging, production or your own (default: the setting)."
    )
    description: str | None = Field(None, max_length=500, description="What it is for.")


class SecretRead(BaseModel):
    """A secret's metadata; `value` only when the caller asked to reveal it."""

    name: str
    tier: Tier
    scope: str = Field(description="`system`, `user:<name>` or `project:<name>`.")
    environment: str
    version: int
    kind: Literal["value", "reference"]
    reference: str | None = None
    description: str = ""
    created_at: datetime
    updated_at: datetime
    value: str | None = None


class VersionRead(BaseModel):
    """One version of a secret (never its value)."""

    version: int
    kind: Literal["value", "reference"]
    reference: str | None = None
    key_id: str | None = None
    note: str
    created_at: datetime
    created_by: str | None = None
    current: bool


class RollbackCreate(BaseModel):
    """Which version's value becomes current again (as a new version)."""

    version: int = Field(ge=1, le=2**31 - 1)
    environment: str | None = None


class Resolved(BaseModel):
    """A resolved secret with where it came from."""

    name: str
    tier: Tier
    provider: Literal["onepassword", "dotenv", "environment", "store"]
    environment: str
    version: int | None = None
    reference: str | None = None
    stale: bool = Field(False, description="1Password was unreachable: a last-known-good value.")
    value: str | None = None


class ResolveRequest(BaseModel):
    """Names to resolve for a project (and the caller), in one environment."""

    names: list[str] = Field(default_factory=list, max_length=500,
                             description="Empty: every name the caller may read.")  # fmt: skip
    project: str | None = None
    environment: str | None = None
    reveal: bool = Field(False, description="Return the values (else provenance only).")


class KeyRead(BaseModel):
    """A key-encryption key's id and state (never the key)."""

    key_id: str
    state: str
    fingerprint: str
    sealed: int = Field(description="How many stored values it seals.")
    created_at: datetime
    activated_at: datetime | None = None
    retired_at: datetime | None = None


class RotateKeyCreate(BaseModel):
    """Rotate to a key already given (`to`) or, with the key file, to a new one."""

    to: str | None = Field(None, max_length=64)


class RotateKeyRead(BaseModel):
    """The rotation started: the keys and the re-encryption job."""

    old: str
    new: str
    job_id: int
    remaining: int


class AuditRead(BaseModel):
    """One audit record (never a value)."""

    seq: int
    at: datetime
    actor: str
    action: str
    outcome: str
    scope: str
    environment: str
    name: str
    version: int | None
    provider: str
    reason: str
    request_id: str
    hash: str


class AuditVerifyRead(BaseModel):
    """The result of checking the audit chain."""

    ok: bool
    checked: int
    broken_at: int | None = None
    problem: str | None = None


class RotationWrite(BaseModel):
    """A rotation policy: who rotates (`rotator`), how often, how long the old value stays
    valid, and whether the new value is checked and the old one revoked."""

    rotator: Literal["manual", "devflow-token"] = Field(
        description="`devflow-token`: DevFlow mints a new API token of the same user, scopes and "
        "project and revokes the old one after the overlap; `manual`: a reminder event when due."
    )
    interval_seconds: int = Field(ge=60, le=10 * 365 * 86400, description="Rotate this often.")
    overlap_seconds: int = Field(
        3600, ge=0, le=30 * 86400, description="How long the old value stays valid."
    )
    verify: bool = Field(True, description="Check the new value works before relying on it.")
    revoke: bool = Field(True, description="Revoke the old value when the overlap ends.")
    environment: str | None = None


class RotationRead(BaseModel):
    """A secret's rotation policy and where its current rotation stands."""

    name: str
    environment: str
    rotator: str
    interval_seconds: int
    overlap_seconds: int
    verify: bool
    revoke: bool
    state: str
    next_due_at: datetime
    last_rotated_at: datetime | None = None
    revoke_after: datetime | None = None
    last_error: str | None = None
    reminded_at: datetime | None = None
