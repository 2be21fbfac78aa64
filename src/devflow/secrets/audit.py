"""The append-only, hash-chained log of every access to a secret (`secrets_audit`).

Each row's `hash` is the SHA-256 of a canonical encoding of the row (`canonical`: every column but
`seq` and `hash`, `prev_hash` included), and `prev_hash` is the `hash` of the row before it (64
zeros for the first). Changing a row breaks its own hash; removing or inserting one breaks the
next row's link. A trigger refuses UPDATE and DELETE; the chain is what still catches a superuser
who turned the trigger off. Removing rows at the end of the log cannot be seen from the chain
alone: `VerifyReport.last_hash`, written down elsewhere, anchors the end.

Appends are serialised by a transaction-level advisory lock (`AUDIT_LOCK`) held from the read of
the last hash until the caller's transaction ends, so two appends never chain onto the same row
and `seq` order is chain order. The lock is held until commit, so append at the end of a
transaction, and under READ COMMITTED (the default): under REPEATABLE READ the read of the last
hash would use a snapshot taken before the lock was granted. Identity values are spent by rolled
back transactions, so `seq` has gaps; only the links matter.

Values of secrets are never written here: the columns hold who, what, where and the outcome.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, NotRequired, TypedDict, Unpack

from sqlalchemy import Row, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from devflow.core import clock
from devflow.core.logging import request_id_var
from devflow.secrets.models import AuditEntry

AUDIT_LOCK = 373_700_021
"""Key of the advisory lock that serialises appends (the 3737000xx family of DevFlow's locks)."""

GENESIS = "0" * 64
"""`prev_hash` of the first row."""

FORMAT_VERSION = 1
"""Hashed with every row (`"v"`), so a later change of the encoding can be told apart."""

_TABLE = AuditEntry.__table__
_TEXT_FIELDS = (
    "actor",
    "action",
    "outcome",
    "scope",
    "environment",
    "name",
    "provider",
    "reason",
    "request_id",
)
# C0/C1 controls, DEL, and the bidirectional overrides and isolates that make a log line read
# differently from what it holds ("Trojan Source").
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_BATCH = 2000
_MAX_LIMIT = 1000


class AuditFields(TypedDict):
    """The keyword arguments of `append`, for `append_now`."""

    actor: str
    actor_id: uuid.UUID | None
    token_id: uuid.UUID | None
    action: str
    outcome: str
    scope: NotRequired[str]
    environment: NotRequired[str]
    name: NotRequired[str]
    version: NotRequired[int | None]
    provider: NotRequired[str]
    reason: NotRequired[str]
    request_id: NotRequired[str | None]


@dataclass(frozen=True)
class ChainBreak:
    """The first row where the chain does not hold.

    `problem` is `hash` when the row itself was changed (`expected` is the hash its columns give,
    `found` the stored one), or `prev_hash` when a row before it was removed or one was inserted
    (`expected` is the previous row's hash, `found` the row's `prev_hash`).
    """

    seq: int
    problem: Literal["hash", "prev_hash"]
    expected: str
    found: str


@dataclass(frozen=True)
class VerifyReport:
    """The outcome of `verify`: `checked` rows, up to and including a break when there is one."""

    ok: bool
    checked: int
    last_seq: int | None
    """The last row whose links held; with `last_hash`, the anchor to record elsewhere."""
    last_hash: str
    broken: ChainBreak | None = None


def clean(value: str, limit: int) -> str:
    """Return `value` without control characters, cut to `limit` characters."""
    # Lone surrogates cannot be stored as UTF-8; they become U+FFFD.
    value = value.encode("utf-8", "replace").decode("utf-8")
    return _CONTROL.sub("", value)[:limit]


def _length(column: str) -> int:
    length = getattr(_TABLE.c[column].type, "length", None)
    if not isinstance(length, int):
        msg = f"secrets_audit.{column} has no length"
        raise TypeError(msg)
    return length


_LIMITS = {column: _length(column) for column in _TEXT_FIELDS}


def _timestamp(at: datetime) -> str:
    if at.tzinfo is None:  # stored as timestamptz, so only a caller's naive value gets here
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(fields: dict[str, Any]) -> bytes:
    """Return the bytes a row's `hash` is computed over.

    JSON with sorted keys, no spaces and ASCII escapes; the time as ISO-8601 UTC with
    microseconds, UUIDs in their hyphenated lower-case form, absent values as `null`.
    """
    document: dict[str, Any] = {name: fields[name] for name in _TEXT_FIELDS}
    document["v"] = FORMAT_VERSION
    document["at"] = _timestamp(fields["at"])
    for name in ("actor_id", "token_id"):
        value = fields[name]
        document[name] = None if value is None else str(value)
    document["version"] = fields["version"]
    document["prev_hash"] = fields["prev_hash"]
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def row_hash(fields: dict[str, Any]) -> str:
    """Return the hex SHA-256 of `canonical(fields)`."""
    return hashlib.sha256(canonical(fields)).hexdigest()


async def append(
    session: AsyncSession,
    *,
    actor: str,
    actor_id: uuid.UUID | None,
    token_id: uuid.UUID | None,
    action: str,
    outcome: str,
    scope: str = "",
    environment: str = "",
    name: str = "",
    version: int | None = None,
    provider: str = "",
    reason: str = "",
    request_id: str | None = None,
) -> AuditEntry:
    """Append one entry to the chain in the caller's transaction and flush it.

    Text is cut to its column's size and stripped of control characters, never refused.
    `request_id` defaults to the current request's. The caller commits; see the module docstring
    on the lock this holds until then.
    """
    if request_id is None:
        request_id = request_id_var.get() or ""
    texts = {
        "actor": actor,
        "action": action,
        "outcome": outcome,
        "scope": scope,
        "environment": environment,
        "name": name,
        "provider": provider,
        "reason": reason,
        "request_id": request_id,
    }
    fields: dict[str, Any] = {key: clean(value, _LIMITS[key]) for key, value in texts.items()}
    await session.execute(select(func.pg_advisory_xact_lock(AUDIT_LOCK)))
    last = await session.scalar(select(AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1))
    # Taken under the lock, so times follow the chain's order.
    fields.update(
        at=clock.now(),
        actor_id=actor_id,
        token_id=token_id,
        version=version,
        prev_hash=last or GENESIS,
    )
    entry = AuditEntry(**fields, hash=row_hash(fields))
    session.add(entry)
    await session.flush()
    return entry


async def append_now(
    sessions: async_sessionmaker[AsyncSession], **fields: Unpack[AuditFields]
) -> AuditEntry:
    """Append one entry in a transaction of its own and commit it.

    For what must be recorded even when the caller's work is rolled back: a denied or failed
    access, or a read that writes nothing else. Never call it while the caller's own transaction
    has appended: that transaction holds the lock this one waits for, until it ends.
    """
    async with sessions() as session, session.begin():
        return await append(session, **fields)


def _fields(row: Row[Any]) -> dict[str, Any]:
    return dict(row._mapping)  # noqa: SLF001 - the public way to read a Row by column name


async def verify(
    session: AsyncSession,
    *,
    progress: Callable[[int, int], None] | None = None,
    batch_size: int = _BATCH,
) -> VerifyReport:
    """Recompute the whole chain in `seq` order, `batch_size` rows at a time.

    Stops at the first break. `progress(checked, total)` is called after each batch; `total` is
    counted once at the start, so rows appended meanwhile can make `checked` pass it.
    """
    total = 0
    if progress is not None:
        total = await session.scalar(select(func.count()).select_from(_TABLE)) or 0
    expected_prev = GENESIS
    last_seq: int | None = None
    checked = 0
    while True:
        query = select(_TABLE).order_by(_TABLE.c.seq).limit(batch_size)
        if last_seq is not None:
            query = query.where(_TABLE.c.seq > last_seq)
        rows: Sequence[Row[Any]] = (await session.execute(query)).all()
        for row in rows:
            checked += 1
            fields = _fields(row)
            broken = _check(fields, expected_prev)
            if broken is not None:
                return VerifyReport(False, checked, last_seq, expected_prev, broken)
            expected_prev = fields["hash"]
            last_seq = fields["seq"]
        if progress is not None:
            progress(checked, total)
        if len(rows) < batch_size:
            return VerifyReport(True, checked, last_seq, expected_prev)


def _check(fields: dict[str, Any], expected_prev: str) -> ChainBreak | None:
    # The link first: a row that was inserted or whose predecessor was removed also fails its own
    # hash when its prev_hash was forged, and "the link" is the better account of what happened.
    if fields["prev_hash"] != expected_prev:
        return ChainBreak(fields["seq"], "prev_hash", expected_prev, fields["prev_hash"])
    computed = row_hash(fields)
    if computed != fields["hash"]:
        return ChainBreak(fields["seq"], "hash", computed, fields["hash"])
    return None


async def list_entries(
    session: AsyncSession,
    *,
    name: str | None = None,
    action: str | None = None,
    actor: str | None = None,
    scope: str | None = None,
    before_seq: int | None = None,
    limit: int = 100,
) -> list[AuditEntry]:
    """Return entries newest first, filtered by exact values; page on with `before_seq`.

    `limit` is held between 1 and 1000.
    """
    query = select(AuditEntry).order_by(AuditEntry.seq.desc())
    filters = {"name": name, "action": action, "actor": actor, "scope": scope}
    for column, value in filters.items():
        if value is not None:
            query = query.where(_TABLE.c[column] == value)
    if before_seq is not None:
        query = query.where(AuditEntry.seq < before_seq)
    query = query.limit(max(1, min(limit, _MAX_LIMIT)))
    return list(await session.scalars(query))


__all__ = [
    "AUDIT_LOCK",
    "GENESIS",
    "AuditFields",
    "ChainBreak",
    "VerifyReport",
    "append",
    "append_now",
    "canonical",
    "list_entries",
    "row_hash",
    "verify",
]
