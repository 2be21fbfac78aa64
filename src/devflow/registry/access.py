"""Who may read, publish to and administer a repository.

public: anyone, signed in or not; internal: any signed-in user; private: members of the project.
Reading needs the `registry:read` scope, publishing `registry:publish` and a write role, deleting
an admin role in the project (`identity.require_access`, the one check of roles and scopes). A
caller who may not read a repository learns nothing about it: an anonymous caller is asked to
authenticate (401) and a signed-in one is told it does not exist.
"""

from __future__ import annotations

from devflow.core.auth import Principal, Role, Visibility
from devflow.core.errors import DevflowError, Unauthenticated
from devflow.identity import require_access, require_readable
from devflow.registry.models import Repository
from devflow.registry.scopes import REGISTRY_PUBLISH, REGISTRY_READ


def require_read(principal: Principal | None, repo: Repository | None, name: str) -> Repository:
    """Return the repository if the caller may read it.

    Raises:
        Unauthenticated: anonymous caller and a repository that is missing or not public.
        NotFound: a signed-in caller who may not see it (or it does not exist).
        PermissionDenied: a caller who may see it, with a token lacking `registry:read`.
    """
    require_readable(
        principal,
        repo.visibility if repo is not None else None,
        repo.project_id if repo is not None else None,
        scope=REGISTRY_READ,
        missing=f"no repository {name!r}",
        anonymous=f"repository {name!r} needs authentication: send a DevFlow token",
    )
    assert repo is not None  # noqa: S101 - require_readable refuses a missing one
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
