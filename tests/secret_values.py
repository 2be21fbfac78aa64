"""Every secret value the tests create, so the suite can prove none ever leaks.

Secrets tests make their values with `secret_value()` (a distinctive marker, `dfsv-` and 16 hex
digits) or `register()` a value they must spell out. `tests/leak_scan.py` looks for both in every
log record, every event and job of each test database, and the output of `devflow up` servers
(issue 18: "secret values never appear in logs, errors, events or API responses after
creation").
"""

from __future__ import annotations

import re
from secrets import token_hex

MARKER = r"dfsv-[0-9a-f]{16}"
"""What every generated value holds; PostgreSQL's regular expressions read it the same way."""

_registered: set[str] = set()
_pattern: re.Pattern[str] | None = None


def register(value: str) -> str:
    """Remember `value` as a secret no log or event may hold, and return it.

    Register only distinctive values: a common word would be found everywhere.
    """
    global _pattern  # noqa: PLW0603 - the one pattern, rebuilt when the registry grows
    if value not in _registered:
        _registered.add(value)
        _pattern = None
    return value


def secret_value(label: str = "") -> str:
    """A fresh registered value: `dfsv-<16 hex>`, after `label` when given."""
    return register(f"{label}dfsv-{token_hex(8)}")


def pattern() -> re.Pattern[str]:
    """One compiled regular expression: the marker or any registered value."""
    global _pattern  # noqa: PLW0603 - see register
    if _pattern is None:
        spelled = sorted((re.escape(v) for v in _registered if not re.search(MARKER, v)), key=len)
        _pattern = re.compile("|".join([MARKER, *reversed(spelled)]))
    return _pattern


def leaked(text: str) -> str | None:
    """The first secret value (or marker) in `text`, if any."""
    found = pattern().search(text)
    return found.group() if found else None
