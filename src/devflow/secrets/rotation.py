"""Rotation: policies per secret, carried out by a periodic job (`tick`), each step an event.

- `devflow-token`: the secret holds a DevFlow API token. **issue**: a new token of the same user,
  scopes and project is minted and stored as the secret's new version (the old token stays valid
  for `overlap_seconds`); **verify**: the new token authenticates; **revoke**: when the overlap
  ends, the old token is revoked. Only the token's owner or an instance admin may set such a
  policy, so a rotation never mints a token for someone else than who could already.
- `manual`: nothing DevFlow can rotate (a provider key only its console issues): when due, a
  `secret.rotation.reminder` event (once a day until someone sets a new value).
- The key-encryption key: `secrets.key_rotation_days` (`tick_keys`).

Events: `secret.rotation.reminder|issued|verified|revoked|failed`, `secret.key.rotated`,
`secret.key.rotation_due`, each with the secret's name and scope, never a value. Setting a
value by hand restarts a policy's clock (`service.set_secret`).
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core import clock, events
from devflow.core.auth import Principal, ScopeDef
from devflow.core.errors import Invalid, NotFound, PermissionDenied, Unauthenticated
from devflow.core.events import Event
from devflow.core.jobs import defer
from devflow.identity import (
    Project,
    User,
    authenticate,
    issue_token,
    retire_token,
    token_expiry,
)
from devflow.secrets import audit
from devflow.secrets.keys import REENCRYPT
from devflow.secrets.models import EncryptionKey, RotationPolicy, Secret
from devflow.secrets.schemas import RotationRead, RotationWrite
from devflow.secrets.scopes import Where, check_name
from devflow.secrets.service import (
    Context,
    actor_fields,
    add_version,
    authorize,
    current,
    find,
    open_value,
)
from devflow.secrets.settings import SecretsSettings

log = logging.getLogger(__name__)

ROTATE = "secrets.rotate"
"""The periodic job that carries out due rotations and sends reminders."""
REMIND_EVERY = timedelta(days=1)


def _read(secret: Secret, policy: RotationPolicy) -> RotationRead:
    return RotationRead(
        name=secret.name, environment=secret.environment, rotator=policy.rotator,
        interval_seconds=policy.interval_seconds, overlap_seconds=policy.overlap_seconds,
        verify=policy.verify, revoke=policy.revoke, state=policy.state,
        next_due_at=policy.next_due_at, last_rotated_at=policy.last_rotated_at,
        revoke_after=policy.revoke_after, last_error=policy.last_error,
        reminded_at=policy.reminded_at,
    )  # fmt: skip


async def _secret(
    session: AsyncSession, ctx: Context, principal: Principal, where: Where, name: str,
    environment: str, action: str, *, write: bool,
) -> Secret:  # fmt: skip
    check_name(name)
    await authorize(ctx, principal, where, "write" if write else "list", audit_as=action,
                    name=name, environment=environment)  # fmt: skip
    secret = await find(session, where, environment, name)
    if secret is None:
        raise NotFound(f"no secret {name!r} in {where.label} ({environment})")
    return secret


async def _token_owner(session: AsyncSession, ctx: Context, secret: Secret) -> Principal:
    """The principal of the DevFlow token a secret holds (Invalid: it holds none)."""
    version = await current(session, secret)
    if version.kind != "value":
        raise Invalid(f"{secret.name!r} is a 1Password reference: 1Password rotates it")
    value = await open_value(ctx, secret, version)
    try:
        return await authenticate(session, token=value)
    except Unauthenticated:
        raise Invalid(
            f"{secret.name!r} does not hold a valid DevFlow API token, so the devflow-token "
            "rotator cannot rotate it (use the manual rotator for other credentials)"
        ) from None


async def set_policy(
    session: AsyncSession, ctx: Context, *, principal: Principal, where: Where, name: str,
    environment: str, data: RotationWrite,
) -> RotationRead:  # fmt: skip
    """Create or change a secret's rotation policy.

    Raises:
        NotFound: no such secret. Invalid: a token rotator on something not a token.
        PermissionDenied: not a writer here, or (tokens) neither the token's owner nor an admin.
    """
    secret = await _secret(session, ctx, principal, where, name, environment, "rotation.set",
                           write=True)  # fmt: skip
    if data.rotator == "devflow-token":
        owner = await _token_owner(session, ctx, secret)
        if owner.user_id != principal.user_id and not principal.is_instance_admin:
            raise PermissionDenied(
                f"{name!r} holds a token of {owner.username}: only they or an instance admin "
                "may have DevFlow rotate it"
            )
    policy = await session.get(RotationPolicy, secret.id, with_for_update=True)
    due = secret.updated_at + timedelta(seconds=data.interval_seconds)
    if policy is None:
        policy = RotationPolicy(secret_id=secret.id, next_due_at=due, state="idle")
        session.add(policy)
    elif policy.interval_seconds != data.interval_seconds:
        policy.next_due_at = (policy.last_rotated_at or secret.updated_at) + timedelta(
            seconds=data.interval_seconds
        )
    policy.rotator, policy.interval_seconds = data.rotator, data.interval_seconds
    policy.overlap_seconds, policy.verify, policy.revoke = (
        data.overlap_seconds, data.verify, data.revoke,
    )  # fmt: skip
    await session.flush()
    await audit.append(
        session, **actor_fields(principal), action="rotation.set", outcome="ok",
        scope=where.label, environment=environment, name=name,
        reason=f"{data.rotator} every {data.interval_seconds}s",
    )  # fmt: skip
    return _read(secret, policy)


async def get_policy(
    session: AsyncSession, ctx: Context, *, principal: Principal, where: Where, name: str,
    environment: str,
) -> RotationRead:  # fmt: skip
    """A secret's rotation policy (NotFound: none)."""
    secret = await _secret(session, ctx, principal, where, name, environment, "rotation.show",
                           write=False)  # fmt: skip
    policy = await session.get(RotationPolicy, secret.id)
    if policy is None:
        raise NotFound(f"{name!r} has no rotation policy (devflow secrets rotation set)")
    return _read(secret, policy)


