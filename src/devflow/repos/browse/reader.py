"""Reading a bare repository with git plumbing, for browsing.

Every ref and path a caller gives is checked first (`check_ref`, `check_path`: no NUL or control
characters, no `..`, no leading `-`), then a ref is resolved once to a commit id with
`rev-parse --verify --end-of-options`; later commands get object ids only, and a path only after
`--` with `GIT_LITERAL_PATHSPECS` (no glob or `:(magic)`). Output is read as bytes (names and
contents need not be UTF-8), bounded where it can be large, and a command running past the
timeout is killed. Nothing here writes to the repository.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from devflow.core.errors import DevflowError, Invalid, NotFound, Unavailable
from devflow.repos.browse.schemas import (
    BlameCommit,
    BlameRange,
    Branch,
    Commit,
    Diff,
    DiffFile,
    DiffStats,
    Person,
    Tag,
    TreeEntry,
)
from devflow.repos.browse.settings import BrowseSettings
from devflow.repos.storage import GitFailed, Storage

log = logging.getLogger(__name__)

MAX_REF = 255
MAX_PATH = 4096
_CHUNK = 64 * 1024
_SNIFF = 8000  # git's own binary test looks at this many first bytes for a NUL
_BAD_REF = re.compile(r"[\x00-\x20\x7f:?*\[\\]")
_OID = re.compile(r"^[0-9a-f]{40}(?:[0-9a-f]{24})?$")
_LOG_FORMAT = "%H%x1f%P%x1f%an%x1f%ae%x1f%aI%x1f%cn%x1f%ce%x1f%cI%x1f%B"
_STATUS = {
    "A": "added",
    "D": "deleted",
    "M": "modified",
    "R": "renamed",
    "C": "copied",
    "T": "type_changed",
}
_DIFF_HEADER = re.compile(rb"^diff --git ", re.MULTILINE)
Blamed = tuple[list[str], list[BlameRange], dict[str, BlameCommit]]
README_NAMES = ("readme.md", "readme.markdown", "readme", "readme.txt", "readme.rst")


class TooLarge(DevflowError):
    """A file too large for what was asked of it (its raw download still works)."""

    status = 413
    code = "too_large"


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
    if b"\0" in data[:_SNIFF]:
        return True
    try:
        data.decode()
    except UnicodeDecodeError as exc:
        # A multi-byte character cut by a read limit is still text.
        return exc.start < len(data) - 3
    return False


def _text(data: bytes) -> str:
    return data.decode(errors="replace")


def _date(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError:
        return None


@dataclass(frozen=True)
class Entry:
    """A tree entry as `ls-tree -l` gives it."""

    mode: str
    type: str
    sha: str
    size: int | None
    name: str


class Reader:
    """Read-only git plumbing on one bare repository."""

    def __init__(self, storage: Storage, folder: Path, limits: BrowseSettings, label: str) -> None:
        self.storage = storage
        self.folder = folder
        self.limits = limits
        self.label = label
        self.env = {
            **storage.env(),
            "GIT_LITERAL_PATHSPECS": "1",
            "GIT_NO_REPLACE_OBJECTS": "1",
            "GIT_OPTIONAL_LOCKS": "0",
        }

    # -- running git ------------------------------------------------------------------------------

    async def _start(self, *args: str) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            self.storage.git,
            *args,
            cwd=self.folder,
            env=self.env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )

    async def git(
        self, *args: str, limit: int | None = None, ok: tuple[int, ...] = (0,)
    ) -> tuple[int, bytes, bool]:
        """Run `git args…`; return its exit code, its output (at most `limit` bytes) and
        whether the output was cut at the limit (git is then stopped).

        Raises:
            GitFailed: git exited with a code not in `ok`.
            Unavailable: it ran past the timeout.
        """
        proc = await self._start(*args)
        assert proc.stdout is not None  # noqa: S101 - a PIPE
        assert proc.stderr is not None  # noqa: S101 - a PIPE
        try:
            async with asyncio.timeout(self.limits.timeout):
                (out, cut), err = await asyncio.gather(
                    _read(proc.stdout, limit), proc.stderr.read(64 * 1024)
                )
                if cut:
                    _kill(proc)
                code = await proc.wait()
        except TimeoutError:
            raise Unavailable(
                f"git took over {self.limits.timeout:g} s on {self.label}; ask for less "
                "(a path, a smaller page)"
            ) from None
        finally:
            if proc.returncode is None:
                _kill(proc)
                await proc.wait()
        if not cut and code not in ok:
            log.error("git %s failed: %s", args[0], err.decode(errors="replace")[-2000:])
            raise GitFailed(f"git {args[0]} failed on the server; its log says why")
        return code, out, cut

    async def stream_blob(self, sha: str) -> AsyncIterator[bytes]:
        """Yield a blob's bytes chunk by chunk (git is stopped if the reader goes away)."""
        proc = await self._start("cat-file", "blob", sha)
        assert proc.stdout is not None  # noqa: S101 - a PIPE
        try:
            while chunk := await proc.stdout.read(_CHUNK):
                yield chunk
            await proc.wait()
        finally:
            if proc.returncode is None:
                _kill(proc)
                await proc.wait()

    # -- refs -------------------------------------------------------------------------------------

    async def resolve(self, ref: str) -> str:
        """Return the commit id a branch, tag or commit name names.

        Raises:
            Invalid: not a ref (`check_ref`).
            NotFound: no such ref or commit in the repository.
        """
        check_ref(ref)
        code, out, _ = await self.git(
            "rev-parse",
            "--verify",
            "--quiet",
            "--end-of-options",
            f"{ref}^{{commit}}",
            ok=(0, 1, 128),
        )
        sha = out.decode(errors="replace").strip()
        if code != 0 or not _OID.match(sha):
            raise NotFound(f"no branch, tag or commit {ref} in {self.label}")
        return sha

    async def branches(self, default: str) -> list[Branch]:
        """Return the branches by name."""
        rows = await self._refs(
            "refs/heads/", "%(refname)%1f%(objectname)%1f%(committerdate:iso-strict)%1f%(subject)"
        )
        found = []
        for name, sha, date, subject in rows:
            short = name.removeprefix("refs/heads/")
            found.append(
                Branch(
                    name=short,
                    commit=sha,
                    date=_date(date),
                    subject=subject,
                    default=short == default,
                )
            )
        return found

    async def tags(self) -> list[Tag]:
        """Return the tags, newest first."""
        fields = (
            "%(refname)%1f%(objectname)%1f%(objecttype)%1f%(*objectname)%1f%(*objecttype)"
            "%1f%(creatordate:iso-strict)%1f%(contents:subject)"
        )
        rows = await self._refs("refs/tags/", fields, "--sort=-creatordate")
        found = []
        for name, sha, kind, peeled, peeled_kind, date, subject in rows:
            annotated = kind == "tag"
            commit = sha if kind == "commit" else (peeled if peeled_kind == "commit" else None)
            found.append(
                Tag(
                    name=name.removeprefix("refs/tags/"),
                    commit=commit,
                    sha=sha,
                    annotated=annotated,
                    date=_date(date),
                    message=subject,
                )
            )
        return found

    async def _refs(self, prefix: str, fields: str, *extra: str) -> list[list[str]]:
        _, out, _ = await self.git(
            "for-each-ref", f"--format={fields}%00", *extra, "--end-of-options", prefix
        )
        width = fields.count("%1f") + 1
        rows = []
        for chunk in _text(out).split("\0"):
            record = chunk.strip("\n")
            if record:
                row = record.split("\x1f")
                rows.append((row + [""] * width)[:width])
        return rows

    # -- trees and files --------------------------------------------------------------------------

    async def ls(self, tree: str) -> list[Entry]:
        """Return a tree's entries (by object id)."""
        _, out, _ = await self.git("ls-tree", "-l", "-z", "--end-of-options", tree)
        entries = []
        for record in out.split(b"\0"):
            if not record:
                continue
            meta, _, name = record.partition(b"\t")
            mode, kind, sha, size = meta.decode().split(maxsplit=3)
            entries.append(
                Entry(mode, kind, sha, int(size) if size.strip().isdigit() else None, _text(name))
            )
        return entries

    async def entry(self, commit: str, path: str) -> Entry:
        """Return the entry at `path` (a checked path) of a commit; the root is a tree.

        Raises:
            NotFound: nothing at that path.
        """
        _, out, _ = await self.git(
            "rev-parse", "--verify", "--end-of-options", f"{commit}^{{tree}}"
        )
        found = Entry("040000", "tree", out.decode().strip(), None, "")
        for name in path.split("/") if path else ():
            if found.type != "tree":
                raise NotFound(f"no {path} at {commit[:12]} in {self.label}")
            match = [e for e in await self.ls(found.sha) if e.name == name]
            if not match:
                raise NotFound(f"no {path} at {commit[:12]} in {self.label}")
            found = match[0]
        return found

    async def tree(self, commit: str, path: str) -> list[TreeEntry]:
        """Return a folder's entries, folders first.

        Raises:
            NotFound: no such folder.
            Invalid: the path is a file.
        """
        folder = await self.entry(commit, path)
        if folder.type != "tree":
            raise Invalid(f"{path} is a file, not a folder: read it with the file route")
        prefix = f"{path}/" if path else ""
        entries = [
            TreeEntry(
                name=e.name,
                path=prefix + e.name,
                type=e.type,
                mode=e.mode,
                size=e.size if e.type == "blob" else None,
                sha=e.sha,
            )
            for e in await self.ls(folder.sha)
        ]
        entries.sort(key=lambda e: (e.type != "tree", e.name))
        return entries

    async def blob(self, commit: str, path: str) -> Entry:
        """Return the file at `path`.

        Raises:
            NotFound: nothing there. Invalid: a folder or a submodule.
        """
        found = await self.entry(commit, path)
        if found.type != "blob":
            what = "a folder" if found.type == "tree" else "a submodule"
            raise Invalid(f"{path or '/'} is {what}, not a file: list it with the tree route")
        if found.size is None:
            _, out, _ = await self.git("cat-file", "-s", found.sha)
            found = Entry(found.mode, found.type, found.sha, int(out), found.name)
        return found

    async def head_bytes(self, sha: str, limit: int) -> bytes:
        """Return a blob's first `limit` bytes."""
        _, out, _ = await self.git("cat-file", "blob", sha, limit=limit)
        return out

    # -- history ----------------------------------------------------------------------------------

    async def log(
        self, commit: str, path: str, *, limit: int, offset: int
    ) -> tuple[list[Commit], int]:
        """Return a page of the history from `commit` (touching `path` if given), newest first,
        and how many commits it has in all."""
        spec = ["--", path] if path else ["--"]
        _, out, _ = await self.git(
            "log", f"--format={_LOG_FORMAT}", "-z", f"--skip={offset}", f"--max-count={limit}",
            "--end-of-options", commit, *spec,
        )  # fmt: skip
        _, count, _ = await self.git("rev-list", "--count", "--end-of-options", commit, *spec)
        return parse_log(out), int(count)

    async def commit(self, sha: str) -> Commit:
        """Return one commit (a resolved id)."""
        _, out, _ = await self.git(
            "log", f"--format={_LOG_FORMAT}", "-z", "--no-walk", "--end-of-options", sha
        )
        return parse_log(out)[0]

    async def range(self, base: str, head: str, *, limit: int) -> tuple[list[Commit], int]:
        """Return head's commits not on base (newest first, at most `limit`) and their count."""
        _, out, _ = await self.git(
            "log", f"--format={_LOG_FORMAT}", "-z", f"--max-count={limit}", "--end-of-options",
            head, f"^{base}", "--",
        )  # fmt: skip
        return parse_log(out), await self.count(base, head)

    async def count(self, base: str, head: str) -> int:
        """Return how many commits head has that base has not."""
        _, out, _ = await self.git(
            "rev-list", "--count", "--end-of-options", head, f"^{base}", "--"
        )
        return int(out)

    async def merge_base(self, one: str, two: str) -> str | None:
        """Return the best common ancestor, or None for unrelated histories."""
        code, out, _ = await self.git("merge-base", "--end-of-options", one, two, ok=(0, 1))
        return out.decode().strip() if code == 0 else None

    # -- diffs ------------------------------------------------------------------------------------

    async def diff(self, base: str | None, head: str) -> Diff:
        """Return the diff from `base` to `head` (from nothing when `base` is None).

        Every changed file counts in the stats; at most `max_diff_files` are listed, and patches
        stop at `max_diff_bytes` in all and `max_file_diff_bytes` each.
        """
        common: tuple[str, ...] = ("diff-tree", "-r", "-M", "--no-commit-id", "--no-color")
        common += ("--no-ext-diff",)
        common += ("--no-textconv",) if base is not None else ("--no-textconv", "--root")
        sides = [base, head] if base is not None else [head]
        _, listing, _ = await self.git(
            *common, "-z", "--raw", "--numstat", "--end-of-options", *sides
        )
        files = parse_raw_numstat(listing)
        limits = self.limits
        shown = files[: limits.max_diff_files]
        _, patch, cut = await self.git(
            *common, "-p", "--end-of-options", *sides, limit=limits.max_diff_bytes
        )
        starts = [m.start() for m in _DIFF_HEADER.finditer(patch)]
        truncated = len(files) > len(shown) or cut
        for i, changed in enumerate(shown):
            if i >= len(starts) or (cut and i == len(starts) - 1):
                changed.truncated = cut
                continue
            end = starts[i + 1] if i + 1 < len(starts) else len(patch)
            piece = patch[starts[i] : end]
            if len(piece) > limits.max_file_diff_bytes:
                changed.too_large = True
            elif not changed.binary:
                changed.patch = _text(piece)
        return Diff(
            files=shown,
            stats=DiffStats(
                files=len(files),
                additions=sum(f.additions for f in files),
                deletions=sum(f.deletions for f in files),
            ),
            truncated=truncated,
        )

    # -- blame ------------------------------------------------------------------------------------

    async def blame(
        self, commit: str, path: str
    ) -> tuple[list[str], list[BlameRange], dict[str, BlameCommit]]:
        """Return a file's lines, who last changed which, and those commits.

        Raises:
            NotFound, Invalid: as `blob`. TooLarge: over the file limit, or binary.
        """
        found = await self.blob(commit, path)
        limit = self.limits.max_file_bytes
        if (found.size or 0) > limit:
            raise TooLarge(f"{path} is {found.size} bytes; blame shows files up to {limit}")
        if is_binary(await self.head_bytes(found.sha, _SNIFF)):
            raise TooLarge(f"{path} is binary: there are no lines to blame")
        # blame takes no --end-of-options (git 2.39); `commit` is a resolved id, never an option
        _, out, _ = await self.git("blame", "--porcelain", commit, "--", path)
        return parse_blame(out)


