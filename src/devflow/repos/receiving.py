"""What every push DevFlow serves shares, whatever carries it (Smart HTTP, SSH).

`receiving` opens one push: DevFlow's hooks brought up to date, the protection gate that the
pre-receive hook asks (`protection.gate.push_gate`), and a file that the post-receive hook
writes the refs it moved to (`DEVFLOW_PUSH_LOG`). The transport runs `git receive-pack` (or
`git http-backend`) with `Receiving.env` added to `Storage.env()`; once git exited with 0,
`Receiving.record` records the push (`service.record_push`, and pull requests follow it) before
the transport tells the client it is done, so a `git push` that returned is on record.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from devflow.core.auth import Principal
from devflow.core.db import unit_of_work
from devflow.core.services import Services
from devflow.repos import service
from devflow.repos.protection.gate import push_gate
from devflow.repos.pulls.service import on_push as pulls_follow
from devflow.repos.storage import Storage, parse_push_log, write_hooks


@dataclass(frozen=True)
class Receiving:
    """One push being served: the environment its git needs and how to record it."""

    services: Services
    storage: Storage
    repo_id: uuid.UUID
    pusher: Principal
    push_log: Path
    env: dict[str, str]

    async def record(self) -> None:
        """Record the refs the post-receive hook reported (nothing when none moved)."""
        refs = parse_push_log(await asyncio.to_thread(self.push_log.read_text))
        if not refs:
            return
        size = await asyncio.to_thread(self.storage.size, self.repo_id)
        async with unit_of_work(self.services.sessions) as session:
            await service.record_push(
                session, repo_id=self.repo_id, pusher=self.pusher, refs=refs, size_bytes=size
            )
            await pulls_follow(session, repo_id=self.repo_id, pusher=self.pusher, refs=refs,
                               storage=self.storage)  # fmt: skip


@contextlib.asynccontextmanager
async def receiving(
    services: Services, *, repo_id: uuid.UUID, pusher: Principal
) -> AsyncIterator[Receiving]:
    """Open one push to a repository by `pusher` (who passed `access.require_push`)."""
    storage = Storage.of(services.settings)
    async with push_gate(services, repo_id=repo_id, pusher=pusher) as hook_env:
        write_hooks(storage.path(repo_id))
        handle, name = tempfile.mkstemp(prefix=".push-", suffix=".log", dir=storage.root)
        os.close(handle)
        push_log = Path(name)
        try:
            yield Receiving(
                services=services,
                storage=storage,
                repo_id=repo_id,
                pusher=pusher,
                push_log=push_log,
                env={**hook_env, "DEVFLOW_PUSH_LOG": str(push_log)},
            )
        finally:
            push_log.unlink(missing_ok=True)  # noqa: ASYNC240 - one small file


__all__ = ["Receiving", "receiving"]
