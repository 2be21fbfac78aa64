"""The store: secrets in a scope and environment, sealed, versioned, audited.

Every change writes a new immutable version (a rollback too), its audit record and its event in
the caller's transaction. A refusal is audited in a transaction of its own (`refuse`), so it is
on record although the request fails. Revealing a value is audited before the value leaves
(`audit_required`: no record, no value).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from devflow.core import clock, events
from devflow.core.auth import Principal
from devflow.core.db import unit_of_work
from devflow.core.errors import Conflict, Invalid, NotFound, PermissionDenied
from devflow.identity import User
from devflow.secrets import audit
from devflow.secrets.crypto import KeyringError, Tampered, context_of
from devflow.secrets.keys import SecretKeys
from devflow.secrets.models import RotationPolicy, Secret, SecretVersion
from devflow.secrets.onepassword import parse_reference
from devflow.secrets.schemas import SecretRead, SecretWrite, VersionRead
from devflow.secrets.scopes import Action, Where, check_name, require

log = logging.getLogger(__name__)

MAX_VALUE_BYTES = 64 * 1024
SYSTEM_ACTOR = "devflow"


@dataclass(frozen=True)
class Context:
    """What a store call needs besides its session: the keys, the sessions for audit records
    that must outlive a failing request, and whether reads need their record."""

    keys: SecretKeys
    sessions: async_sessionmaker[AsyncSession]
    audit_required: bool


def actor_fields(principal: Principal | None) -> dict[str, Any]:
    """The audit record's who."""
    if principal is None:
        return {"actor": SYSTEM_ACTOR, "actor_id": None, "token_id": None}
    return {
        "actor": principal.username,
        "actor_id": principal.user_id,
        "token_id": principal.token_id,
    }


async def refuse(
    ctx: Context,
    principal: Principal | None,
    where: Where,
    exc: Exception,
    *,
    action: str,
    name: str = "",
    environment: str = "",
) -> NoReturn:
    """Record a refused or failed access in the audit log (its own transaction), then raise."""
    outcome = "denied" if isinstance(exc, (PermissionDenied, NotFound)) else "failed"
    try:
        await audit.append_now(
            ctx.sessions, **actor_fields(principal), action=action, outcome=outcome,
            scope=where.label, environment=environment, name=name, reason=str(exc)[:500],
        )  # fmt: skip
    except Exception:
        log.exception("the audit record of a refused secret access could not be written")
    raise exc


async def authorize(
    ctx: Context, principal: Principal, where: Where, action: Action, *, audit_as: str,
    name: str = "", environment: str = "",
) -> None:  # fmt: skip
    """`scopes.require`, with a refusal audited."""
    try:
        require(principal, where, action)
    except (PermissionDenied, NotFound) as exc:
        await refuse(ctx, principal, where, exc, action=audit_as, name=name,
                     environment=environment)  # fmt: skip


def check_value(value: str) -> bytes:
    """Return the value's bytes, or raise Invalid saying what is wrong."""
    if value == "":
        raise Invalid(
            "the value is empty: to remove a secret, delete it", details={"field": "value"}
        )
    if "\x00" in value:
        raise Invalid(
            "the value holds a NUL character, which no environment variable can carry",
            details={"field": "value"},
        )
    data = value.encode("utf-8", "surrogatepass")
    if len(data) > MAX_VALUE_BYTES:
        raise Invalid(
            f"the value is {len(data)} bytes; a secret holds at most {MAX_VALUE_BYTES} "
            "(keep large files in the registry or a repository and store their key here)",
            details={"field": "value"},
        )
    return data


async def find(session: AsyncSession, where: Where, environment: str, name: str) -> Secret | None:
    """The secret `name` of `where` in `environment`, if any."""
    return await session.scalar(
        select(Secret).where(
            Secret.scope == where.key, Secret.environment == environment, Secret.name == name
        )
    )


async def current(session: AsyncSession, secret: Secret) -> SecretVersion:
    """The secret's current version."""
    version = await session.get(SecretVersion, (secret.id, secret.current_version))
    assert version is not None  # noqa: S101 - written with the secret
    return version


