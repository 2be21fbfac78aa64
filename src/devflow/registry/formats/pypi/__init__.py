"""PyPI: the simple index (PEP 503 HTML, PEP 691 JSON, PEP 658/714 metadata, PEP 592 yanks,
PEP 700 versions and sizes) and the legacy upload API used by twine, uv, poetry and hatch.

Index: `/pypi/<repo>/simple/`; files: `/pypi/<repo>/files/<filename>`; uploads:
`/pypi/<repo>/legacy/`. Auth is HTTP Basic `__token__:<token>` (or Bearer). The protocol lives
in `index` (reads) and `upload` (the legacy API); this module is the format's description.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from devflow.registry.formats.pypi.names import normalize

if TYPE_CHECKING:
    from fastapi import APIRouter
    from starlette.routing import Route

    from devflow.registry.models import Package, PackageFile, Repository


class PypiFormat:
    """The PyPI format (`devflow.registry.formats.base.Format`)."""

    name = "pypi"
    prefix = "/pypi"
    created_on_push = False

    def client_url(self, repo: Repository, base_url: str) -> str:
        """Return the simple index of `repo`, for pip's `--index-url`."""
        return f"{base_url}/pypi/{repo.name}/simple/"

    def upload_url(self, repo: Repository, base_url: str) -> str:
        """Return the legacy upload API of `repo`, for twine's `--repository-url`."""
        return f"{base_url}/pypi/{repo.name}/legacy/"

    def normalize(self, name: str) -> str:
        """Return the PEP 503 normalized name."""
        return normalize(name)

    def file_url(self, repo: Repository, package: Package, file: PackageFile, base_url: str) -> str:
        """Return the download URL of a distribution file."""
        del package
        return f"{base_url}/pypi/{repo.name}/files/{file.filename}"

    def body_limit(self, file_limit: int) -> int:
        """One file and the form's text fields."""
        from devflow.registry.formats.pypi.multipart import FIELDS_LIMIT

        return file_limit + FIELDS_LIMIT

    def routers(self) -> Sequence[APIRouter]:
        """Return the index and upload routes (one router)."""
        from devflow.registry.formats.pypi.api import router

        return (router,)

    def hot_routes(self) -> Sequence[Route]:
        """Return the project pages and file downloads."""
        from devflow.registry.formats.pypi.api import HOT_ROUTES

        return HOT_ROUTES


FORMAT = PypiFormat()

__all__ = ["FORMAT", "PypiFormat"]
