"""Where a secret lives (`Where`: the system, a user, a project) and who may do what there.

- **system**: DevFlow's own credentials (LLM provider keys …): instance admins only, with an
  unrestricted `admin` token.
- **user**: one user's own secrets: that user only (not even an admin reads another's), with a
  token not restricted to a project.
- **project**: readers of the project see names and metadata; writers set, delete, roll back
  and reveal values (a value is a credential: revealing it needs `write`, like setting it).

A refusal is recorded in the audit log by the caller (`service.refuse`) before it is raised.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core.auth import Principal, Role, Scope
from devflow.core.errors import PermissionDenied
from devflow.identity import require_access, require_project
from devflow.secrets.names import check_environment, check_name

Action = Literal["list", "write", "reveal"]


@dataclass(frozen=True)
class Where:
    """One scope of secrets."""

    tier: Literal["system", "user", "project"]
    key: str
    """`system`, `user:<id>`, `project:<id>` (stored)."""
    label: str
    """`system`, `user:<name>`, `project:<name>` (shown and audited)."""
    project_id: uuid.UUID | None = None
    user_id: uuid.UUID | None = None
    owner: str = ""
    """The project's or user's name."""


def system() -> Where:
    """The system tier."""
    return Where("system", "system", "system")


def of_user(principal: Principal) -> Where:
    """The caller's own tier."""
    return Where(
        "user", f"user:{principal.user_id}", f"user:{principal.username}",
        user_id=principal.user_id, owner=principal.username,
    )  # fmt: skip


async def of_project(session: AsyncSession, principal: Principal, name: str | None) -> Where:
    """A project's tier (NotFound: no such project or not a member)."""
    project = await require_project(session, principal=principal, name=name)
    return Where(
        "project", f"project:{project.id}", f"project:{project.name}",
        project_id=project.id, owner=project.name,
    )  # fmt: skip


def require(principal: Principal, where: Where, action: Action) -> None:
    """Raise unless the caller may `action` in `where`.

    Raises:
        PermissionDenied: see the module docstring (NotFound for a project not a member of).
    """
    if where.tier == "system":
        if not principal.is_instance_admin:
            raise PermissionDenied(
                "system secrets are for instance admins with an unrestricted `admin` token"
            )
        return
    if where.tier == "user":
        if principal.user_id != where.user_id:
            raise PermissionDenied("a user's secrets are that user's only")
        if principal.project_id is not None:
            raise PermissionDenied(
                "this token is restricted to a project: user secrets need an unrestricted token"
            )
        principal.require_scope(Scope.READ if action == "list" else Scope.WRITE)
        return
    assert where.project_id is not None  # noqa: S101 - a project tier names its project
    require_access(
        principal,
        where.project_id,
        Role.READ if action == "list" else Role.WRITE,
        missing=f"no project {where.owner!r}",
        denied=(
            f"revealing or changing secrets of {where.owner!r} needs the write role"
            if action != "list" else None
        ),
    )  # fmt: skip


def may(principal: Principal, where: Where, action: Action) -> bool:
    """Whether `require` would pass."""
    try:
        require(principal, where, action)
    except Exception:  # noqa: BLE001 - NotFound or PermissionDenied: no
        return False
    return True


__all__ = [
    "Action",
    "Where",
    "check_environment",
    "check_name",
    "may",
    "of_project",
    "of_user",
    "require",
    "system",
]
