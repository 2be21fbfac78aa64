"""Identity: users, projects, memberships and API tokens. Other domains use only these names."""

from devflow.core.auth import AUTHENTICATOR
from devflow.core.domain import Domain, lazy
from devflow.core.services import Provider, Services
from devflow.identity.models import Project, User
from devflow.identity.service import (
    DEFAULT_PROJECT,
    PrincipalCache,
    authenticate,
    bootstrap,
    default_project_name,
    delete_expired_tokens,
    get_controllable_job,
    get_visible_job,
    issue_token,
    list_projects,
    may_control_job,
    principal_for_user,
    require_access,
    require_member,
    require_project,
    require_readable,
    require_role,
    retire_token,
    role_in,
    token_expiry,
    visible_project_ids,
)


def _authenticator(services: Services) -> PrincipalCache:
    return PrincipalCache(services.settings.auth.principal_cache_seconds)


DOMAIN = Domain(
    name="identity",
    provides=(Provider(AUTHENTICATOR, _authenticator),),
    routers=lazy("devflow.identity.api:ROUTERS"),
    cli=lazy("devflow.identity.cli:register"),
    tools=lazy("devflow.identity.tools:TOOLS"),
    models=lazy("devflow.identity.models"),
    hot_routes=lazy("devflow.identity.api:HOT_ROUTES"),
)

__all__ = [
    "DEFAULT_PROJECT",
    "DOMAIN",
    "PrincipalCache",
    "Project",
    "User",
    "authenticate",
    "bootstrap",
    "default_project_name",
    "delete_expired_tokens",
    "get_controllable_job",
    "get_visible_job",
    "issue_token",
    "list_projects",
    "may_control_job",
    "principal_for_user",
    "require_access",
    "require_member",
    "require_project",
    "require_readable",
    "require_role",
    "retire_token",
    "role_in",
    "token_expiry",
    "visible_project_ids",
]