def _kill(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):  # it exited meanwhile
        proc.kill()


async def _read(stream: asyncio.StreamReader, limit: int | None) -> tuple[bytes, bool]:
    if limit is None:
        return await stream.read(), False
    data = bytearray()
    while len(data) <= limit:
        chunk = await stream.read(_CHUNK)
        if not chunk:
            return bytes(data), False
        data += chunk
    return bytes(data[:limit]), True


def parse_log(out: bytes) -> list[Commit]:
    """Parse `git log -z --format=_LOG_FORMAT` output."""
    commits = []
    for record in _text(out).split("\0"):
        if not record.strip():
            continue
        sha, parents, an, ae, ad, cn, ce, cd, message = record.lstrip("\n").split("\x1f", 8)
        epoch = datetime.fromtimestamp(0, UTC)
        message = message.rstrip("\n")
        commits.append(
            Commit(
                sha=sha,
                parents=parents.split(),
                author=Person(name=an, email=ae, date=_date(ad) or epoch),
                committer=Person(name=cn, email=ce, date=_date(cd) or epoch),
                subject=message.split("\n", 1)[0],
                message=message,
            )
        )
    return commits


def _sha(value: str) -> str | None:
    return None if set(value) == {"0"} else value


def _mode(value: str) -> str | None:
    return None if set(value) == {"0"} else value


