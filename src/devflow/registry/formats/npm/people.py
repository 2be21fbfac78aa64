"""People in npm documents — maintainers, the publisher (`_npmUser`) and the author — in the
shapes npm's clients read.

The npm registry gives every person a name and an email: packuments carry `{name, email}`
(`maintainers`, `_npmUser`), search results `{username, email}`. npm 10 and 11 rely on it:
`npm search` crashes on a maintainer without `username`, and `npm view` prints an absent email
as `admin <undefined>`. DevFlow does not hand out its users' addresses (a public repository would
give them to anyone), so a person's email is the empty string, which npm shows as no email.
"""

from __future__ import annotations

import re
from typing import Any

_NAME = re.compile(r"^([^(<]+)")
_EMAIL = re.compile(r"<([^<>]+)>")
_URL = re.compile(r"\(([^()]+)\)")
_PERSON_KEYS = frozenset({"name", "email", "url"})


def person(name: str) -> dict[str, str]:
    """Return a DevFlow user as packuments show people (`maintainers`, `_npmUser`)."""
    return {"name": name, "email": ""}


def search_person(name: str) -> dict[str, str]:
    """Return a DevFlow user as search results show people (`publisher`, `maintainers`)."""
    return {"username": name, "email": ""}


def names(people: Any) -> list[str]:
    """Return the names in a stored list of people (`[{"name": …}]`), skipping malformed ones."""
    if not isinstance(people, list):
        return []
    return [p["name"] for p in people if isinstance(p, dict) and isinstance(p.get("name"), str)]


def publisher(stored: Any) -> dict[str, str] | None:
    """Return a version's stored `_npmUser` in the registry's shape, or None if it has none."""
    if isinstance(stored, dict) and isinstance(stored.get("name"), str):
        return person(stored["name"])
    return None


def author(value: Any) -> dict[str, str] | None:
    """Return a package.json `author` as the registry serves it: an object with `name`, and
    `email` and `url` when given. A string (`"Ann <ann@example.com> (https://ann.dev)"`) is
    parsed as npm's normalize-package-data parses it; anything else is dropped."""
    parsed: dict[str, str] = {}
    if isinstance(value, dict):
        parsed = {k: v for k, v in value.items() if k in _PERSON_KEYS and isinstance(v, str)}
    elif isinstance(value, str):
        if (name := _NAME.match(value)) and name[0].strip():
            parsed["name"] = name[0].strip()
        if email := _EMAIL.search(value):
            parsed["email"] = email[1]
        if url := _URL.search(value):
            parsed["url"] = url[1]
    return parsed or None


__all__ = ["author", "names", "person", "publisher", "search_person"]
