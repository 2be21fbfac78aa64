"""The package formats, one sub-package each, and the one registry of them (`FORMATS`).

Adding a format (cargo, maven and apt come next) is writing its sub-package, whose `Format`
says how its clients reach it and whose protocol modules translate their wire form into calls
of the core (`publish.publish_upload` with an `Upload`), and naming it below.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from devflow.core.errors import Invalid
from devflow.registry.formats import npm, oci, pypi
from devflow.registry.formats.base import Format

FORMATS: Mapping[str, Format] = MappingProxyType(
    {fmt.name: fmt for fmt in (pypi.FORMAT, npm.FORMAT, oci.FORMAT)}
)
"""Every format served, by name; their routes are matched in this order."""


def find_format(name: str) -> Format | None:
    """Return the format called `name`, or None when none is served under it."""
    return FORMATS.get(name)


def get_format(name: str) -> Format:
    """Return the format called `name`.

    Raises:
        Invalid: no format of that name is served (naming the ones that are).
    """
    found = FORMATS.get(name)
    if found is None:
        raise Invalid(f"the {name} format is not available yet; available: {_names()}")
    return found


def api_formats() -> list[Format]:
    """Return the formats whose repositories are created through the API, by name."""
    return sorted((f for f in FORMATS.values() if not f.created_on_push), key=lambda f: f.name)


def _names() -> str:
    return ", ".join(f.name for f in api_formats())


__all__ = ["FORMATS", "Format", "api_formats", "find_format", "get_format"]
