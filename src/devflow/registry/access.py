"""Who may read, publish to and administer a repository.

public: anyone, signed in or not; internal: any signed-in user; private: members of the project.
Reading needs the `registry:read` scope, publishing `registry:publish` and a write role, deleting
an admin role in the project. A caller who may not read a repository learns nothing about it: an
anonymous caller is asked to authenticate (401) and a signed-in one is told it does not exist.
"""

from __future__ import annotations

from enum import StrEnum

from devflow.core.auth import Principal, Role, Scope
from devflow.core.errors import NotFound, PermissionDenied, Unauthenticated
from devflow.identity import role_in
from devflow.registry.models import Repository


class Visibility(StrEnum):
    """Who may read a repository."""

    PUBLIC = "public"
    INTERNAL = "internal"
    PRIVATE = "private"


def can_read(principal: Principal | None, repo: Repository) -> bool:
    """Return whether the caller may download from the repository."""
    if repo.visibility == Visibility.PUBLIC:
        return True
    if principal is None or not principal.has_scope(Scope.REGISTRY_READ):
        return False
    if repo.visibility == Visibility.INTERNAL:
        return principal.project_id is None or principal.project_id == repo.project_id
    return role_in(principal, repo.project_id) is not None


def has_role(principal: Principal | None, repo: Repository, role: Role) -> bool:
    """Return whether the caller holds `role` (or more) in the repository's project."""
    if principal is None:
        return False
    held = role_in(principal, repo.project_id)
    return held is not None and held.allows(role)


def require_read(principal: Principal | None, repo: Repository | None, name: str) -> Repository:
    """Return the repository if the caller may read it.

    Raises:
        Unauthenticated: anonymous caller and a repository that is missing or not public.
        NotFound: a signed-in caller who may not read it (or it does not exist).
    """
    if repo is not None and can_read(principal, repo):
        return repo
    if principal is None:
        raise Unauthenticated(f"repository {name!r} needs authentication: send a DevFlow token")
    if repo is not None and not principal.has_scope(Scope.REGISTRY_READ):
        raise PermissionDenied(
            "this token lacks the 'registry:read' scope; create one with "
            "`devflow token create --scope registry:read`"
        )
    raise NotFound(f"no repository {name!r}")


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
    if not principal.has_scope(Scope.REGISTRY_PUBLISH):
        raise PermissionDenied(
            "this token lacks the 'registry:publish' scope; create one with "
            "`devflow token create --scope registry:publish`"
        )
    if not has_role(principal, repo, Role.WRITE):
        raise PermissionDenied(f"publishing to {repo.name!r} needs the write role in its project")
    return repo


def require_admin(principal: Principal | None, repo: Repository | None, name: str) -> Repository:
    """Return the repository if the caller may delete from it (project admins and owners).

    Raises:
        Unauthenticated, NotFound, PermissionDenied: as for publishing.
    """
    repo = require_publish(principal, repo, name)
    if not has_role(principal, repo, Role.ADMIN):
        raise PermissionDenied(
            f"only admins of {repo.name!r}'s project may delete; versions are immutable, "
            "yank or deprecate them instead"
        )
    return repo
