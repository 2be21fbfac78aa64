"""The key-encryption keys of one process: where they come from, the check against the
database at start, which one seals, rotation and re-encryption.

Keys come from `DEVFLOW_SECRETS__KEYS`, an `op://` reference (`key_reference`) or the key file
($DEVFLOW_HOME/secrets/keys, created with a first key on the first start of an empty instance).
The database knows each key id's check value and state, never a key (`EncryptionKey`):

- at start (`SecretKeys.ring`, called by the HTTP server before it serves and by anything that
  seals or opens) every key given must have the check value recorded for its id, and every key
  that still seals values must be given; otherwise `KeyringError` names the fix and nothing is
  decrypted or sealed;
- `active` seals new values, `standby` keys are known but unused, `retiring` ones still open old
  values while the re-encryption job moves those values to the active key, `retired` ones are
  used by nothing and may be removed from the source.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from devflow.core import clock
from devflow.core.config import Settings
from devflow.core.errors import Conflict, Invalid
from devflow.secrets.crypto import (
    Keyring,
    KeyringError,
    context_of,
    fingerprint,
    new_key,
    parse_keys,
)
from devflow.secrets.models import EncryptionKey, Secret, SecretVersion
from devflow.secrets.settings import SecretsSettings

if TYPE_CHECKING:
    from devflow.secrets.onepassword import Sealer

log = logging.getLogger(__name__)

REENCRYPT = "secrets.reencrypt"
"""The job that moves every value to the active key after a rotation."""
_LOCK = 0x5EC4E75  # advisory lock serialising key changes across processes
Resolve = Callable[[str], Awaitable[str]]


def key_file(settings: Settings) -> Path:
    """The key file's path (used when no keys are given in the environment or 1Password)."""
    configured = settings.section(SecretsSettings).key_file
    return Path(configured) if configured else settings.home / "secrets" / "keys"


