"""What a caller may name: refs and paths checked before git sees them, and what a file is
(binary or text, which language) judged from its name and first bytes."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from devflow.core.errors import Invalid

MAX_REF = 255
MAX_PATH = 4096
SNIFF = 8000  # git's own binary test looks at this many first bytes for a NUL
_BAD_REF = re.compile(r"[\x00-\x20\x7f:?*\[\\]")


def check_ref(ref: str) -> str:
    """Return `ref` if it may be given to `git rev-parse` as a revision.

    Branch and tag names, full ref names and commit ids pass, and `~`/`^` suffixes; option-like
    (`-…`), range (`..`), path (`:`), control characters and over-long ones do not.

    Raises:
        Invalid: the ref cannot be one.
    """
    shown = ref[:80].encode("unicode_escape").decode()
    if not ref or len(ref) > MAX_REF:
        raise Invalid(f"a ref is 1-{MAX_REF} characters; got {len(ref)}")
    if ref.startswith("-"):
        raise Invalid(f"no ref starts with '-': {shown!r}")
    if ".." in ref or _BAD_REF.search(ref) or ref.endswith((".lock", "/", ".")):
        raise Invalid(
            f"{shown!r} is not a branch, tag or commit name (no spaces, control characters, "
            "'..', ':', '?', '*', '[' or '\\')"
        )
    return ref


def check_path(path: str | None) -> str:
    """Return `path` normalised (no leading or trailing '/'), '' for the root.

    Raises:
        Invalid: a `.` or `..` component, an empty one (`a//b`), NUL or control characters, or
            over 4096 characters.
    """
    if not path:
        return ""
    if len(path) > MAX_PATH:
        raise Invalid(f"a path is at most {MAX_PATH} characters; got {len(path)}")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in path):  # noqa: PLR2004 - control characters
        raise Invalid("a path holds no NUL or control characters")
    trimmed = path.strip("/")
    parts = trimmed.split("/")
    if trimmed and any(part in {"", ".", ".."} for part in parts):
        raise Invalid(f"a path has no '.', '..' or empty parts: {path[:200]!r}")
    return trimmed


def language_of(name: str) -> str | None:
    """Return highlight.js's name for a file's language, guessed from its name."""
    lower = name.lower()
    if lower in _NAMES:
        return _NAMES[lower]
    suffix = PurePosixPath(lower).suffix.lstrip(".")
    return _SUFFIXES.get(suffix)


_NAMES = {
    "dockerfile": "dockerfile",
    "makefile": "makefile",
    "gnumakefile": "makefile",
    "cmakelists.txt": "cmake",
    "gemfile": "ruby",
    "rakefile": "ruby",
    "jenkinsfile": "groovy",
    ".gitignore": "plaintext",
    "go.mod": "go",
}
_SUFFIXES = {
    **dict.fromkeys(("py", "pyi", "pyw"), "python"),
    **dict.fromkeys(("js", "mjs", "cjs", "jsx"), "javascript"),
    **dict.fromkeys(("ts", "tsx", "mts", "cts"), "typescript"),
    **dict.fromkeys(("c", "h"), "c"),
    **dict.fromkeys(("cc", "cpp", "cxx", "hpp", "hh", "hxx"), "cpp"),
    **dict.fromkeys(("sh", "bash", "zsh"), "bash"),
    **dict.fromkeys(("yml", "yaml"), "yaml"),
    **dict.fromkeys(("md", "markdown"), "markdown"),
    **dict.fromkeys(("html", "htm", "xhtml", "xml", "svg"), "xml"),
    **dict.fromkeys(("kt", "kts"), "kotlin"),
    **dict.fromkeys(("rb", "gemspec"), "ruby"),
    **dict.fromkeys(("pl", "pm"), "perl"),
    **dict.fromkeys(("ini", "cfg", "conf"), "ini"),
    "go": "go",
    "rs": "rust",
    "java": "java",
    "cs": "csharp",
    "php": "php",
    "swift": "swift",
    "scala": "scala",
    "lua": "lua",
    "r": "r",
    "sql": "sql",
    "json": "json",
    "toml": "ini",
    "css": "css",
    "scss": "scss",
    "less": "less",
    "vue": "xml",
    "dart": "dart",
    "ex": "elixir",
    "exs": "elixir",
    "erl": "erlang",
    "hs": "haskell",
    "clj": "clojure",
    "ml": "ocaml",
    "ps1": "powershell",
    "bat": "dos",
    "diff": "diff",
    "patch": "diff",
    "proto": "protobuf",
    "graphql": "graphql",
    "tf": "hcl",
    "dockerfile": "dockerfile",
    "txt": "plaintext",
    "rst": "plaintext",
}


def is_binary(data: bytes) -> bool:
    """Return whether content is binary: a NUL in its first 8000 bytes (git's test), or not
    UTF-8."""
    if b"\0" in data[:SNIFF]:
        return True
    try:
        data.decode()
    except UnicodeDecodeError as exc:
        # A multi-byte character cut by a read limit is still text.
        return exc.start < len(data) - 3
    return False


__all__ = ["MAX_PATH", "MAX_REF", "SNIFF", "check_path", "check_ref", "is_binary", "language_of"]
