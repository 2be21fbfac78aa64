"""Globs of branch rules and protected files: `*` stays within a path segment, `**` crosses
them (`**/` also matches no folder at all), `?` is one character other than `/`; everything
else is literal. The same syntax as Gitea's rules, without its character classes."""

from __future__ import annotations

import re
from functools import lru_cache


@lru_cache(maxsize=1024)
def compile_glob(pattern: str) -> re.Pattern[str]:
    """Return the regular expression a glob stands for."""
    out, index = [], 0
    while index < len(pattern):
        if pattern.startswith("**/", index):
            out.append("(?:.*/)?")
            index += 3
        elif pattern.startswith("**", index):
            out.append(".*")
            index += 2
        elif pattern[index] == "*":
            out.append("[^/]*")
            index += 1
        elif pattern[index] == "?":
            out.append("[^/]")
            index += 1
        else:
            out.append(re.escape(pattern[index]))
            index += 1
    return re.compile("^" + "".join(out) + "$", re.DOTALL)


def matches(pattern: str, name: str) -> bool:
    """Return whether `name` matches the glob `pattern`."""
    return compile_glob(pattern).match(name) is not None


def is_glob(pattern: str) -> bool:
    """Return whether a pattern holds a wildcard (else it names one branch)."""
    return "*" in pattern or "?" in pattern


__all__ = ["compile_glob", "is_glob", "matches"]
