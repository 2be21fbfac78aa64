"""npm package names, versions and dist-tags, accepted and refused as npm does.

- Names follow validate-npm-package-name. `check_name` (any name in a URL) takes what npm still
  serves for old packages; `check_new_name` (publish) adds its rules for new packages. One rule is
  left out on purpose: Node core module names (`events`, `buffer`, `punycode` …) are real packages
  on the public registry, teams publish patched forks of them, and the npm client only warns.
- Versions are strict SemVer 2.0 as node-semver parses them, in the form `npm publish` sends after
  `semver.clean` (no `v` or `=` prefix, no spaces).
- A dist-tag is URL-safe and is not a valid SemVer range: `npm install pkg@<tag>` would read a tag
  such as `1.x`, `v2` or `*` as a range, and `npm dist-tag add` refuses them for that reason.

The lengths DevFlow stores (128 characters for a version or a tag) are shorter than npm's 256.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from devflow.core.errors import Invalid

MAX_NAME = 214
MAX_VERSION = 128  # registry_version.version; node-semver allows 256
MAX_TAG = 128  # registry_tag.name
MAX_FILENAME = 255  # registry_file.filename, which holds `<name>-<version>.tgz`
_MAX_SAFE_INTEGER = 2**53 - 1  # node-semver refuses larger major, minor and patch numbers
_MAX_SEMVER = 256

# What JavaScript's encodeURIComponent leaves alone (after lower-casing: no A-Z).
_URL_SAFE = re.compile(r"[a-z0-9\-_.!~*'()]+", re.ASCII)
_TAG_SAFE = re.compile(r"[A-Za-z0-9\-_.!~*'()]+", re.ASCII)
_SPECIAL = re.compile(r"[~'!()*]")
_EXCLUDED = frozenset({"node_modules", "favicon.ico"})

# node-semver's regular expressions (internal/re.js), strict mode; `\d` there is ASCII only.
_NUM = r"0|[1-9][0-9]*"
_PRE_ID = rf"(?:[0-9]*[a-zA-Z-][a-zA-Z0-9-]*|{_NUM})"
_PRERELEASE = rf"(?:-({_PRE_ID}(?:\.{_PRE_ID})*))"
_BUILD = r"(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))"
_MAIN = rf"({_NUM})\.({_NUM})\.({_NUM})"
_VERSION = re.compile(rf"{_MAIN}{_PRERELEASE}?{_BUILD}?", re.ASCII)
_FULL = re.compile(rf"v?{_MAIN}{_PRERELEASE}?{_BUILD}?", re.ASCII)
_COMPARATOR = re.compile(rf"((?:<|>)?=?)\s*(v?{_MAIN}{_PRERELEASE}?{_BUILD}?)|", re.ASCII)
_XID = r"0|[1-9][0-9]*|x|X|\*"
_XRANGE_PLAIN = rf"[v=\s]*({_XID})(?:\.({_XID})(?:\.({_XID})(?:{_PRERELEASE})?{_BUILD}?)?)?"
_TILDE = re.compile(rf"~>?{_XRANGE_PLAIN}", re.ASCII)
_XRANGE = re.compile(rf"((?:<|>)?=?)\s*{_XRANGE_PLAIN}", re.ASCII)
_STAR = re.compile(r"(<|>)?=?\s*\*")

_URL_RULE = (
    "use lower-case letters, digits and - . _ only (no spaces, slashes or other characters "
    "that need escaping in a URL), optionally scoped as @scope/name"
)

_VERSION_FORM = (
    "npm versions are SemVer 2.0: MAJOR.MINOR.PATCH, optionally followed by -prerelease and "
    "+build (1.0.0, 2.1.0-beta.1, 1.0.0+20240101)"
)


def check_name(name: str) -> str:
    """Return the package name if npm serves packages by it (new and old ones).

    Raises:
        Invalid: saying which rule the name breaks.
    """
    problem = _name_problem(name)
    if problem:
        raise Invalid(f"{name!r} is not a valid npm package name: {problem}")
    return name


def check_new_name(name: str) -> str:
    """Return the package name if npm lets a new package be published under it.

    Raises:
        Invalid: saying which rule the name breaks.
    """
    check_name(name)
    if _SPECIAL.search(name.rsplit("/", 1)[-1]):
        raise Invalid(
            f"{name!r} is not a valid name for a new npm package: it can no longer contain "
            "the special characters ~'!()*; rename the package in package.json"
        )
    return name


def _name_problem(name: str) -> str | None:
    scope, slash, package = name.rpartition("/")
    parts = [scope[1:], package] if slash else [name]
    rules = (
        (not name, "it is empty"),
        (len(name) > MAX_NAME, f"it is longer than {MAX_NAME} characters"),
        (name != name.lower(), "it must be lower-case"),
        (name.startswith((".", "_", "-")), "it cannot start with '.', '_' or '-'"),
        (name in _EXCLUDED, f"{name} is reserved"),
        (
            bool(slash) and (not scope.startswith("@") or "/" in scope),
            "only a scoped name (@scope/name) contains a '/'",
        ),
        (not all(_URL_SAFE.fullmatch(part) for part in parts), _URL_RULE),
        (scope.startswith("@."), "a scope cannot start with '.'"),
        (bool(slash) and package.startswith("."), "it cannot start with '.'"),
    )
    return next((problem for broken, problem in rules if broken), None)


def check_version(version: str) -> str:
    """Return the version if it is a strict SemVer 2.0 version as `npm publish` sends it.

    Raises:
        Invalid: saying what a version looks like, or its cleaned form when npm would have
            cleaned it (`v1.2.3` is sent as `1.2.3`).
    """
    if len(version) > MAX_VERSION:
        raise Invalid(f"the version {version[:40]!r}… is longer than {MAX_VERSION} characters")
    if _semver(version, _VERSION) is None:
        cleaned = clean_version(version)
        if cleaned is not None:
            raise Invalid(f"{version!r} is not a valid npm version: write it as {cleaned!r}")
        raise Invalid(
            f"{version!r} is not a valid npm version: {_VERSION_FORM}; fix it in package.json"
        )
    return version


def clean_version(version: str) -> str | None:
    """Return node-semver's `semver.clean(version)`: the version without surrounding spaces, a
    `v`/`=` prefix or build metadata; None when it is not a version.

    `npm publish` sends the cleaned version, while the tarball's package.json keeps what the
    author wrote (`1.0.0+build.7` is published as 1.0.0).
    """
    match = _semver(re.sub(r"^[=v]+", "", version.strip()), _FULL)
    if match is None:
        return None
    major, minor, patch, prerelease, _ = match.groups()
    return f"{major}.{minor}.{patch}" + (f"-{prerelease}" if prerelease else "")


def _semver(text: str, pattern: re.Pattern[str]) -> re.Match[str] | None:
    """Match a whole version as node-semver's SemVer constructor accepts it."""
    match = pattern.fullmatch(text) if len(text) <= _MAX_SEMVER else None
    if match is None or any(int(n) > _MAX_SAFE_INTEGER for n in match.groups()[:3]):
        return None
    return match