def parse_raw_numstat(out: bytes) -> list[DiffFile]:
    """Parse `git diff-tree -z --raw --numstat`: the raw records, then as many numstat ones."""
    tokens = _text(out).split("\0")
    files: list[DiffFile] = []
    i = 0
    while i < len(tokens) and tokens[i].startswith(":"):
        old_mode, new_mode, old_sha, new_sha, status = tokens[i][1:].split()
        letter = status[0]
        if letter in "RC":
            old_path, path = tokens[i + 1], tokens[i + 2]
            i += 3
        else:
            old_path, path = None, tokens[i + 1]
            i += 2
        files.append(
            DiffFile(
                path=path,
                old_path=old_path,
                status=_STATUS.get(letter, "modified"),
                old_mode=_mode(old_mode),
                new_mode=_mode(new_mode),
                old_sha=_sha(old_sha),
                new_sha=_sha(new_sha),
                additions=0,
                deletions=0,
                binary=False,
                patch=None,
                too_large=False,
                truncated=False,
            )
        )
    for changed in files:
        if i >= len(tokens):
            break
        added, deleted, rest = ([*tokens[i].split("\t", 2), "", ""])[:3]
        i += 1 if rest else 3  # a rename's paths follow in two tokens of their own
        if added == "-":
            changed.binary = True
        else:
            changed.additions, changed.deletions = int(added or 0), int(deleted or 0)
    return files


