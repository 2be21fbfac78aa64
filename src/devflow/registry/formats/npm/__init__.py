"""npm: packuments (full and abbreviated), tarballs, publish, dist-tags, deprecate, unpublish,
CouchDB-style login with a DevFlow token, whoami, ping and search, at `/npm/<repo>/`.

Auth is `Authorization: Bearer <token>` from `.npmrc` (`//host/npm/<repo>/:_authToken=…`), or
Basic with the token as the password. The protocol lives in `reads`, `writes` and `upload`;
this module is the format's description.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import APIRouter
    from starlette.routing import Route

    from devflow.registry.models import Package, PackageFile, Repository


def publish_body_limit(file_limit: int) -> int:
    """Return the largest publish document for a tarball of `file_limit` bytes: npm sends it
    base64-encoded inside JSON with the package's manifest."""
    return file_limit * 4 // 3 + 1024 * 1024


class NpmFormat:
    """The npm format (`devflow.registry.formats.base.Format`)."""

    name = "npm"
    prefix = "/npm"
    created_on_push = False

    def client_url(self, repo: Repository, base_url: str) -> str:
        """Return the registry URL of `repo`, for `.npmrc`."""
        return f"{base_url}/npm/{repo.name}/"

    def upload_url(self, repo: Repository, base_url: str) -> str:
        """npm publishes to the registry URL it installs from."""
        return self.client_url(repo, base_url)

    def normalize(self, name: str) -> str:
        """npm names are exact (lower-case for new packages, checked on publish)."""
        return name

    def file_url(self, repo: Repository, package: Package, file: PackageFile, base_url: str) -> str:
        """Return the tarball URL npm would fetch."""
        basename = file.filename.rsplit("/", 1)[-1]
        return f"{base_url}/npm/{repo.name}/{package.name}/-/{basename}"

    def body_limit(self, file_limit: int) -> int:
        """A publish document: the tarball in base64, and the manifests."""
        return publish_body_limit(file_limit)

    def routers(self) -> Sequence[APIRouter]:
        """Return the npm routes (one router)."""
        from devflow.registry.formats.npm.api import router

        return (router,)

    def hot_routes(self) -> Sequence[Route]:
        """Return the read route (packuments, tarballs, whoami, search …)."""
        from devflow.registry.formats.npm.api import HOT_ROUTES

        return HOT_ROUTES


FORMAT = NpmFormat()

__all__ = ["FORMAT", "NpmFormat", "publish_body_limit"]
