"""What npm keeps about packages, versions and files."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from devflow.registry.meta import FileMeta, PackageMeta, VersionMeta


class NpmPackageMeta(PackageMeta):
    """A package's readme and who published it last (shown in packuments and search)."""

    readme: str | None = None
    """None on a publish without one: the package keeps its readme."""
    maintainers: list[dict[str, str]] | None = None
    publisher: str | None = None


class NpmVersionMeta(VersionMeta):
    """A version's manifest (its package.json as published), served in the packument."""

    manifest: dict[str, Any] = Field(default_factory=dict)


class NpmFileMeta(FileMeta):
    """A tarball's digests as npm states them: sha1 hex and a sha512 SRI string."""

    shasum: str
    integrity: str