def read(
    secret: Secret, version: SecretVersion, where: Where, value: str | None = None
) -> SecretRead:
    """The API's view of a secret."""
    return SecretRead(
        name=secret.name, tier=where.tier, scope=where.label, environment=secret.environment,
        version=version.version, kind=version.kind,
        reference=version.reference, description=secret.description,
        created_at=secret.created_at, updated_at=secret.updated_at, value=value,
    )  # fmt: skip


async def add_version(
    session: AsyncSession,
    ctx: Context,
    secret: Secret,
    *,
    plain: bytes | None,
    reference: str | None,
    note: str,
    principal: Principal | None,
) -> SecretVersion:
    """Write the secret's next version and make it current. Versions only ever follow the
    current one, so its number is the current one's plus one, read under the secret's row lock
    (concurrent writers of one secret wait for each other)."""
    latest = await session.scalar(
        select(Secret.current_version).where(Secret.id == secret.id).with_for_update()
    )
    number = (latest or 0) + 1
    version = SecretVersion(
        secret_id=secret.id, version=number, note=note,
        created_by=principal.user_id if principal else None,
    )  # fmt: skip
    if reference is not None:
        version.kind, version.reference = "reference", reference
    else:
        assert plain is not None  # noqa: S101 - one of the two
        ring = await ctx.keys.sealing_ring(session)
        context = context_of(secret.tier, secret.scope, secret.environment, secret.name, number)
        version.kind, version.key_id = "value", ring.active
        version.ciphertext = ring.seal(plain, context)
    session.add(version)
    secret.current_version, secret.updated_at = number, clock.now()
    await session.flush()
    return version


async def _emit(
    session: AsyncSession, kind: str, where: Where, secret: Secret, principal: Principal | None
) -> None:
    await events.emit(
        session,
        type=f"secret.{kind}",
        payload={
            "name": secret.name, "scope": where.label, "environment": secret.environment,
            "version": secret.current_version,
        },
        project_id=where.project_id,
        actor_id=principal.user_id if principal else None,
    )  # fmt: skip


async def set_secret(
    session: AsyncSession,
    ctx: Context,
    *,
    principal: Principal | None,
    where: Where,
    name: str,
    environment: str,
    data: SecretWrite,
) -> SecretRead:
    """Create a secret or add a version to it (principal None: DevFlow itself).

    Raises:
        Invalid: a bad name, value or reference, or both or neither given.
        PermissionDenied, NotFound: not allowed (audited).
    """
    check_name(name)
    if principal is not None:
        await authorize(ctx, principal, where, "write", audit_as="write", name=name,
                        environment=environment)  # fmt: skip
    if (data.value is None) == (data.reference is None):
        raise Invalid("give either a value or a 1Password reference", details={"field": "value"})
    plain = check_value(data.value) if data.value is not None else None
    reference = None
    if data.reference is not None:
        parse_reference(data.reference)
        reference = data.reference
    secret = await find(session, where, environment, name)
    created = secret is None
    if secret is None:
        secret = Secret(
            tier=where.tier, scope=where.key, project_id=where.project_id, user_id=where.user_id,
            environment=environment, name=name, description=data.description or "",
            current_version=0, created_by=principal.user_id if principal else None,
        )  # fmt: skip
        session.add(secret)
        await session.flush()
    elif data.description is not None:
        secret.description = data.description
    version = await add_version(
        session, ctx, secret, plain=plain, reference=reference, note="set", principal=principal
    )
    # A value set by hand is a rotation: its policy's clock starts again.
    await session.execute(
        update(RotationPolicy)
        .where(RotationPolicy.secret_id == secret.id, RotationPolicy.state.in_(("idle", "failed")))
        .values(
            state="idle", last_error=None, reminded_at=None, last_rotated_at=clock.now(),
            next_due_at=clock.now() + func.make_interval(0, 0, 0, 0, 0, 0,
                                                         RotationPolicy.interval_seconds),
        )
    )  # fmt: skip
    await audit.append(
        session, **actor_fields(principal), action="write", outcome="ok", scope=where.label,
        environment=environment, name=name, version=version.version,
        provider="onepassword" if reference else "store",
        reason="created" if created else "new version",
    )  # fmt: skip
    await _emit(session, "created" if created else "updated", where, secret, principal)
    return read(secret, version, where)


