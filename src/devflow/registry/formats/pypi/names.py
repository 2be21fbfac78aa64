"""Python package names (PEP 503 normalization, PEP 508 validity) and distribution file names."""

from __future__ import annotations

import re

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from devflow.core.errors import Invalid

_VALID_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)
_SAFE_FILENAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+!-]*$")


def normalize(name: str) -> str:
    """Return the PEP 503 normalized form of a project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def check_name(name: str) -> str:
    """Return the name if it is a valid project name (PEP 508).

    Raises:
        Invalid: saying what a valid name looks like.
    """
    if not _VALID_NAME.match(name) or len(name) > 200:  # noqa: PLR2004
        raise Invalid(
            f"{name!r} is not a valid project name: use letters, digits, '.', '_' and '-', "
            "starting and ending with a letter or digit"
        )
    return name


def check_version(version: str) -> Version:
    """Parse a PEP 440 version.

    Raises:
        Invalid: it is not one.
    """
    try:
        return Version(version)
    except InvalidVersion:
        raise Invalid(f"{version!r} is not a valid PEP 440 version") from None


def parse_filename(filename: str) -> tuple[str, Version, str]:
    """Return (normalized name, version, filetype) of a wheel or sdist file name.

    Raises:
        Invalid: a path (`/`, `\\`, `..`), an unsafe character or not a distribution name.
    """
    if (
        "/" in filename
        or "\\" in filename
        or ".." in filename
        or not _SAFE_FILENAME.match(filename)
    ):
        raise Invalid(
            f"{filename!r} is not an acceptable file name: no paths, '..' or special characters"
        )
    try:
        if filename.endswith(".whl"):
            name, version, _, _ = parse_wheel_filename(filename)
            return normalize(name), version, "bdist_wheel"
        if filename.endswith((".tar.gz", ".zip")):
            name, version = parse_sdist_filename(filename)
            return normalize(name), version, "sdist"
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion) as exc:
        raise Invalid(f"{filename!r} is not a valid distribution file name: {exc}") from None
    raise Invalid(f"{filename!r}: only wheels (.whl) and sdists (.tar.gz, .zip) are accepted")
