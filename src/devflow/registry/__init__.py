"""Universal package registry: repositories, a content-addressed blob store, one module a format.

`DOMAIN` is its manifest; `BLOB_STORE` the process's blob store, among its services.
"""

from devflow.core.domain import Domain, lazy
from devflow.core.services import Provider, Services
from devflow.registry.backends import blob_store_from_settings
from devflow.registry.http import REGISTRY_RUNTIME, close_runtime, make_runtime
from devflow.registry.ports import BLOB_STORE, BlobStore
from devflow.registry.settings import RegistrySettings


def _blob_store(services: Services) -> BlobStore:
    return blob_store_from_settings(services.settings)


DOMAIN = Domain(
    name="registry",
    settings=RegistrySettings,
    provides=(
        Provider(BLOB_STORE, _blob_store),
        Provider(REGISTRY_RUNTIME, make_runtime, close_runtime),
    ),
    routers=lazy("devflow.registry.api:ROUTERS"),
    hot_routes=lazy("devflow.registry.api:HOT_ROUTES"),
    body_limit=lazy("devflow.registry.api:body_limit"),
    jobs=lazy("devflow.registry.jobs:blueprint"),
    cli=lazy("devflow.registry.cli:register"),
    models=lazy("devflow.registry.models"),
)

__all__ = ["BLOB_STORE", "DOMAIN", "BlobStore", "RegistrySettings"]
