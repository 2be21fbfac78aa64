"""Who may do what on a project's board: read to read, write to change tasks, admin for columns."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core.auth import Principal, Role
from devflow.identity import Project, require_project


async def project_for(
    session: AsyncSession, *, principal: Principal, project: str | None, role: Role = Role.READ
) -> Project:
    """Return the project the caller holds `role` in (None: the default project).

    Raises:
        NotFound: no such project, or the caller is not a member (nothing is revealed).
        PermissionDenied: the caller's role or token scope is not enough.
    """
    return await require_project(session, principal=principal, name=project, role=role)