async def delete_policy(
    session: AsyncSession, ctx: Context, *, principal: Principal, where: Where, name: str,
    environment: str,
) -> None:  # fmt: skip
    """Remove a secret's rotation policy."""
    secret = await _secret(session, ctx, principal, where, name, environment, "rotation.delete",
                           write=True)  # fmt: skip
    policy = await session.get(RotationPolicy, secret.id)
    if policy is None:
        raise NotFound(f"{name!r} has no rotation policy")
    await session.delete(policy)
    await session.flush()


async def rotate_now(
    session: AsyncSession, ctx: Context, *, principal: Principal, where: Where, name: str,
    environment: str,
) -> RotationRead:  # fmt: skip
    """Carry out a secret's rotation now (its issue and verify steps; revoke after overlap).

    Raises:
        NotFound: no secret or policy. Invalid: a manual policy (set a new value instead).
        Conflict-like Invalid: a rotation already waits for its revoke step.
    """
    secret = await _secret(session, ctx, principal, where, name, environment, "rotate",
                           write=True)  # fmt: skip
    policy = await session.get(RotationPolicy, secret.id, with_for_update=True)
    if policy is None:
        raise NotFound(f"{name!r} has no rotation policy (devflow secrets rotation set)")
    if policy.rotator == "manual":
        raise Invalid(f"{name!r} is rotated by hand: set its new value (devflow secrets set)")
    if policy.state in ("issued", "verified"):
        raise Invalid(
            f"{name!r} was rotated at {policy.last_rotated_at:%Y-%m-%d %H:%M} UTC and its old "
            f"value is revoked at {policy.revoke_after:%Y-%m-%d %H:%M} UTC; rotate after that"
        )
    await _issue(session, ctx, secret, policy, where, principal)
    return _read(secret, policy)


# -- the steps ------------------------------------------------------------------------------------


