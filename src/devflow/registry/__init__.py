"""Universal package registry: repositories of packages in the shared blob store, one
sub-package per format (`formats/`: PyPI, npm, OCI; cargo, maven and apt next).

`DOMAIN` is its manifest. Other domains and the surfaces use only the names below: the
repository and package services (each checks the caller's access itself), the one publish path
a format calls with its `Upload`, the registry of formats, and the API's shapes. `BLOB_STORE`
and `BlobStore` are core's (`devflow.core.blobs`), named here for the registry's users.
"""

from devflow.core.blobs import BLOB_STORE, BlobStore
from devflow.core.domain import Domain, lazy
from devflow.core.services import Provider
from devflow.registry.access import Visibility, can_read, require_publish, require_read
from devflow.registry.blobs import TooLarge
from devflow.registry.formats import FORMATS, Format, find_format, get_format
from devflow.registry.meta import FileMeta, PackageMeta, VersionMeta
from devflow.registry.packages import describe_package, list_packages, search_packages
from devflow.registry.publish import (
    CheckedFile,
    DependencySpec,
    IncomingFile,
    Published,
    Release,
    Upload,
    publish_upload,
)
from devflow.registry.runtime import REGISTRY_RUNTIME, close_runtime, make_runtime
from devflow.registry.schemas import (
    FormatName,
    Kind,
    PackageDetail,
    PackageRead,
    RepositoryCreate,
    RepositoryRead,
    RepositoryUpdate,
    StatsRead,
)
from devflow.registry.scopes import REGISTRY_PUBLISH, REGISTRY_READ, SCOPES
from devflow.registry.service import (
    client_url,
    create_repository,
    delete_repository,
    get_repository,
    list_repositories,
    read_repository,
    require_repository,
    update_repository,
)
from devflow.registry.settings import RegistrySettings
from devflow.registry.usage import stats
from devflow.registry.versions import (
    delete_package,
    delete_version,
    deprecate_version,
    yank_version,
)

DOMAIN = Domain(
    name="registry",
    settings=RegistrySettings,
    provides=(Provider(REGISTRY_RUNTIME, make_runtime, close_runtime),),
    routers=lazy("devflow.registry.api:ROUTERS"),
    hot_routes=lazy("devflow.registry.api:HOT_ROUTES"),
    body_limit=lazy("devflow.registry.api:body_limit"),
    jobs=lazy("devflow.registry.jobs:blueprint"),
    cli=lazy("devflow.registry.cli:register"),
    models=lazy("devflow.registry.models"),
    scopes=SCOPES,
)

__all__ = [
    "BLOB_STORE",
    "DOMAIN",
    "FORMATS",
    "REGISTRY_PUBLISH",
    "REGISTRY_READ",
    "REGISTRY_RUNTIME",
    "BlobStore",
    "CheckedFile",
    "DependencySpec",
    "FileMeta",
    "Format",
    "FormatName",
    "IncomingFile",
    "Kind",
    "PackageDetail",
    "PackageMeta",
    "PackageRead",
    "Published",
    "RegistrySettings",
    "Release",
    "RepositoryCreate",
    "RepositoryRead",
    "RepositoryUpdate",
    "StatsRead",
    "TooLarge",
    "Upload",
    "VersionMeta",
    "Visibility",
    "can_read",
    "client_url",
    "create_repository",
    "delete_package",
    "delete_repository",
    "delete_version",
    "deprecate_version",
    "describe_package",
    "find_format",
    "get_format",
    "get_repository",
    "list_packages",
    "list_repositories",
    "publish_upload",
    "read_repository",
    "require_publish",
    "require_read",
    "require_repository",
    "search_packages",
    "stats",
    "update_repository",
    "yank_version",
]