async def open_value(ctx: Context, secret: Secret, version: SecretVersion) -> str:
    """The clear value of a stored `value` version.

    Raises:
        Invalid: it does not open (tampered or moved) — the caller audits it.
    """
    assert version.ciphertext is not None  # noqa: S101 - kind == value
    ring = await ctx.keys.ring()
    context = context_of(secret.tier, secret.scope, secret.environment, secret.name,
                         version.version)  # fmt: skip
    try:
        return ring.open(version.ciphertext, context).decode("utf-8", "surrogatepass")
    except Tampered as exc:
        raise Invalid(
            f"the stored value of {secret.name!r} version {version.version} does not open: "
            f"{exc}; it was changed outside DevFlow (restore it, or roll back to another version)"
        ) from None
    except KeyringError as exc:
        raise Invalid(str(exc)) from None


async def record_read(
    ctx: Context, principal: Principal | None, where: Where, *, name: str, environment: str,
    version: int | None, provider: str, reason: str,
) -> None:  # fmt: skip
    """Audit a value handed out (`record_reads` of one)."""
    await record_reads(ctx, principal, [(where, name, environment, version, provider, reason)])


async def record_reads(
    ctx: Context,
    principal: Principal | None,
    reads: Sequence[tuple[Where, str, str, int | None, str, str]],
) -> None:
    """Audit values handed out — each (where, name, environment, version, provider, reason) —
    in one transaction of their own; refuse when that fails and `audit_required`."""
    try:
        async with unit_of_work(ctx.sessions) as session:
            for where, name, environment, version, provider, reason in reads:
                await audit.append(
                    session, **actor_fields(principal), action="read", outcome="ok",
                    scope=where.label, environment=environment, name=name, version=version,
                    provider=provider, reason=reason,
                )  # fmt: skip
    except Exception as exc:
        if ctx.audit_required:
            raise Conflict(
                "the secret's read could not be audited, so its value is withheld "
                "(secrets.audit_required); check the database"
            ) from exc
        log.exception("a secret read could not be audited (secrets.audit_required is off)")


async def get_secret(
    session: AsyncSession,
    ctx: Context,
    *,
    principal: Principal,
    where: Where,
    name: str,
    environment: str,
    reveal: bool,
    reason: str = "",
) -> SecretRead:
    """A secret's metadata, with its value when `reveal` (stored values only: a reference is
    resolved through `resolution`).

    Raises:
        NotFound: no such secret. PermissionDenied: not allowed (audited).
        Invalid: its value does not open (audited as failed).
    """
    check_name(name)
    await authorize(ctx, principal, where, "reveal" if reveal else "list",
                    audit_as="read" if reveal else "show", name=name,
                    environment=environment)  # fmt: skip
    secret = await find(session, where, environment, name)
    if secret is None:
        exc = NotFound(f"no secret {name!r} in {where.label} ({environment})")
        if reveal:
            await refuse(ctx, principal, where, exc, action="read", name=name,
                         environment=environment)  # fmt: skip
        raise exc
    version = await current(session, secret)
    value = None
    if reveal and version.kind == "value":
        try:
            value = await open_value(ctx, secret, version)
        except Invalid as exc:
            await refuse(ctx, principal, where, exc, action="read", name=name,
                         environment=environment)  # fmt: skip
        await record_read(ctx, principal, where, name=name, environment=environment,
                          version=version.version, provider="store",
                          reason=reason or "revealed")  # fmt: skip
    return read(secret, version, where, value)