def _write_private(path: Path, text_: str, *, replace: bool = True) -> bool:
    """Write `text_` to `path` atomically, readable by this user only. With `replace` false an
    existing file is kept (another process made it first): returns whether this one wrote."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text_)
        handle.flush()
        os.fsync(handle.fileno())
    if replace:
        temporary.replace(path)
        return True
    try:
        os.link(temporary, path)  # fails if the file appeared meanwhile: keep that one
    except FileExistsError:
        return False
    finally:
        temporary.unlink()
    return True


class SecretKeys:
    """The process's keys, loaded and checked once (`ring`), reloaded when the database names
    an active key this process has not seen (a rotation made elsewhere)."""

    def __init__(
        self,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        resolve_reference: Resolve | None = None,
    ) -> None:
        self._settings = settings
        self._sessions = sessions
        self._resolve_reference = resolve_reference
        self._ring: Keyring | None = None
        self._lock = asyncio.Lock()

    @property
    def source(self) -> str:
        """Where the keys come from, in words (for messages)."""
        secrets = self._settings.section(SecretsSettings)
        if secrets.keys is not None:
            return "DEVFLOW_SECRETS__KEYS"
        if secrets.key_reference:
            return f"the key reference {secrets.key_reference}"
        return f"the key file {key_file(self._settings)}"

    async def _given(self, *, create: bool) -> dict[str, bytes]:
        secrets = self._settings.section(SecretsSettings)
        if secrets.keys is not None:
            return parse_keys(secrets.keys.get_secret_value(), source=self.source)
        if secrets.key_reference:
            if self._resolve_reference is None:
                raise KeyringError("the key reference needs 1Password, which is not set up")
            try:
                return parse_keys(
                    await self._resolve_reference(secrets.key_reference), source=self.source
                )
            except KeyringError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure of 1Password stops the start
                raise KeyringError(f"{self.source} could not be read: {exc}") from None
        path = key_file(self._settings)
        if not path.exists():
            if not create:
                return {}
            key_id, encoded = new_key()
            text_ = f"# DevFlow's secrets keys: keep a copy somewhere safe\n{key_id}:{encoded}\n"
            if _write_private(path, text_, replace=False):
                log.info("created the secrets key file %s with key %s", path, key_id)
        return parse_keys(path.read_text(), source=self.source)

    def sealer(self) -> Sealer:
        """Sealing with the loaded keys, for caches that live outside the database (1Password's
        last-known-good values); refuses before the keys are loaded."""
        return _LoadedSealer(self)

    async def ring(self) -> Keyring:
        """Return the checked keys, loading and checking them on first use.

        Raises:
            KeyringError: see the module docstring.
        """
        if self._ring is None:
            async with self._lock:
                if self._ring is None:
                    self._ring = await self._load()
        return self._ring

    async def sealing_ring(self, session: AsyncSession) -> Keyring:
        """The keys with the database's active key sealing (a rotation elsewhere is seen at
        once: a key id this process lacks makes it read its source again)."""
        ring = await self.ring()
        active = await session.scalar(
            select(EncryptionKey.key_id).where(EncryptionKey.state == "active")
        )
        if active is None or active == ring.active:
            return ring
        if active not in ring.keys:
            async with self._lock:
                self._ring = None
            ring = await self.ring()
        return ring.with_active(active)

    async def _load(self) -> Keyring:
        async with self._sessions() as session, session.begin():
            await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK})
            return await self._load_in(session)

    async def _load_in(self, session: AsyncSession) -> Keyring:
        """Read the keys and check them against the database (the caller holds `_LOCK`)."""
        rows = {row.key_id: row for row in await session.scalars(select(EncryptionKey))}
        in_use = {k for k, row in rows.items() if row.state in ("active", "retiring")}
        given = await self._given(create=not in_use)
        if not given:
            raise KeyringError(
                f"no secrets keys were given and {len(in_use)} key(s) seal stored values; "
                f"restore {self.source} or set DEVFLOW_SECRETS__KEYS"
            )
        for key_id, key in given.items():
            row = rows.get(key_id)
            if row is not None and row.fingerprint != fingerprint(key):
                raise KeyringError(
                    f"key {key_id!r} from {self.source} is not the key that sealed the "
                    "stored values under that id (its check value differs); give the "
                    "original key"
                )
        for key_id in sorted(in_use - set(given)):
            sealed = await _count_sealed(session, key_id)
            if sealed:
                raise KeyringError(
                    f"key {key_id!r} seals {sealed} stored value(s) but is not in "
                    f"{self.source}; add it back (`ID:BASE64`)"
                )
            await _set_state(session, key_id, "retired")
            rows[key_id].state = "retired"
        now = clock.now()
        for key_id, key in given.items():
            if key_id not in rows:
                await session.execute(
                    insert(EncryptionKey)
                    .values(key_id=key_id, fingerprint=fingerprint(key), state="standby",
                            created_at=now)
                    .on_conflict_do_nothing()
                )  # fmt: skip
        active = next((k for k, r in rows.items() if r.state == "active"), None)
        if active is None:
            active = list(given)[-1]
            await session.execute(
                update(EncryptionKey)
                .where(EncryptionKey.key_id == active)
                .values(state="active", activated_at=now)
            )
        return Keyring(dict(given), active)

    async def rotate(self, session: AsyncSession, *, to: str | None = None) -> tuple[str, str]:
        """Make a new key active: `to` (a key already given, e.g. added to
        DEVFLOW_SECRETS__KEYS) or, with the key file, a new key written to it. The old active
        key becomes `retiring`. Returns (old, new) key ids; the caller queues re-encryption.

        Raises:
            Invalid: `to` is unknown, or no new key can be made (keys given elsewhere).
            Conflict: `to` is already active.
        """
        ring = await self.ring()  # before the lock: a first load takes it in its own session
        await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK})
        old = await session.scalar(
            select(EncryptionKey.key_id).where(EncryptionKey.state == "active")
        ) or ring.active  # fmt: skip
        secrets = self._settings.section(SecretsSettings)
        if to is None:
            if secrets.keys is not None or secrets.key_reference:
                raise Invalid(
                    f"the keys come from {self.source}: add a new key there (print one with "
                    "`devflow secrets new-key`), restart, then `devflow secrets rotate-key --to "
                    "ID`"
                )
            key_id, encoded = new_key()
            path = key_file(self._settings)
            _write_private(path, path.read_text().rstrip("\n") + f"\n{key_id}:{encoded}\n")
            to = key_id
        if to not in ring.keys:
            ring = self._ring = await self._load_in(session)
            if to not in ring.keys:
                raise Invalid(f"key {to!r} is not among the keys given ({self.source})")
        if to == old:
            raise Conflict(f"key {to!r} is already the active key")
        now = clock.now()
        await session.execute(
            insert(EncryptionKey)
            .values(key_id=to, fingerprint=fingerprint(ring.keys[to]), state="standby",
                    created_at=now)
            .on_conflict_do_nothing()
        )  # fmt: skip
        await _set_state(session, old, "retiring")
        await session.execute(
            update(EncryptionKey)
            .where(EncryptionKey.key_id == to)
            .values(state="active", activated_at=now, retired_at=None)
        )
        return old, to


class _LoadedSealer:
    def __init__(self, keys: SecretKeys) -> None:
        self._keys = keys

    def _ring(self) -> Keyring:
        ring = self._keys._ring  # noqa: SLF001 - the same module's class
        if ring is None:
            raise KeyringError("the secrets keys are not loaded yet")
        return ring

    def seal(self, plaintext: bytes, context: bytes) -> bytes:
        return self._ring().seal(plaintext, b"cache\x1f" + context)

    def open(self, sealed: bytes, context: bytes) -> bytes:
        return self._ring().open(sealed, b"cache\x1f" + context)


async def _count_sealed(session: AsyncSession, key_id: str) -> int:
    return int(
        await session.scalar(
            select(func.count()).select_from(SecretVersion).where(SecretVersion.key_id == key_id)
        )
        or 0
    )


async def _set_state(session: AsyncSession, key_id: str, state: str) -> None:
    values: dict[str, object] = {"state": state}
    if state == "retired":
        values["retired_at"] = clock.now()
    await session.execute(
        update(EncryptionKey).where(EncryptionKey.key_id == key_id).values(**values)
    )


def _others(active: str) -> Any:
    """The ids of the keys other than `active` (a subquery: `key_id IN (…)` uses the index,
    where `key_id != active` would scan every version)."""
    return select(EncryptionKey.key_id).where(EncryptionKey.key_id != active).scalar_subquery()


async def reencrypt_batch(session: AsyncSession, ring: Keyring, *, limit: int = 500) -> int:
    """Seal up to `limit` values that are not under the active key again under it (locked,
    skipping rows another worker holds). Returns how many moved."""
    rows = (
        await session.execute(
            select(SecretVersion, Secret)
            .join(Secret, Secret.id == SecretVersion.secret_id)
            .where(SecretVersion.key_id.in_(_others(ring.active)))
            .limit(limit)
            .with_for_update(of=SecretVersion, skip_locked=True)
        )
    ).all()
    for version, secret in rows:
        context = context_of(secret.tier, secret.scope, secret.environment, secret.name,
                             version.version)  # fmt: skip
        assert version.ciphertext is not None  # noqa: S101 - kind == value
        plain = ring.open(version.ciphertext, context)
        version.ciphertext = ring.seal(plain, context)
        version.key_id = ring.active
    await session.flush()
    return len(rows)


async def remaining(session: AsyncSession, active: str) -> int:
    """How many values are sealed under other keys than `active`."""
    return int(
        await session.scalar(
            select(func.count())
            .select_from(SecretVersion)
            .where(SecretVersion.key_id.in_(_others(active)))
        )
        or 0
    )


async def described(session: AsyncSession) -> list[tuple[EncryptionKey, int]]:
    """Every key DevFlow has used, oldest first, with how many stored values it seals."""
    counts = dict(
        (
            await session.execute(
                select(SecretVersion.key_id, func.count()).group_by(SecretVersion.key_id)
            )
        ).all()
    )
    rows = await session.scalars(select(EncryptionKey).order_by(EncryptionKey.created_at))
    return [(row, counts.get(row.key_id, 0)) for row in rows]


async def retire_unused(session: AsyncSession) -> list[str]:
    """Mark `retiring` keys that seal nothing any more `retired`; return their ids."""
    retired = []
    for key_id in await session.scalars(
        select(EncryptionKey.key_id).where(EncryptionKey.state == "retiring")
    ):
        if not await _count_sealed(session, key_id):
            await _set_state(session, key_id, "retired")
            retired.append(key_id)
    return retired


__all__ = [
    "REENCRYPT",
    "SecretKeys",
    "described",
    "key_file",
    "reencrypt_batch",
    "remaining",
    "retire_unused",
]
