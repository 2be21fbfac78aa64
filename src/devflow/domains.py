"""The domains of DevFlow: adding one is writing its folder and naming its manifest here.

The order is the order in which their routes are matched, their MCP tools listed and their
commands shown.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from devflow import identity, knowledge, llm, registry, repos, secrets, workflows
from devflow.core.auth import CORE_SCOPES, SCOPES, ScopeCatalog
from devflow.core.blobs import BLOB_STORE_PROVIDER
from devflow.core.domain import Domain
from devflow.core.reads import READ_POOL_PROVIDER
from devflow.core.services import Provider

DOMAINS: tuple[Domain, ...] = (
    identity.DOMAIN,
    secrets.DOMAIN,
    llm.DOMAIN,
    knowledge.DOMAIN,
    repos.DOMAIN,  # before the registry: /npm/<repo>/<path> would take /npm/x.git/…
    registry.DOMAIN,
    workflows.DOMAIN,
)


def scope_catalog() -> ScopeCatalog:
    """Return every token scope: core's, then each domain's."""
    return ScopeCatalog((*CORE_SCOPES, *(scope for domain in DOMAINS for scope in domain.scopes)))


CORE_PROVIDERS: tuple[Provider[Any], ...] = (
    BLOB_STORE_PROVIDER,
    READ_POOL_PROVIDER,
    Provider(SCOPES, lambda _services: scope_catalog()),
)
"""Long-lived objects core itself provides, shared by domains (the blob store, the hot-read
connections, the scopes)."""


def providers() -> list[Provider[Any]]:
    """Return core's and every domain's providers of long-lived objects, for
    `core.services.open_services`."""
    return [*CORE_PROVIDERS, *(provider for domain in DOMAINS for provider in domain.provides)]


def load_models() -> None:
    """Import every domain's tables into the one metadata (migrations, `db check`)."""
    for domain in DOMAINS:
        if domain.models is not None:
            domain.models()


def each(attribute: str) -> Iterator[Any]:
    """Yield what each domain's loader `attribute` loads (`routers`, `jobs` …), where it has one."""
    for domain in DOMAINS:
        loader = getattr(domain, attribute)
        if loader is not None:
            yield loader()