async def list_secrets(
    session: AsyncSession,
    ctx: Context,
    *,
    principal: Principal,
    where: Where,
    environment: str | None,
) -> list[SecretRead]:
    """The secrets of `where` (one environment, or all), names and metadata only."""
    await authorize(ctx, principal, where, "list", audit_as="list")
    query = select(Secret, SecretVersion).join(
        SecretVersion,
        (SecretVersion.secret_id == Secret.id)
        & (SecretVersion.version == Secret.current_version),
    ).where(Secret.scope == where.key)  # fmt: skip
    if environment is not None:
        query = query.where(Secret.environment == environment)
    rows = await session.execute(query.order_by(Secret.name, Secret.environment))
    return [read(secret, version, where) for secret, version in rows]


async def _existing(
    session: AsyncSession, ctx: Context, principal: Principal, where: Where, name: str,
    environment: str, action: str,
) -> Secret:  # fmt: skip
    check_name(name)
    await authorize(ctx, principal, where, "write", audit_as=action, name=name,
                    environment=environment)  # fmt: skip
    secret = await find(session, where, environment, name)
    if secret is None:
        raise NotFound(f"no secret {name!r} in {where.label} ({environment})")
    return secret


async def delete_secret(
    session: AsyncSession, ctx: Context, *, principal: Principal, where: Where, name: str,
    environment: str,
) -> None:  # fmt: skip
    """Delete a secret with every version (its audit records stay)."""
    secret = await _existing(session, ctx, principal, where, name, environment, "delete")
    await _emit(session, "deleted", where, secret, principal)
    await session.execute(delete(Secret).where(Secret.id == secret.id))
    await audit.append(
        session, **actor_fields(principal), action="delete", outcome="ok", scope=where.label,
        environment=environment, name=name, version=secret.current_version,
    )  # fmt: skip


async def history(
    session: AsyncSession, ctx: Context, *, principal: Principal, where: Where, name: str,
    environment: str,
) -> list[VersionRead]:  # fmt: skip
    """Every version of a secret, newest first (never values)."""
    check_name(name)
    await authorize(ctx, principal, where, "list", audit_as="history", name=name,
                    environment=environment)  # fmt: skip
    secret = await find(session, where, environment, name)
    if secret is None:
        raise NotFound(f"no secret {name!r} in {where.label} ({environment})")
    rows = await session.execute(
        select(SecretVersion, User.username)
        .outerjoin(User, User.id == SecretVersion.created_by)
        .where(SecretVersion.secret_id == secret.id)
        .order_by(SecretVersion.version.desc())
    )
    return [
        VersionRead(
            version=v.version,
            kind=v.kind,
            reference=v.reference,
            key_id=v.key_id,
            note=v.note,
            created_at=v.created_at,
            created_by=username,
            current=v.version == secret.current_version,
        )
        for v, username in rows
    ]


async def rollback(
    session: AsyncSession, ctx: Context, *, principal: Principal, where: Where, name: str,
    environment: str, version: int,
) -> SecretRead:  # fmt: skip
    """Make an old version's value current again, as a new version (history is kept).

    Raises:
        NotFound: no such secret or version. Conflict: it is the current one.
    """
    secret = await _existing(session, ctx, principal, where, name, environment, "rollback")
    await session.refresh(secret, with_for_update=True)
    old = await session.get(SecretVersion, (secret.id, version))
    if old is None:
        raise NotFound(f"{name!r} has no version {version} (see `devflow secrets history`)")
    if version == secret.current_version:
        raise Conflict(f"version {version} of {name!r} is already the current one")
    plain = None
    if old.kind == "value":
        try:
            plain = (await open_value(ctx, secret, old)).encode("utf-8", "surrogatepass")
        except Invalid as exc:
            await refuse(ctx, principal, where, exc, action="rollback", name=name,
                         environment=environment)  # fmt: skip
    new = await add_version(
        session, ctx, secret, plain=plain, reference=old.reference,
        note=f"rollback to {version}", principal=principal,
    )  # fmt: skip
    await audit.append(
        session, **actor_fields(principal), action="rollback", outcome="ok", scope=where.label,
        environment=environment, name=name, version=new.version, reason=f"to version {version}",
    )  # fmt: skip
    await _emit(session, "updated", where, secret, principal)
    return read(secret, new, where)
