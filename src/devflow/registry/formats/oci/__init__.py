"""OCI Distribution Spec v1.1 (and Docker Registry HTTP API v2) at `/v2/`.

Image repositories are named `<project>/<name>`: each is a registry repository of format `oci`,
created on the first push by a caller who may publish in that project (private by default).
Blobs live in the shared blob store; `registry_oci_blob` links a blob into a repository, so a
blob is only ever served, or mounted, through a repository the caller can read. Manifests are
stored byte-exact as blobs. Clients authenticate with Basic (any user name, a DevFlow token as
the password) or with a short-lived registry token from `/v2/token` (Docker token auth).

OCI keeps its own tables (manifests, tags, blob links) rather than packages, versions and files:
pushes commit blobs through `registry.blobs` and check access through `registry.access`, but do
not take the package publish path. This module is the format's description; the protocol is in
`api` and the modules it imports.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import APIRouter
    from starlette.routing import Route

    from devflow.registry.models import Package, PackageFile, Repository


class OciFormat:
    """The OCI format (`devflow.registry.formats.base.Format`)."""

    name = "oci"
    prefix = "/v2"
    created_on_push = True

    def client_url(self, repo: Repository, base_url: str) -> str:
        """Return the registry host, as `docker login` and image names want it."""
        del repo
        return base_url.split("://", 1)[-1]

    def upload_url(self, repo: Repository, base_url: str) -> str:
        """Images are pushed to the host they are pulled from."""
        return self.client_url(repo, base_url)

    def normalize(self, name: str) -> str:
        """Image names are stored as written (they are checked, never rewritten)."""
        return name

    def file_url(self, repo: Repository, package: Package, file: PackageFile, base_url: str) -> str:
        """Return the blob URL of a file (OCI repositories hold manifests and blobs instead)."""
        del package
        return f"{base_url}/v2/{repo.name}/blobs/sha256:{file.blob_sha256}"

    def body_limit(self, file_limit: int) -> int:
        """A blob (or a chunk of one), or a manifest."""
        return file_limit

    def routers(self) -> Sequence[APIRouter]:
        """Return the `/v2/` router (with the charts listing of the REST API)."""
        from devflow.registry.formats.oci.api import router

        return (router,)

    def hot_routes(self) -> Sequence[Route]:
        """None: pulls go through the dispatch route, which reads in an autocommit session."""
        return ()


FORMAT = OciFormat()

__all__ = ["FORMAT", "OciFormat"]
