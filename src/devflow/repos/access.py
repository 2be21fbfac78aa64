"""Who may read, push to and administer a repository.

public: anyone, signed in or not; internal: any signed-in user whose token is not restricted to
another project; private: members of the project. Reading (clone, fetch, show) needs the `read`
scope, pushing `write` and the write role, changing or deleting the admin role. A caller who may
not read a repository learns nothing of it: anonymous callers are asked to authenticate (401,
which makes `git` ask its credential helper), signed-in ones are told it does not exist.
"""

from __future__ import annotations

from devflow.core.auth import Principal, Role, Scope
from devflow.core.errors import DevflowError, PermissionDenied, Unauthenticated
from devflow.identity import require_access, require_readable
from devflow.repos.models import GitRepository


def require_read(
    principal: Principal | None, repo: GitRepository | None, name: str
) -> GitRepository:
    """Return the repository if the caller may read it.

    Raises:
        Unauthenticated: an anonymous caller and a repository that is missing or not public.
        NotFound: a signed-in caller who may not see it (or it does not exist).
        PermissionDenied: a caller who may see it, with a token lacking `read`.
    """
    require_readable(
        principal,
        repo.visibility if repo is not None else None,
        repo.project_id if repo is not None else None,
        scope=Scope.READ,
        missing=f"no repository {name}",
        anonymous=f"repository {name} needs authentication: use a DevFlow token",
    )
    assert repo is not None  # noqa: S101 - require_readable refuses a missing one
    return repo


def can_read(principal: Principal | None, repo: GitRepository) -> bool:
    """Return whether the caller may clone the repository."""
    try:
        require_read(principal, repo, repo.name)
    except DevflowError:
        return False
    return True


def require_push(
    principal: Principal | None, repo: GitRepository | None, name: str
) -> GitRepository:
    """Return the repository if the caller may push to it.

    Raises:
        Unauthenticated: no credentials.
        NotFound: the caller cannot see it.
        PermissionDenied: a reader without the write role or the `write` scope, or an
            archived repository.
    """
    if principal is None:
        raise Unauthenticated(f"pushing to {name} needs a DevFlow token with the write scope")
    repo = require_read(principal, repo, name)
    require_access(
        principal,
        repo.project_id,
        Role.WRITE,
        scope=Scope.WRITE,
        visible=True,  # the caller reads it: refuse, do not hide
        denied=f"pushing to {name} needs the write role in its project; yours is read-only",
    )
    if repo.archived:
        raise PermissionDenied(
            f"{name} is archived and read-only; a project admin can unarchive it "
            "(devflow repo archive --undo)"
        )
    if repo.is_mirror:
        raise PermissionDenied(
            f"{name} is a pull mirror and read-only: it takes its branches from its source "
            "(push there instead)"
        )
    return repo


def require_admin(principal: Principal, repo: GitRepository | None, name: str) -> GitRepository:
    """Return the repository if the caller may change or delete it (project admins).

    Raises:
        NotFound, PermissionDenied: as for reading; a role below admin.
    """
    repo = require_read(principal, repo, name)
    require_access(
        principal,
        repo.project_id,
        Role.ADMIN,
        scope=Scope.WRITE,
        visible=True,
        denied=f"only admins of {name}'s project may change or delete it",
    )
    return repo


__all__ = ["can_read", "require_admin", "require_push", "require_read"]
