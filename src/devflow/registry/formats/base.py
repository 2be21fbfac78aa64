"""What the registry's core asks of a package format (`Format`), whatever its protocol."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from fastapi import APIRouter
    from starlette.routing import Route

    from devflow.registry.models import Package, PackageFile, Repository


class Format(Protocol):
    """One package format: its name, where its clients talk to it, and its naming rules.

    A format is a sub-package of `registry/formats/` whose `__init__` defines its `Format`
    (light: nothing heavy is imported until `routers()` is called). Its protocol modules read
    the clients' wire form and call the core: `access` for reads, `publish.publish_upload` with an
    `Upload` for writes, `service` and `versions` for the rest. The core never branches on a
    format's name; it asks the format.
    """

    name: str
    """Stored in `registry_repository.format` and given to the API (`pypi`)."""
    prefix: str
    """Path under which its protocol endpoints live (`/pypi`)."""
    created_on_push: bool
    """True: repositories are made by their first push (OCI), not through the API."""

    def client_url(self, repo: Repository, base_url: str) -> str:
        """Return the URL a client of this format is pointed at for `repo`."""
        ...

    def upload_url(self, repo: Repository, base_url: str) -> str:
        """Return the URL a client publishes to (the `client_url` unless uploads go elsewhere)."""
        ...

    def normalize(self, name: str) -> str:
        """Return the name a package is stored and found under (PEP 503 for PyPI)."""
        ...

    def file_url(self, repo: Repository, package: Package, file: PackageFile, base_url: str) -> str:
        """Return the absolute download URL of a file."""
        ...

    def body_limit(self, file_limit: int) -> int:
        """Return the largest request body an upload of a `file_limit`-byte file may be."""
        ...

    def routers(self) -> Sequence[APIRouter]:
        """Return its protocol routers (imported on first call)."""
        ...

    def hot_routes(self) -> Sequence[Route]:
        """Return its plain read routes, matched before FastAPI's router (`core.protocol`)."""
        ...
