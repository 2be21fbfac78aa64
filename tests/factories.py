"""Helpers that make users, projects and tokens through the real services."""

from __future__ import annotations

import stat
from datetime import timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from devflow.core.auth import Principal, Scope
from devflow.core.db import unit_of_work
from devflow.identity import service
from devflow.identity.schemas import UserCreate


async def make_user(
    session: AsyncSession,
    username: str,
    *,
    scopes: tuple[Scope, ...] = (Scope.READ, Scope.WRITE),
    is_admin: bool = False,
) -> tuple[Principal, str]:
    """Create a user with a token; return the authenticated principal and the token."""
    user = await service.create_user(
        session, principal=None, data=UserCreate(username=username, is_admin=is_admin)
    )
    _, secret = await service.issue_token(session, user=user, name="test", scopes=list(scopes))
    return await service.authenticate(session, token=secret), secret


async def bootstrap_admin(sessions: async_sessionmaker[AsyncSession]) -> str:
    """Run first-start bootstrap on an empty database and return the admin's token."""
    async with unit_of_work(sessions) as session:
        done = await service.bootstrap(
            session, admin_username="admin", code_ttl=timedelta(minutes=5)
        )
    assert done is not None
    return done.token


def file_mode(path: Path) -> int:
    """Return the permission bits of `path` (0o600, 0o700 …)."""
    return stat.S_IMODE(path.stat().st_mode)