def check_tag(tag: str) -> str:
    """Return the dist-tag if npm accepts it.

    Raises:
        Invalid: empty, too long, not URL-safe, or a SemVer version or range.
    """
    if not tag:
        raise Invalid("a dist-tag cannot be empty: name it, e.g. 'next' or 'beta'")
    if len(tag) > MAX_TAG:
        raise Invalid(f"the dist-tag {tag[:40]!r}… is longer than {MAX_TAG} characters")
    if not _TAG_SAFE.fullmatch(tag):
        raise Invalid(
            f"{tag!r} is not a valid dist-tag: use letters, digits and - . _ only (no spaces, "
            "slashes or other characters that need escaping in a URL)"
        )
    if is_range(tag):
        raise Invalid(
            f"{tag!r} is not a valid dist-tag: it is a valid SemVer version or range, which "
            f"`npm install <package>@{tag}` would read as one; use a name such as 'next' or "
            "'beta'"
        )
    return tag


def is_range(text: str) -> bool:
    """Return whether node-semver's `semver.validRange` accepts a URL-safe text.

    This follows Range's parsing for one comparator without spaces, `||`, `^`, `<`, `>`, `=` or
    `+` (a URL-safe text has none): tilde and x-ranges are expanded, the first `*` removed, and
    what is left must be comparators with SemVer versions.
    """
    if not _TAG_SAFE.fullmatch(text):
        raise ValueError(f"only URL-safe texts are supported, not {text!r}")
    tilde = _TILDE.fullmatch(text)
    comp = _expand_tilde(tilde) if tilde else text
    comp = " ".join(_expand_xrange(part) for part in comp.split())
    comp = _STAR.sub("", comp.strip(), count=1)
    return all(_comparator(part) for part in comp.split() or [""])


