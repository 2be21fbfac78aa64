"""What a source's location is, and what is wrong with one that is none: the server refuses with
these words and the CLI guides with them, so both say the same thing.

A location is a web address (http, https), a git remote (https, ssh, git, `user@host:path`), an
absolute folder of the DevFlow server (also spelt `file:///path`), or `upload`. Anything else gets
a message naming what it looks like (an unknown scheme, a host without a scheme, a relative path)
and what to write instead. Light on imports: the CLI loads it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

from devflow.core.errors import Invalid
from devflow.knowledge.extract import kind_of

SCHEMES = ("http", "https", "ssh", "git", "file")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_SCP_LIKE = re.compile(r"^[\w.-]+@[\w.-]+:")
# A host name with a top-level label of letters, maybe a port and a path: `docs.example.com/x`.
_HOST_LIKE = re.compile(
    r"^(?P<host>(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,63})(?::\d{1,5})?(?:/\S*)?$"
)
_FORMS = (
    "a web address (https://docs.example.com/), a git URL (https://host/team/repo.git, "
    "git@host:team/repo.git), or an absolute folder of the DevFlow server (/srv/docs, "
    "file:///srv/docs)"
)


def scheme_of(location: str) -> str | None:
    """Return the location's URL scheme in lower case (`user@host:path` has none)."""
    if _SCP_LIKE.match(location):
        return None
    match = _SCHEME.match(location)
    return match[1].lower() if match else None


def file_url_path(location: str) -> str | None:
    """Return the absolute path a `file://` URL names, or None for any other location.

    Raises:
        Invalid: a `file:` URL with a host, a control character or without an absolute path.
    """
    if scheme_of(location) != "file":
        return None
    parts = urlsplit(location)
    path = unquote(parts.path)
    if any(ord(c) < 32 or ord(c) == 127 for c in path):  # noqa: PLR2004 - control characters
        raise Invalid(
            f"{location[:200]!r} names a path with a control character; no folder has one"
        )
    if parts.netloc not in {"", "localhost"} or not path.startswith("/") or parts.query:
        raise Invalid(
            f"{location[:200]!r} is not a file URL of the DevFlow server: write "
            "file:///absolute/path (three slashes, no host), or the path itself"
        )
    return path


def suggested_url(location: str) -> str | None:
    """Return `https://<location>` when the location reads as a host name without a scheme
    (`nope.example`, `docs.python.org/3/`), not as the name of a file (`notes.md`)."""
    if scheme_of(location) is not None or location.startswith((".", "/", "~")):
        return None
    match = _HOST_LIKE.match(location)
    if match is None:
        return None
    host = match["host"]
    if "/" not in location and kind_of(host) is not None:
        return None  # `notes.md`, `setup.py`: a file that is not there, not a host
    return f"https://{location}"


def not_a_location(location: str, *, here: str = "") -> str:
    """Return what is wrong with a location that is neither a URL nor an absolute path, and what
    to write instead; `here` says where a relative path was looked for (the CLI's folder)."""
    shown = location[:200]
    scheme = scheme_of(location)
    if scheme is not None and scheme not in SCHEMES:
        return (
            f"{shown!r} has an unknown scheme {scheme + ':'!r}; DevFlow reads "
            f"{', '.join(s + '://' for s in SCHEMES)} and user@host:path. Give {_FORMS}"
        )
    url = suggested_url(location)
    if url is not None:
        return (
            f"{shown!r} is not a URL{', nor a file or folder ' + here if here else ''}; it looks "
            f"like a host name: did you mean {url} ?"
        )
    if here:
        return (
            f"no file or folder {shown!r} {here}. Give an existing folder or file to upload, or "
            f"{_FORMS}"
        )
    return (
        f"{shown!r} is a relative path, which the DevFlow server cannot place: give {_FORMS}. "
        "To send a folder of your own, run `devflow knowledge add <folder>` where it is"
    )


def git_layout(path: Path) -> Literal["worktree", "bare"] | None:
    """Return whether `path` is a git working tree, a bare repository (as a server keeps them:
    `HEAD`, `objects/` and `refs/` at the top), or neither."""
    if (path / ".git").exists():
        return "worktree"
    if (path / "HEAD").is_file() and (path / "objects").is_dir() and (path / "refs").is_dir():
        return "bare"
    return None


def pick_default_branch(head: str, branches: list[str], repo: object) -> str:
    """Return the branch to read of a repository whose HEAD names `head` and which has
    `branches`: HEAD's, or where that has no commit (a bare repository made with another
    default than what was pushed to it) its only branch, `main` or `master`.

    Raises:
        Invalid: no branch, or several and none of them the default.
    """
    if head in branches:
        return head
    if len(branches) == 1:
        return branches[0]
    for usual in ("main", "master"):
        if usual in branches:
            return usual
    if not branches:
        raise Invalid(f"the git repository {repo} has no branch with a commit")
    raise Invalid(
        f"the git repository {repo} names {head or 'no branch'} as its default, which has no "
        f"commit; choose one of its branches ({', '.join(branches[:10])}) with --ref"
    )


__all__ = [
    "SCHEMES",
    "file_url_path",
    "git_layout",
    "not_a_location",
    "pick_default_branch",
    "scheme_of",
    "suggested_url",
]
