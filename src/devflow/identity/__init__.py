"""Identity: users, projects, memberships and API tokens. Other domains use only these names."""

from devflow.identity.models import Project, User
from devflow.identity.service import (
    DEFAULT_PROJECT,
    PrincipalCache,
    authenticate,
    get_visible_job,
    require_project,
    require_role,
    role_in,
    visible_project_ids,
)

__all__ = [
    "DEFAULT_PROJECT",
    "PrincipalCache",
    "Project",
    "User",
    "authenticate",
    "get_visible_job",
    "require_project",
    "require_role",
    "role_in",
    "visible_project_ids",
]
