"""Identity: users, projects, memberships and API tokens. Other domains use only these names."""

from devflow.identity.models import Project, User
from devflow.identity.service import (
    DEFAULT_PROJECT,
    PrincipalCache,
    authenticate,
    delete_expired_tokens,
    get_visible_job,
    issue_token,
    require_project,
    require_role,
    role_in,
    token_expiry,
    visible_project_ids,
)

__all__ = [
    "DEFAULT_PROJECT",
    "PrincipalCache",
    "Project",
    "User",
    "authenticate",
    "delete_expired_tokens",
    "get_visible_job",
    "issue_token",
    "require_project",
    "require_role",
    "role_in",
    "token_expiry",
    "visible_project_ids",
]
