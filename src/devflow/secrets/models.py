"""Tables of the secrets domain.

A `Secret` is one name in one scope (the system, a user, a project) and one environment; its
values are `SecretVersion` rows, never changed once written (a rollback writes a new version
holding an old value). A version holds either an AES-GCM ciphertext (`crypto`) with the id of the
key that sealed it, or a 1Password reference (`op://…`, not secret itself) resolved on use.
`EncryptionKey` lists the key ids in use and a check value of each key, never a key: the keys
come from the environment, a file or 1Password (`settings.SecretsSettings`). `AuditEntry` is the
append-only, hash-chained log of every access (`audit`).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Identity,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from devflow.core import clock
from devflow.core.db import Base


class Secret(Base):
    """A named secret in one scope and environment; `current_version` is the one resolved."""

    __tablename__ = "secrets_secret"
    __table_args__ = (UniqueConstraint("scope", "environment", "name"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tier: Mapped[str] = mapped_column(String(8))
    """`system`, `user` or `project`."""
    scope: Mapped[str] = mapped_column(String(64))
    """`system`, `user:<user id>` or `project:<project id>`: the unique key's first part."""
    project_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), index=True, default=None
    )
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user.id", ondelete="CASCADE"), index=True, default=None
    )
    environment: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(String(500), default="")
    current_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user.id", ondelete="SET NULL"), default=None
    )


class SecretVersion(Base):
    """One value of a secret: a ciphertext sealed by key `key_id`, or a 1Password reference."""

    __tablename__ = "secrets_version"

    secret_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("secrets_secret.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(12))
    """`value` (sealed in `ciphertext`) or `reference` (`reference` is an `op://` address)."""
    ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    key_id: Mapped[str | None] = mapped_column(String(64), index=True, default=None)
    reference: Mapped[str | None] = mapped_column(String(1000), default=None)
    note: Mapped[str] = mapped_column(String(200), default="")
    """Why it was written: `set`, `rollback to 3`, `rotation` …"""
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user.id", ondelete="SET NULL"), default=None
    )


class EncryptionKey(Base):
    """A key-encryption key DevFlow has used: its id, a check value and its state.

    The check value (`crypto.fingerprint`) lets a process tell at start that the key it was given
    under this id is the one that sealed the stored values, without holding the key here.
    """

    __tablename__ = "secrets_key"

    key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(12))
    """`active` (seals new values; one at a time), `retiring` (still opens old values) or
    `retired` (nothing uses it any more)."""
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    activated_at: Mapped[datetime | None] = mapped_column(default=None)
    retired_at: Mapped[datetime | None] = mapped_column(default=None)


class AuditEntry(Base):
    """One access to a secret, in an append-only chain: `hash` covers the row and `prev_hash`.

    Never holds a value. Rows are only inserted (`audit.append`), one at a time under an advisory
    lock, so `seq` order is chain order; `audit.verify` recomputes the chain.
    """

    __tablename__ = "secrets_audit"

    seq: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    at: Mapped[datetime] = mapped_column(default=clock.now, index=True)
    actor: Mapped[str] = mapped_column(String(200))
    """The user name, or `devflow` for the system's own use (settings, jobs)."""
    actor_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    token_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    action: Mapped[str] = mapped_column(String(32), index=True)
    outcome: Mapped[str] = mapped_column(String(16))
    """`ok`, `denied` (permissions), `failed` (not found, tampered, provider down …)."""
    scope: Mapped[str] = mapped_column(String(200), default="")
    """Human-readable: `system`, `user:alice`, `project:web`."""
    environment: Mapped[str] = mapped_column(String(32), default="")
    name: Mapped[str] = mapped_column(String(200), default="", index=True)
    version: Mapped[int | None] = mapped_column(Integer, default=None)
    provider: Mapped[str] = mapped_column(String(32), default="")
    reason: Mapped[str] = mapped_column(String(500), default="")
    request_id: Mapped[str] = mapped_column(String(100), default="")
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class RotationPolicy(Base):
    """How and when one secret is rotated (`rotation`): by a rotator, or by hand after a
    reminder. `state` follows the current rotation: `idle`, `issued` (a new version exists, the
    old one still valid for `overlap_seconds`), `verified`, `failed`."""

    __tablename__ = "secrets_rotation"

    secret_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("secrets_secret.id", ondelete="CASCADE"), primary_key=True
    )
    rotator: Mapped[str] = mapped_column(String(32))
    """`manual` (a reminder only), `devflow-token` …"""
    interval_seconds: Mapped[int] = mapped_column(Integer)
    overlap_seconds: Mapped[int] = mapped_column(Integer, default=0)
    verify: Mapped[bool] = mapped_column(default=True)
    revoke: Mapped[bool] = mapped_column(default=True)
    next_due_at: Mapped[datetime] = mapped_column(index=True)
    last_rotated_at: Mapped[datetime | None] = mapped_column(default=None)
    state: Mapped[str] = mapped_column(String(12), default="idle")
    revoke_after: Mapped[datetime | None] = mapped_column(default=None)
    """When the previous value is revoked (the end of the overlap window)."""
    previous: Mapped[str | None] = mapped_column(String(200), default=None)
    """What the rotator must revoke when the overlap ends (a token id …), never a value."""
    last_error: Mapped[str | None] = mapped_column(String(1000), default=None)
    reminded_at: Mapped[datetime | None] = mapped_column(default=None)


__all__ = ["AuditEntry", "EncryptionKey", "RotationPolicy", "Secret", "SecretVersion"]
