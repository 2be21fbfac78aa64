"""Who may read, publish to and administer a repository.

public: anyone, signed in or not; internal: any signed-in user; private: members of the project.
Reading needs the `registry:read` scope, publishing `registry:publish` and a write role, deleting
an admin role in the project (`identity.require_access`, the one check of roles and scopes). A
caller who may not read a repository learns nothing about it: an anonymous caller is asked to
authenticate (401) and a signed-in one is told it does not exist.
"""

from __future__ import annotations

from enum import StrEnum

from devflow.core.auth import Principal, Role
from devflow.core.errors import DevflowError, NotFound, Unauthenticated
from devflow.identity import require_access
from devflow.registry.models import Repository
from devflow.registry.scopes import REGISTRY_PUBLISH, REGISTRY_READ


class Visibility(StrEnum):
    """Who may read a repository."""

    PUBLIC = "public"
    INTERNAL = "internal"
    PRIVATE = "private"


def require_read(principal: Principal | None, repo: Repository | None, name: str) -> Repository:
    """Return the repository if the caller may read it.

    Raises:
        Unauthenticated: anonymous caller and a repository that is missing or not public.
        NotFound: a signed-in caller who may not see it (or it does not exist).
        PermissionDenied: a caller who may see it, with a token lacking `registry:read`.
    """
    if repo is not None and repo.visibility == Visibility.PUBLIC:
        return repo
    if principal is None:
        raise Unauthenticated(f"repository {name!r} needs authentication: send a DevFlow token")
    if repo is None:
        raise NotFound(f"no repository {name!r}")
    if repo.visibility == Visibility.INTERNAL and principal.project_id in {None, repo.project_id}:
        principal.require_scope(REGISTRY_READ)  # any signed-in user: no role needed
        return repo
    require_access(
        principal,
        repo.project_id,
        Role.READ,
        scope=REGISTRY_READ,
        missing=f"no repository {name!r}",
    )
    return repo


def can_read(principal: Principal | None, repo: Repository) -> bool:
    """Return whether the caller may download from the repository."""
    try:
        require_read(principal, repo, repo.name)
    except DevflowError:
        return False
    return True


def require_publish(principal: Principal | None, repo: Repository | None, name: str) -> Repository:
    """Return the repository if the caller may publish to it.

    Raises:
        Unauthenticated: no credentials.
        NotFound: the caller cannot see it.
        PermissionDenied: a reader without a write role or without the `registry:publish` scope.
    """
    if principal is None:
        raise Unauthenticated(f"publishing to {name!r} needs a token with 'registry:publish'")
    repo = require_read(principal, repo, name)
    require_access(
        principal,
        repo.project_id,
        Role.WRITE,
        scope=REGISTRY_PUBLISH,
        visible=True,  # the caller reads it: refuse, do not hide
        denied=f"publishing to {repo.name!r} needs the write role in its project",
    )
    return repo


def require_admin(
    principal: Principal | None, repo: Repository | None, name: str, *, denied: str | None = None
) -> Repository:
    """Return the repository if the caller may delete from it (project admins and owners).

    Args:
        denied: what a reader or writer is told (default: versions are yanked, not deleted).

    Raises:
        Unauthenticated, NotFound, PermissionDenied: as for publishing.
    """
    if principal is None:
        raise Unauthenticated(f"changing {name!r} needs a token with 'registry:publish'")
    repo = require_read(principal, repo, name)
    require_access(
        principal,
        repo.project_id,
        Role.ADMIN,
        scope=REGISTRY_PUBLISH,
        visible=True,  # the caller reads it: refuse, do not hide
        denied=denied
        or f"only admins of {repo.name!r}'s project may delete; versions are immutable, "
        "yank or deprecate them instead",
    )
    return repo


__all__ = ["Visibility", "can_read", "require_admin", "require_publish", "require_read"]
