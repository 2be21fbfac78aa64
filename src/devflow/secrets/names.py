"""What a secret's name and an environment's name may be (light: the CLI checks names before
it asks the server)."""

from __future__ import annotations

import re

from devflow.core.errors import Invalid

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
ENVIRONMENT = re.compile(r"^[a-z][a-z0-9-]{0,31}$")


def check_name(name: str) -> str:
    """Return a valid secret name, or raise Invalid saying what one looks like."""
    if not NAME.fullmatch(name):
        shown = name[:40].encode("unicode_escape").decode()
        raise Invalid(
            f"invalid secret name {shown!r}: use letters, digits and `_`, starting with a letter "
            "or `_`, at most 128 (a name is also the environment variable it becomes)",
            details={"field": "name"},
        )
    return name


def check_environment(environment: str | None, default: str) -> str:
    """Return a valid environment name (`default` when none), or raise Invalid."""
    value = default if environment is None else environment
    if not ENVIRONMENT.fullmatch(value):
        shown = value[:40].encode("unicode_escape").decode()
        raise Invalid(
            f"invalid environment {shown!r}: lower-case letters, digits and `-`, starting with "
            "a letter, at most 32 (development, staging, production …)",
            details={"field": "environment"},
        )
    return value


__all__ = ["ENVIRONMENT", "NAME", "check_environment", "check_name"]
