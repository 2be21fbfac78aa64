"""The DevFlow end of the pre-receive hook: a UNIX socket per push that answers allow or deny.

`push_gate` opens a socket in a private folder for one push and yields the environment the git
process needs (`DEVFLOW_HOOK_SOCKET`, `DEVFLOW_HOOK_PYTHON`); git passes it on to its hooks.
The hook (`hook.PRE_RECEIVE`) sends the object directories git gave it and its
`<old> <new> <ref>` lines; DevFlow checks them against the database (`enforce.check_push`), with
git reading the new objects from the push's quarantine, and answers `ok`, or `no` and the
reasons, one per line. Anything else (a crash here, a timeout, a malformed request) is a `no`,
and a hook that gets no answer refuses too: the exchange fails closed.

Smart HTTP runs every receive-pack inside a gate. Code that pushes for a user (the merge of a
pull request, into the bare repository from a temporary clone) runs its `git push` inside one
too, with `merge=Merge(...)`: the push then passes a required pull request, and the pull
request's approvals and head statuses are checked instead (`enforce.check_merge`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import secrets
import shutil
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from devflow.core.auth import Principal
from devflow.core.services import Services
from devflow.repos.models import GitRepository
from devflow.repos.protection.enforce import Merge, RefMove, check_push
from devflow.repos.protection.gitview import GitView
from devflow.repos.storage import Storage

log = logging.getLogger(__name__)

_AUTOCOMMIT = {"isolation_level": "AUTOCOMMIT"}
_MAX_REQUEST = 16 * 1024 * 1024  # 16 MiB of ref lines: over 100,000 refs in one push
_TIMEOUT = 60.0  # the hook waits 120 s: DevFlow answers "no" before it gives up
_SOCKET_PATH_MAX = 100  # AF_UNIX paths end at 108 bytes
_MOVE = re.compile(
    r"^([0-9a-f]{40}|[0-9a-f]{64}) ([0-9a-f]{40}|[0-9a-f]{64}) (refs/[^\x00-\x20\x7f]{1,1000})$"
)
_OBJECT_VARIABLES = (
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_QUARANTINE_PATH",
)
FAILED = (
    "DevFlow could not check this push against its branch rules; it is refused "
    "(the server log says why)"
)


class _Refused(Exception):
    """A hook request DevFlow does not accept."""


@contextlib.asynccontextmanager
async def push_gate(
    services: Services,
    *,
    repo_id: uuid.UUID,
    pusher: Principal,
    merge: Merge | None = None,
) -> AsyncIterator[dict[str, str]]:
    """Serve the pre-receive check of one push; yield the environment its `git` needs.

    Args:
        repo_id: the repository pushed to.
        pusher: who pushes (for the push allowlist); for a merge, who merges.
        merge: the pull request a merge pushes (None: a direct push).
    """
    storage = Storage.of(services.settings)
    gate = _Gate(services, storage, repo_id, pusher, merge)
    folder = _folder(storage)
    path = folder / "hook.sock"
    server = await asyncio.start_unix_server(gate.serve, path=str(path))
    try:
        path.chmod(0o600)
        yield {"DEVFLOW_HOOK_SOCKET": str(path), "DEVFLOW_HOOK_PYTHON": sys.executable}
    finally:
        server.close()
        await server.wait_closed()
        shutil.rmtree(folder, ignore_errors=True)


def _folder(storage: Storage) -> Path:
    """A private folder for one socket: under the repositories' root when its path is short
    enough for a socket, else in the system's temporary folder."""
    storage.prepare()
    hooks = storage.root / ".hooks"
    if len(str(hooks)) + 30 < _SOCKET_PATH_MAX:
        hooks.mkdir(mode=storage.dir_mode, exist_ok=True)
        folder = hooks / secrets.token_hex(8)
        folder.mkdir(mode=0o700)
        return folder
    return Path(tempfile.mkdtemp(prefix="devflow-hook-"))


class _Gate:
    """Answers the one pre-receive check of one push."""

    def __init__(
        self,
        services: Services,
        storage: Storage,
        repo_id: uuid.UUID,
        pusher: Principal,
        merge: Merge | None,
    ) -> None:
        self.services = services
        self.storage = storage
        self.repo_id = repo_id
        self.pusher = pusher
        self.merge = merge
        self.asked = False

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Read one hook's request whole, check it, answer, close."""
        try:
            data = await asyncio.wait_for(_read(reader), _TIMEOUT)
            if self.asked:
                raise _Refused("a second check for one push")  # noqa: TRY301
            self.asked = True
            reasons = await asyncio.wait_for(self._check(data), _TIMEOUT)
            answer = "no\n" + "\n".join(reasons) if reasons else "ok\n"
        except _Refused as exc:
            log.warning("refused the pre-receive check of a push to %s: %s", self.repo_id, exc)
            answer = f"no\n{FAILED}"
        except Exception:
            log.exception("the pre-receive check of a push to %s failed", self.repo_id)
            answer = f"no\n{FAILED}"
        try:
            writer.write(answer.encode())
            await writer.drain()
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _check(self, data: bytes) -> list[str]:
        head, _, body = data.decode().partition("\n")
        path = self.storage.path(self.repo_id)
        objects = _object_env(json.loads(head), path)
        moves = []
        for line in body.splitlines():
            found = _MOVE.match(line)
            if found is None:
                raise _Refused(f"a malformed ref line {line[:200]!r}")
            moves.append(RefMove(old=found[1], new=found[2], ref=found[3]))
        async with self.services.sessions(execution_options=_AUTOCOMMIT) as session:
            repo = await session.get(GitRepository, self.repo_id)
            if repo is None:
                return ["the repository was deleted"]
            return await check_push(
                session,
                repo=repo,
                pusher=self.pusher,
                moves=moves,
                git=GitView(self.storage, path, objects),
                merge=self.merge,
            )


async def _read(reader: asyncio.StreamReader) -> bytes:
    """Read a hook's request to its end (16 MiB at most)."""
    data = b""
    while chunk := await reader.read(65536):
        data += chunk
        if len(data) > _MAX_REQUEST:
            raise _Refused("a hook request over 16 MiB")
    return data


def _object_env(given: object, repo: Path) -> dict[str, str]:
    """The hook's object directories, each inside the repository (its quarantine and its own
    objects); anything else is refused."""
    if not isinstance(given, dict):
        raise _Refused("a hook request without its environment")
    inside = os.path.realpath(repo)
    kept = {}
    for name in _OBJECT_VARIABLES:
        value = given.get(name, "")
        if not isinstance(value, str):
            raise _Refused(f"{name} is not text")
        if not value:
            continue
        for part in value.split(os.pathsep):
            real = os.path.realpath(part)
            if real != inside and not real.startswith(inside + os.sep):
                raise _Refused(f"{name} points outside the repository")
        kept[name] = value
    return kept


__all__ = ["FAILED", "Merge", "push_gate"]
