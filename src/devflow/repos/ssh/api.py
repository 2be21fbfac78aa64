"""SSH key routes: `/api/v1/users/{username}/keys`, where `me` is the caller. A user manages
their own keys; an instance admin anyone's."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Path, status

from devflow.core.http import PrincipalDep, SessionDep
from devflow.core.schemas import error_responses
from devflow.repos.ssh import keys
from devflow.repos.ssh.schemas import SshKeyCreate, SshKeyRead

router = APIRouter(
    prefix="/api/v1/users/{username}/keys", tags=["ssh keys"], responses=error_responses()
)
_USER = Path(max_length=64, description="A username, or `me` for the caller.")


@router.get("", response_model=list[SshKeyRead])
async def list_ssh_keys(
    session: SessionDep, principal: PrincipalDep, username: str = _USER
) -> list[SshKeyRead]:
    """List a user's SSH keys (yours with `me`)."""
    rows = await keys.list_keys(session, principal=principal, username=username)
    return [SshKeyRead.model_validate(r) for r in rows]


@router.post("", response_model=SshKeyRead, status_code=status.HTTP_201_CREATED)
async def add_ssh_key(
    data: SshKeyCreate, session: SessionDep, principal: PrincipalDep, username: str = _USER
) -> SshKeyRead:
    """Add a public key, which then authenticates its user to `git` over SSH."""
    row = await keys.add_key(
        session, principal=principal, username=username, key=data.key, title=data.title
    )
    return SshKeyRead.model_validate(row)


@router.delete("/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_ssh_key(
    key_id: uuid.UUID, session: SessionDep, principal: PrincipalDep, username: str = _USER
) -> None:
    """Remove an SSH key; connections it opens from then on are refused."""
    await keys.remove_key(session, principal=principal, username=username, key_id=key_id)