def _is_x(part: str | None) -> bool:
    return not part or part.lower() == "x" or part == "*"


def _expand_tilde(match: re.Match[str]) -> str:
    major, minor, patch, prerelease = match.group(1, 2, 3, 4)
    if _is_x(major):
        return ""
    if _is_x(minor):
        return f">={major}.0.0 <{int(major) + 1}.0.0-0"
    if _is_x(patch):
        return f">={major}.{minor}.0 <{major}.{int(minor) + 1}.0-0"
    low = f"{major}.{minor}.{patch}" + (f"-{prerelease}" if prerelease else "")
    return f">={low} <{major}.{int(minor) + 1}.0-0"


def _expand_xrange(comp: str) -> str:
    match = _XRANGE.fullmatch(comp)
    # An operator only comes from an expanded tilde (a URL-safe text has none), which has no x.
    if match is None or match.group(1):
        return comp
    major, minor, patch = match.group(2, 3, 4)
    if (_is_x(major) and not _is_x(minor)) or (_is_x(minor) and patch and not _is_x(patch)):
        return comp  # node-semver leaves `x.1` and `1.x.2` alone, to fail as comparators
    if _is_x(major):
        return "*"
    if _is_x(minor):
        return f">={major}.0.0 <{int(major) + 1}.0.0-0"
    if _is_x(patch):
        return f">={major}.{minor}.0 <{major}.{int(minor) + 1}.0-0"
    return comp


def _comparator(comp: str) -> bool:
    match = _COMPARATOR.fullmatch(comp)
    if match is None:
        return False
    version = match.group(2)
    return version is None or _semver(version, _FULL) is not None


def check_dist_tags(tags: Any) -> dict[str, str]:
    """Return a publish document's `dist-tags` if it maps valid tags to version strings.

    Raises:
        Invalid: not such an object, or a tag that `check_tag` refuses.
    """
    if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
        raise Invalid(
            '`dist-tags` must be an object of tag names and versions: {"latest": "1.0.0"}'
        )
    for tag in tags:
        check_tag(tag)
    return tags


@dataclass(frozen=True)
class PackagePath:
    """A parsed npm path: the package name and what follows it."""

    name: str
    rest: list[str]


def parse_path(path: str) -> PackagePath:
    """Split `@scope/name/-/file.tgz` (scoped or not) into the name and the rest.

    Raises:
        Invalid: a path with `..` or an invalid package name.
    """
    parts = [p for p in path.split("/") if p != ""]
    if any(p in {".", ".."} for p in parts) or not parts:
        raise Invalid(f"bad path {path!r}")
    take = 2 if parts[0].startswith("@") else 1
    if len(parts) < take:
        raise Invalid(f"bad package path {path!r}")
    return PackagePath(check_name("/".join(parts[:take])), parts[take:])
