"""Git hosting: repositories in projects, served over Smart HTTP by the system's `git`.

The package is `devflow.repos` (not `devflow.git`, which would read as GitPython's `git`, nor
`devflow.code`, a standard-library name); its settings are `DEVFLOW_REPOS__…`, its commands
`devflow repo …`. `DOMAIN` is its manifest. Other domains and the surfaces use only the names
below: the repository services (each checks the caller's access itself) and the API's shapes.
"""

from devflow.core.domain import Domain, lazy
from devflow.repos.access import can_read, require_push, require_read
from devflow.repos.protection.enforce import Merge, check_merge
from devflow.repos.protection.gate import push_gate
from devflow.repos.protection.statuses import combined_status
from devflow.repos.schemas import RefUpdate, RepoCreate, RepoRead, RepoUpdate, Visibility
from devflow.repos.service import (
    clone_url,
    create_repository,
    delete_repository,
    get_repository,
    list_repositories,
    read_repository,
    record_push,
    repository_folder,
    require_repository,
    update_repository,
)
from devflow.repos.settings import ReposSettings

DOMAIN = Domain(
    name="repos",
    settings=ReposSettings,
    routers=lazy("devflow.repos.api:ROUTERS"),
    body_limit=lazy("devflow.repos.api:body_limit"),
    cli=lazy("devflow.repos.cli:register"),
    jobs=lazy("devflow.repos.jobs:blueprint"),
    models=lazy("devflow.repos.models"),
    servers=lazy("devflow.repos.serving:servers"),
)

__all__ = [
    "DOMAIN",
    "Merge",
    "RefUpdate",
    "RepoCreate",
    "RepoRead",
    "RepoUpdate",
    "ReposSettings",
    "Visibility",
    "can_read",
    "check_merge",
    "clone_url",
    "combined_status",
    "create_repository",
    "delete_repository",
    "get_repository",
    "list_repositories",
    "push_gate",
    "read_repository",
    "record_push",
    "repository_folder",
    "require_push",
    "require_read",
    "require_repository",
    "update_repository",
]
