"""Typed format-specific data of packages, versions and files, stored in their JSONB `meta`.

Each format declares its models (`formats/<format>/meta.py`) on these bases: a publish writes
`model.stored()`, a read takes `Model.of(row.meta)`. Fields a model does not know are ignored on
read, and unset optional ones are not stored, so a row's JSON stays what the format wrote.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

from pydantic import BaseModel, ConfigDict


class Meta(BaseModel):
    """Format-specific data of one row, as stored in its `meta` column."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    def stored(self) -> dict[str, Any]:
        """Return the JSON the row stores (fields left None are left out)."""
        return self.model_dump(mode="json", exclude_none=True)

    @classmethod
    def of(cls, stored: Mapping[str, Any]) -> Self:
        """Read a row's `meta` column."""
        return cls.model_validate(stored)


class PackageMeta(Meta):
    """What a format keeps about a package (npm: readme, maintainers); merged on each publish:
    a field left None keeps the package's earlier value."""


class VersionMeta(Meta):
    """What a format keeps about a version (PyPI: core metadata; npm: the manifest)."""


class FileMeta(Meta):
    """What a format keeps about a file (PyPI: file type; npm: shasum and integrity)."""

    metadata_size: int | None = None
    """Size of the file's derived metadata blob (`metadata_sha256`: PyPI's METADATA, PEP 658)."""


METADATA_SIZE = "metadata_size"
"""The key of `FileMeta.metadata_size` in the stored JSON (read by `FastReads` in SQL)."""

__all__ = ["METADATA_SIZE", "FileMeta", "Meta", "PackageMeta", "VersionMeta"]
