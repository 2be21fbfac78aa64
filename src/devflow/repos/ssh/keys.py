"""Users' SSH keys: parsed and fingerprinted by asyncssh, managed by their owner (or an
instance admin), and turned into the Principal an SSH connection acts as.

A key authenticates its user with the `read` and `write` scopes, like a token of that user with
the default scopes not restricted to a project: so adding one needs a token with `write` that is
not restricted to a project (anything narrower would widen its own powers through a key).
"""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core import clock
from devflow.core.auth import Principal, Scope
from devflow.core.errors import Conflict, Invalid, NotFound, PermissionDenied
from devflow.identity import User, principal_for_user
from devflow.repos.ssh.models import SshKey

MAX_KEY_CHARS = 16 * 1024
MAX_KEYS_PER_USER = 100
_MIN_RSA_BITS = 2048
# OpenSSH's names of the key types DevFlow accepts (no DSA: OpenSSH itself dropped it).
SUPPORTED = (
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-rsa",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
)
KEY_SCOPES = frozenset({Scope.READ.value, Scope.WRITE.value})


def parse_key(text: str) -> tuple[str, str, str, str]:
    """Parse one public key in OpenSSH's one-line form (`ssh-ed25519 AAAA… comment`).

    Returns:
        (type, the key without its comment, SHA256 fingerprint, its comment)

    Raises:
        Invalid: not one public key, a private key, or a type DevFlow does not accept.
    """
    import asyncssh

    text = text.strip()
    if not text:
        raise Invalid("the key is empty: give the contents of a public key file (~/.ssh/*.pub)")
    if len(text) > MAX_KEY_CHARS:
        raise Invalid(f"the key is over {MAX_KEY_CHARS} characters: give one public key")
    if "PRIVATE KEY" in text:
        raise Invalid("this is a private key: give the public one (the .pub file), never this")
    if "\n" in text or "\r" in text or "\x00" in text:
        raise Invalid("give one public key on one line (the contents of one .pub file)")
    kind = text.split(" ", 1)[0]
    if kind not in SUPPORTED:
        raise Invalid(f"unsupported key type {kind[:40]!r}; DevFlow accepts {', '.join(SUPPORTED)}")
    try:
        key = asyncssh.import_public_key(text)
    except Exception as exc:  # noqa: BLE001 - a hostile blob fails in many ways, all "invalid"
        raise Invalid(f"this is not a valid {kind} public key: {str(exc)[:200]}") from None
    if key.get_algorithm() != kind:
        raise Invalid(f"this key says {kind} but holds a {key.get_algorithm()[:40]} key")
    bits = getattr(key.pyca_key, "key_size", 0)
    if kind == "ssh-rsa" and bits < _MIN_RSA_BITS:
        raise Invalid(f"RSA keys need at least {_MIN_RSA_BITS} bits; this one has fewer")
    comment = key.get_comment() or ""
    key.set_comment(None)
    line = key.export_public_key("openssh").decode().strip()
    return kind, line, key.get_fingerprint("sha256"), comment


async def _owner(session: AsyncSession, principal: Principal, username: str) -> User:
    """The user whose keys `username` names ("me": the caller); only an instance admin may
    name another."""
    if username in {"me", principal.username}:
        user = await session.get(User, principal.user_id)
        if user is None:
            raise NotFound("no such user")
        return user
    if not principal.is_instance_admin:
        raise PermissionDenied(
            "you may manage your own SSH keys only (/api/v1/users/me/keys); "
            "an instance admin may manage anyone's"
        )
    found = await session.scalar(
        select(User).where(func.lower(User.username) == username[:64].lower())
    )
    if found is None:
        raise NotFound(f"no user {username[:64]!r}")
    return found


async def list_keys(session: AsyncSession, *, principal: Principal, username: str) -> list[SshKey]:
    """List a user's keys, oldest first."""
    principal.require_scope(Scope.READ)
    user = await _owner(session, principal, username)
    rows = await session.scalars(
        select(SshKey).where(SshKey.user_id == user.id).order_by(SshKey.created_at, SshKey.id)
    )
    return list(rows)


async def add_key(
    session: AsyncSession, *, principal: Principal, username: str, key: str, title: str | None
) -> SshKey:
    """Add a public key to a user.

    Raises:
        Invalid: not a valid or supported public key; too many keys.
        Conflict: the key is already added (to this user or another).
        PermissionDenied: a token without `write`, or restricted to a project.
    """
    principal.require_scope(Scope.WRITE)
    if principal.project_id is not None:
        raise PermissionDenied(
            "a token restricted to a project may not add SSH keys: a key reaches every project "
            "its user belongs to"
        )
    user = await _owner(session, principal, username)
    kind, line, fingerprint, comment = parse_key(key)
    count = await session.scalar(select(func.count()).where(SshKey.user_id == user.id))
    if (count or 0) >= MAX_KEYS_PER_USER:
        raise Invalid(f"a user may have {MAX_KEYS_PER_USER} SSH keys at most; remove one first")
    if await session.scalar(select(SshKey.id).where(SshKey.fingerprint == fingerprint)):
        raise Conflict(f"the key {fingerprint} is already added (to you or another user)")
    row = SshKey(
        user_id=user.id,
        title=(title or comment or kind).strip()[:100] or kind,
        key_type=kind,
        public_key=line,
        fingerprint=fingerprint,
        created_at=clock.now(),
    )
    session.add(row)
    await session.flush()
    return row


async def remove_key(
    session: AsyncSession, *, principal: Principal, username: str, key_id: uuid.UUID
) -> SshKey:
    """Remove one of a user's keys.

    Raises:
        NotFound: no such key of that user.
    """
    principal.require_scope(Scope.WRITE)
    user = await _owner(session, principal, username)
    row = await session.get(SshKey, key_id)
    if row is None or row.user_id != user.id:
        raise NotFound(f"no SSH key {key_id} of {user.username}")
    await session.delete(row)
    await session.flush()
    return row


async def principal_for_key(session: AsyncSession, *, fingerprint: str) -> Principal | None:
    """Return the Principal a key authenticates (None: unknown key or disabled user), and note
    when the key was last used."""
    found = (
        await session.execute(
            select(SshKey, User)
            .join(User, User.id == SshKey.user_id)
            .where(SshKey.fingerprint == fingerprint)
        )
    ).first()
    if found is None:
        return None
    key, user = found
    principal = await principal_for_user(session, user_id=user.id, scopes=KEY_SCOPES)
    if principal is not None:
        key.last_used_at = clock.now()
    return principal


__all__ = ["add_key", "list_keys", "parse_key", "principal_for_key", "remove_key"]
