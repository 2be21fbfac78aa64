"""`OnePassword`: resolves `op://` references with a TTL cache, single flight and an opt-in
last-known-good cache for outages.

- Backend: a Connect server when `connect_host` is set, else the `op` CLI when it is found
  (looked for again on each miss until it is), else `NotConfigured`.
- TTL cache: a value is reused for `cache_ttl_seconds` (service accounts are rate limited);
  concurrent resolutions of one reference share one request (single flight), and a batch's
  misses go to the backend as one batch (one item fetch serves all its fields).
- Last-known-good (opt-in): every fresh value is sealed (`Sealer`, AES-GCM with the secrets
  key; the reference is the associated data, so entries cannot be swapped) into one file, keyed
  by the reference's sha256 and written whole through a temporary file and a rename (mode 0600).
  When 1Password is `Unreachable`, and only then, an entry younger than
  `last_known_good_max_age_seconds` is served with `stale=True` and the time it was fetched;
  like a fresh value, it is then reused for the TTL. A file or entry that cannot be read or
  opened is ignored with a warning and replaced by the next write.
- Values are never logged and never part of an error; `Resolved1P`'s repr leaves the value out.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import os
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import httpx

from devflow.core import clock
from devflow.core.errors import DevflowError, Invalid
from devflow.secrets.onepassword.connect import ConnectClient
from devflow.secrets.onepassword.errors import NotConfigured, OnePasswordError, Unreachable
from devflow.secrets.onepassword.opcli import OpCli, find_op
from devflow.secrets.onepassword.reference import Reference, parse_reference
from devflow.secrets.onepassword.settings import OnePasswordSettings

log = logging.getLogger(__name__)

_CACHE_FORMAT = "devflow-op-cache/1"
_CONTEXT = b"devflow:secrets:onepassword:last-known-good\x00"
NOT_CONFIGURED = (
    "1Password is not configured: set DEVFLOW_SECRETS__ONEPASSWORD__CONNECT_HOST (and "
    "DEVFLOW_SECRETS__ONEPASSWORD__CONNECT_TOKEN) to use a Connect server, or install the "
    "1Password CLI `op` on PATH (or set DEVFLOW_SECRETS__ONEPASSWORD__OP_PATH)"
)


class Sealer(Protocol):
    """Authenticated encryption of last-known-good values (the secrets key ring's AES-GCM).

    `open` raises (any exception) when `sealed` was not sealed with this `context` and key.
    """

    def seal(self, plaintext: bytes, context: bytes) -> bytes: ...

    def open(self, sealed: bytes, context: bytes) -> bytes: ...


@dataclass(frozen=True)
class Resolved1P:
    """A resolved reference. `stale`: served from the last-known-good cache during an outage."""

    reference: str
    value: str = field(repr=False)
    fetched_at: datetime
    stale: bool = False


class _Backend(Protocol):
    async def resolve_many(
        self, refs: Iterable[Reference]
    ) -> dict[Reference, str | OnePasswordError]: ...

    async def aclose(self) -> None: ...


def default_cache_path(home: Path) -> Path:
    """Return where the last-known-good cache lives under DEVFLOW_HOME."""
    return home / "secrets" / "op-cache"


class OnePassword:
    """Resolves 1Password references; made once per process and closed with it (`aclose`).

    Args:
        settings: the `onepassword` section of the secrets settings.
        sealer: seals last-known-good values (required when `settings.last_known_good`).
        cache_path: the last-known-good file (default: `default_cache_path(home)`).
        home: DEVFLOW_HOME, for the default `cache_path`.
        environ: the environment `op` starts from (default: this process's).
        transport: an httpx transport for the Connect client (tests).
        now, monotonic: clocks (wall clock for fetch times, monotonic for the TTL).

    Raises:
        Invalid: `last_known_good` is on without a sealer or a place for the file.
    """

    def __init__(
        self,
        settings: OnePasswordSettings,
        *,
        sealer: Sealer | None = None,
        cache_path: Path | None = None,
        home: Path | None = None,
        environ: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        now: Callable[[], datetime] = clock.now,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._environ = environ
        self._transport = transport
        self._now = now
        self._monotonic = monotonic
        self._lkg: LastKnownGood | None = None
        if settings.last_known_good:
            path = cache_path or (default_cache_path(home) if home is not None else None)
            if sealer is None or path is None:
                raise Invalid(
                    "1Password's last-known-good cache needs the secrets key (a sealer) and "
                    "DEVFLOW_HOME or a cache path"
                )
            max_age = timedelta(seconds=settings.last_known_good_max_age_seconds)
            self._lkg = LastKnownGood(path, sealer, max_age=max_age)
        self._backend: _Backend | None = None
        self._cache: dict[str, tuple[float, Resolved1P]] = {}
        self._inflight: dict[str, asyncio.Future[Resolved1P]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def backend(self) -> str | None:
        """`connect` or `op` once one is chosen, else None."""
        if isinstance(self._backend, ConnectClient):
            return "connect"
        return "op" if isinstance(self._backend, OpCli) else None

    async def resolve(self, ref: str) -> Resolved1P:
        """Return the value of the reference `ref`.

        Raises:
            Invalid: `ref` is not an `op://vault/item[/section]/field` reference.
            ReferenceNotFound, OnePasswordAuthError, Unreachable, NotConfigured,
            OnePasswordError: 1Password could not give the value.
        """
        result = (await self.resolve_many([ref]))[ref]
        if isinstance(result, DevflowError):
            raise result
        return result

    async def resolve_many(self, refs: Iterable[str]) -> dict[str, Resolved1P | DevflowError]:
        """Resolve every reference; each maps to its value or to the error that stopped it
        (`Invalid` for text that is not a reference)."""
        results: dict[str, Resolved1P | DevflowError] = {}
        waiting: dict[str, asyncio.Future[Resolved1P]] = {}
        misses: dict[Reference, asyncio.Future[Resolved1P]] = {}
        now = self._monotonic()
        for text in dict.fromkeys(refs):
            try:
                ref = parse_reference(text)
            except Invalid as exc:
                results[text] = exc
                continue
            cached = self._cache.get(text)
            if cached is not None and cached[0] > now:
                results[text] = cached[1]
                continue
            future = self._inflight.get(text)
            if future is None:
                future = asyncio.get_running_loop().create_future()
                future.add_done_callback(_retrieve)
                self._inflight[text] = future
                misses[ref] = future
            waiting[text] = future
        if misses:
            self._start(misses)
        for text, future in waiting.items():
            try:
                # Shielded: a caller that gives up does not cancel the others' request.
                results[text] = await asyncio.shield(future)
            except DevflowError as exc:
                results[text] = exc
        return results

    async def aclose(self) -> None:
        """Stop resolutions in flight (their callers get `Unreachable`) and close connections."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._backend is not None:
            await self._backend.aclose()
            self._backend = None

    def _start(self, misses: dict[Reference, asyncio.Future[Resolved1P]]) -> None:
        try:
            backend = self._select()
        except NotConfigured:
            for ref, future in misses.items():
                error = NotConfigured(f"{ref}: {NOT_CONFIGURED}", reference=str(ref))
                self._settle(ref, future, error)
            return
        task = asyncio.create_task(self._fetch(backend, misses), name="onepassword-resolve")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _select(self) -> _Backend:
        if self._backend is None:
            if self._settings.connect_host:
                self._backend = ConnectClient(self._settings, transport=self._transport)
            elif (executable := find_op(self._settings)) is not None:
                self._backend = OpCli(self._settings, executable=executable, environ=self._environ)
            else:
                raise NotConfigured(NOT_CONFIGURED)
        return self._backend

    async def _fetch(
        self, backend: _Backend, batch: dict[Reference, asyncio.Future[Resolved1P]]
    ) -> None:
        """Resolve a batch, keep its fresh values, stand in for outages, answer its waiters."""
        try:
            outcomes = await backend.resolve_many(list(batch))
            answers: dict[Reference, Resolved1P | DevflowError] = {}
            for ref in batch:
                outcome = outcomes.get(ref)
                if outcome is None:
                    answers[ref] = OnePasswordError(f"{ref}: no answer", reference=str(ref))
                elif isinstance(outcome, str):
                    answers[ref] = Resolved1P(str(ref), outcome, fetched_at=self._now())
                else:
                    answers[ref] = outcome
            if self._lkg is not None:
                await self._keep_or_stand_in(self._lkg, answers)
            for ref, answer in answers.items():
                self._settle(ref, batch[ref], answer)
        except Exception as exc:  # a bug must still answer every waiter
            log.exception("resolving %d 1Password references failed", len(batch))
            for ref, future in batch.items():
                error = OnePasswordError(
                    f"{ref}: resolving failed ({type(exc).__name__})", reference=str(ref)
                )
                self._settle(ref, future, error)
        finally:  # cancelled (aclose): nobody waits forever
            for ref, future in batch.items():
                error = Unreachable(f"{ref}: the resolution was stopped", reference=str(ref))
                self._settle(ref, future, error)

    async def _keep_or_stand_in(
        self, lkg: LastKnownGood, answers: dict[Reference, Resolved1P | DevflowError]
    ) -> None:
        """Store the fresh values (before anyone is answered: a value handed out is kept) and
        put last-known-good values in place of `Unreachable` errors."""
        fresh = [a for a in answers.values() if isinstance(a, Resolved1P)]
        if fresh:
            await lkg.store(fresh)
        unreachable = [str(ref) for ref, a in answers.items() if isinstance(a, Unreachable)]
        if unreachable:
            stale = await lkg.load(unreachable, now=self._now())
            for ref in answers:
                if str(ref) in stale:
                    answers[ref] = stale[str(ref)]

    def _settle(
        self,
        ref: Reference,
        future: asyncio.Future[Resolved1P],
        outcome: Resolved1P | DevflowError,
    ) -> None:
        """Answer the waiters of `ref` in this batch (the first answer wins); cache a value."""
        key = str(ref)
        if self._inflight.get(key) is future:
            del self._inflight[key]
        if future.done():
            return
        if isinstance(outcome, Resolved1P):
            if outcome.stale:
                log.warning(
                    "1Password is unreachable: serving the last-known-good value of %s "
                    "fetched at %s",
                    key,
                    outcome.fetched_at.isoformat(),
                )
            if self._settings.cache_ttl_seconds > 0:
                expires = self._monotonic() + self._settings.cache_ttl_seconds
                self._cache[key] = (expires, outcome)
            future.set_result(outcome)
        else:
            future.set_exception(outcome)


def _retrieve(future: asyncio.Future[Resolved1P]) -> None:
    # Marks the exception as seen: a future whose every caller gave up must not log it.
    if not future.cancelled():
        future.exception()


class LastKnownGood:
    """The sealed file of last-known-good values (see the module docstring)."""

    def __init__(self, path: Path, sealer: Sealer, *, max_age: timedelta) -> None:
        self.path = path
        self._sealer = sealer
        self._max_age = max_age
        self._lock = asyncio.Lock()

    async def store(self, values: list[Resolved1P]) -> None:
        """Seal and write `values` over their previous entries; a write that fails is logged."""
        sealed: dict[str, str] = {}
        for value in values:
            try:
                blob = self._sealer.seal(_plaintext(value), _CONTEXT + value.reference.encode())
            except Exception as exc:  # noqa: BLE001 - e.g. the keys are not loaded yet
                log.warning(
                    "the value of %s is not kept as last-known-good: it cannot be sealed (%s)",
                    value.reference,
                    type(exc).__name__,
                )
                continue
            sealed[_key(value.reference)] = base64.b64encode(blob).decode("ascii")
        if not sealed:
            return
        async with self._lock:
            try:
                await asyncio.to_thread(self._merge, sealed)
            except OSError as exc:
                log.warning(
                    "cannot write 1Password's last-known-good cache %s (%s)",
                    self.path,
                    type(exc).__name__,
                )

    async def load(self, references: list[str], *, now: datetime) -> dict[str, Resolved1P]:
        """Return the entries of `references` that open and are younger than the maximum age,
        marked stale."""
        entries = await asyncio.to_thread(self._entries)
        found: dict[str, Resolved1P] = {}
        for reference in references:
            encoded = entries.get(_key(reference))
            if encoded is not None:
                opened = self._open(reference, encoded, now=now)
                if opened is not None:
                    found[reference] = opened
        return found

    def _open(self, reference: str, encoded: str, *, now: datetime) -> Resolved1P | None:
        try:
            sealed = base64.b64decode(encoded, validate=True)
            raw = json.loads(self._sealer.open(sealed, _CONTEXT + reference.encode()))
            value, fetched_at = raw["value"], datetime.fromisoformat(raw["fetched_at"])
            if not isinstance(value, str) or fetched_at.tzinfo is None:
                raise TypeError  # noqa: TRY301 - one path for every malformed entry
        except Exception as exc:  # noqa: BLE001 - any failure to open means: no entry
            log.warning(
                "the last-known-good entry of %s in %s cannot be opened (%s); it is ignored",
                reference,
                self.path,
                type(exc).__name__,
            )
            return None
        if now - fetched_at > self._max_age:
            log.warning(
                "the last-known-good value of %s is too old to serve (fetched at %s)",
                reference,
                fetched_at.isoformat(),
            )
            return None
        return Resolved1P(reference=reference, value=value, fetched_at=fetched_at, stale=True)

    def _entries(self) -> dict[str, str]:
        try:
            raw = json.loads(self.path.read_bytes())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            self._ignored(type(exc).__name__)
            return {}
        entries = raw.get("entries") if isinstance(raw, dict) else None
        if not isinstance(entries, dict) or raw.get("format") != _CACHE_FORMAT:
            self._ignored("not a cache file of this DevFlow")
            return {}
        return {k: v for k, v in entries.items() if isinstance(k, str) and isinstance(v, str)}

    def _ignored(self, why: str) -> None:
        log.warning("1Password's last-known-good cache %s is ignored: %s", self.path, why)

    def _merge(self, sealed: dict[str, str]) -> None:
        entries = {**self._entries(), **sealed}
        data = json.dumps({"format": _CACHE_FORMAT, "entries": entries}).encode()
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.path.with_name(f".{self.path.name}.{secrets.token_hex(8)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            tmp.replace(self.path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise


def _key(reference: str) -> str:
    return hashlib.sha256(reference.encode()).hexdigest()


def _plaintext(value: Resolved1P) -> bytes:
    payload: dict[str, Any] = {"value": value.value, "fetched_at": value.fetched_at.isoformat()}
    return json.dumps(payload).encode()