async def _event(
    session: AsyncSession, kind: str, where: Where, secret: Secret, **more: Any
) -> None:
    await events.emit(
        session,
        type=f"secret.rotation.{kind}",
        payload={"name": secret.name, "scope": where.label, "environment": secret.environment,
                 **more},
        project_id=where.project_id,
    )  # fmt: skip


async def _issue(
    session: AsyncSession, ctx: Context, secret: Secret, policy: RotationPolicy, where: Where,
    principal: Principal | None,
) -> None:  # fmt: skip
    owner = await _token_owner(session, ctx, secret)
    user = await session.get(User, owner.user_id)
    if user is None or owner.token_id is None:
        raise Invalid(f"the token in {secret.name!r} belongs to no user any more")
    now = clock.now()
    lifetime = None
    if await token_expiry(session, token_id=owner.token_id) is not None:
        lifetime = timedelta(seconds=policy.interval_seconds + policy.overlap_seconds)
    _, value = await issue_token(
        session, user=user, name=f"rotated {secret.name}"[:100],
        scopes=[ScopeDef(s, "") for s in sorted(owner.scopes)], project_id=owner.project_id,
        expires_in=lifetime,
    )  # fmt: skip
    version = await add_version(
        session, ctx, secret, plain=value.encode(), reference=None, note="rotation",
        principal=principal,
    )  # fmt: skip
    policy.previous, policy.state, policy.last_error = str(owner.token_id), "issued", None
    policy.last_rotated_at, policy.reminded_at = now, None
    policy.revoke_after = now + timedelta(seconds=policy.overlap_seconds)
    policy.next_due_at = now + timedelta(seconds=policy.interval_seconds)
    await audit.append(
        session, **actor_fields(principal), action="rotate", outcome="ok", scope=where.label,
        environment=secret.environment, name=secret.name, version=version.version,
        provider="store", reason="devflow-token: issued",
    )  # fmt: skip
    await _event(session, "issued", where, secret, version=version.version)
    if policy.verify:
        await authenticate(session, token=value)  # Unauthenticated: the step fails
        policy.state = "verified"
        await _event(session, "verified", where, secret, version=version.version)
    await session.flush()


async def _revoke(
    session: AsyncSession, secret: Secret, policy: RotationPolicy, where: Where
) -> None:
    if policy.revoke and policy.previous:
        revoked = await retire_token(session, token_id=uuid.UUID(policy.previous))
        await audit.append(
            session, **actor_fields(None), action="rotate",
            outcome="ok", scope=where.label, environment=secret.environment, name=secret.name,
            reason="devflow-token: old token revoked" if revoked else "old token already gone",
        )  # fmt: skip
        await _event(session, "revoked", where, secret)
    policy.state, policy.previous, policy.revoke_after = "idle", None, None
    await session.flush()


async def where_of(session: AsyncSession, secret: Secret) -> Where:
    """The scope of a stored secret, for events and audit records."""
    if secret.tier == "project" and secret.project_id is not None:
        project = await session.get(Project, secret.project_id)
        owner = project.name if project else str(secret.project_id)
        return Where("project", secret.scope, f"project:{owner}", project_id=secret.project_id,
                     owner=owner)  # fmt: skip
    if secret.tier == "user" and secret.user_id is not None:
        user = await session.get(User, secret.user_id)
        owner = user.username if user else str(secret.user_id)
        return Where("user", secret.scope, f"user:{owner}", user_id=secret.user_id, owner=owner)
    return Where("system", "system", "system")


