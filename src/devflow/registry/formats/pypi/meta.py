"""What PyPI keeps about versions and files (core metadata fields, PEP 566 names)."""

from __future__ import annotations

from devflow.registry.meta import FileMeta, VersionMeta


class PypiFileMeta(FileMeta):
    """A distribution file: its type and the Python versions it is for."""

    filetype: str = ""
    """`bdist_wheel` or `sdist`."""
    pyversion: str = ""
    """The upload form's `pyversion` (`py3`, `source`)."""
    requires_python: str = ""
    """`Requires-Python`, shown in the index as `requires-python` (PEP 503/691)."""


class PypiVersionMeta(VersionMeta):
    """A version's core metadata as the upload form carried it (fields absent stay None)."""

    metadata_version: str | None = None
    summary: str | None = None
    home_page: str | None = None
    author: str | None = None
    author_email: str | None = None
    maintainer: str | None = None
    maintainer_email: str | None = None
    license: str | None = None
    license_expression: str | None = None
    keywords: str | None = None
    requires_python: str | None = None
    description_content_type: str | None = None
    description: str | None = None
    classifiers: list[str] | None = None
    requires_dist: list[str] | None = None
    project_urls: list[str] | None = None
    provides_extra: list[str] | None = None
    platform: list[str] | None = None


TEXT_FIELDS = (
    "metadata_version",
    "summary",
    "home_page",
    "author",
    "author_email",
    "maintainer",
    "maintainer_email",
    "license",
    "license_expression",
    "keywords",
    "requires_python",
    "description_content_type",
)
LIST_FIELDS = ("classifiers", "requires_dist", "project_urls", "provides_extra", "platform")