def parse_blame(out: bytes) -> Blamed:
    """Parse `git blame --porcelain`."""
    lines: list[str] = []
    ranges: list[BlameRange] = []
    commits: dict[str, BlameCommit] = {}
    info: dict[str, dict[str, str]] = {}
    current: dict[str, str] = {}
    sha, original, filename = "", 0, ""
    for raw in out.split(b"\n"):
        if raw.startswith(b"\t"):
            lines.append(_text(raw[1:]))
            filename = current.get("filename", filename)
            last = ranges[-1] if ranges else None
            if (
                last is not None
                and last.commit == sha
                and last.start + last.count == len(lines)
                and last.original_start + last.count == original
                and last.original_path == filename
            ):
                last.count += 1
            else:
                ranges.append(
                    BlameRange(
                        commit=sha,
                        start=len(lines),
                        count=1,
                        original_start=original,
                        original_path=filename,
                    )
                )
            continue
        text = _text(raw)
        head = text.split(" ")
        if len(head) >= 3 and _OID.match(head[0]):  # noqa: PLR2004 - "<sha> <orig> <final> [n]"
            sha, original = head[0], int(head[1])
            current = info.setdefault(sha, {})
        elif text:
            key, _, value = text.partition(" ")
            current[key] = value
    for sha, fields in info.items():
        stamp = int(fields.get("author-time", "0") or 0)
        commits[sha] = BlameCommit(
            sha=sha,
            author=fields.get("author", ""),
            email=fields.get("author-mail", "").strip("<>"),
            date=datetime.fromtimestamp(stamp, UTC),
            summary=fields.get("summary", ""),
        )
    return lines, ranges, commits


__all__ = [
    "README_NAMES",
    "Reader",
    "TooLarge",
    "check_path",
    "check_ref",
    "is_binary",
    "language_of",
]