async def tick(session: AsyncSession, ctx: Context, *, limit: int = 100) -> dict[str, int]:
    """Carry out what is due: issue (and verify) rotations, revoke old values after their
    overlap, remind of manual ones. A failing step marks its policy `failed` with the error
    and a `secret.rotation.failed` event; the others go on. Returns counts per step."""
    now = clock.now()
    done = {"issued": 0, "revoked": 0, "reminded": 0, "failed": 0}
    rows = (
        await session.execute(
            select(RotationPolicy, Secret)
            .join(Secret, Secret.id == RotationPolicy.secret_id)
            .where(
                or_(
                    (RotationPolicy.state.in_(("idle", "failed")))
                    & (RotationPolicy.next_due_at <= now),
                    (RotationPolicy.state.in_(("issued", "verified")))
                    & (RotationPolicy.revoke_after <= now),
                )
            )
            .order_by(RotationPolicy.next_due_at)
            .limit(limit)
            .with_for_update(of=RotationPolicy, skip_locked=True)
        )
    ).all()
    for policy, secret in rows:
        where = await where_of(session, secret)
        step = "revoked" if policy.state in ("issued", "verified") else (
            "reminded" if policy.rotator == "manual" else "issued"
        )  # fmt: skip
        if step == "reminded" and policy.reminded_at and now - policy.reminded_at < REMIND_EVERY:
            continue
        try:
            async with session.begin_nested():
                if step == "revoked":
                    await _revoke(session, secret, policy, where)
                elif step == "reminded":
                    policy.reminded_at = now
                    await _event(session, "reminder", where, secret,
                                 due_at=policy.next_due_at.isoformat())  # fmt: skip
                else:
                    await _issue(session, ctx, secret, policy, where, None)
            done[step] += 1
        except Exception as exc:  # noqa: BLE001 - one failing policy does not stop the others
            policy.state, policy.last_error = "failed", str(exc)[:1000]
            policy.next_due_at = now + timedelta(hours=1)  # try again in an hour
            await _event(session, "failed", where, secret, error=str(exc)[:500])
            await audit.append(
                session, **actor_fields(None), action="rotate",
                outcome="failed", scope=where.label, environment=secret.environment,
                name=secret.name, reason=str(exc)[:500],
            )  # fmt: skip
            done["failed"] += 1
    await session.flush()
    return done


async def tick_keys(session: AsyncSession, ctx: Context, conf: SecretsSettings) -> str | None:
    """Rotate the key-encryption key when it is `key_rotation_days` old (key file), or send a
    reminder (keys given elsewhere). Returns the new key id when it rotated."""
    if not conf.key_rotation_days:
        return None
    active = await session.scalar(select(EncryptionKey).where(EncryptionKey.state == "active"))
    now = clock.now()
    if active is None or (active.activated_at or active.created_at) > now - timedelta(
        days=conf.key_rotation_days
    ):
        return None
    if conf.keys is not None or conf.key_reference:
        reminded = await session.scalar(
            select(func.count())
            .select_from(Event)
            .where(Event.type == "secret.key.rotation_due", Event.created_at > now - REMIND_EVERY)
        )
        if reminded:
            return None
        await events.emit(session, type="secret.key.rotation_due",
                          payload={"key_id": active.key_id, "source": ctx.keys.source})  # fmt: skip
        return None
    old, new, _job = await rotate_key(session, ctx, principal=None, why="key_rotation_days")
    await events.emit(session, type="secret.key.rotated", payload={"old": old, "new": new})
    return new


async def rotate_key(
    session: AsyncSession, ctx: Context, *, principal: Principal | None, to: str | None = None,
    why: str = "",
) -> tuple[str, str, int]:  # fmt: skip
    """Make a new key-encryption key active (`keys.SecretKeys.rotate`), audited, and queue the
    re-encryption of every value under it. Returns the old and new key ids and the job's id."""
    old, new = await ctx.keys.rotate(session, to=to)
    await audit.append(
        session, **actor_fields(principal), action="key.rotate", outcome="ok", scope="system",
        reason=f"{old} -> {new}" + (f" ({why})" if why else ""),
    )  # fmt: skip
    job_id = await defer(session, task=REENCRYPT, args={}, queueing_lock=REENCRYPT)
    return old, new, job_id


__all__ = [
    "ROTATE",
    "delete_policy",
    "get_policy",
    "rotate_key",
    "rotate_now",
    "set_policy",
    "tick",
    "tick_keys",
]
