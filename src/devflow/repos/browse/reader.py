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
from pathlib import Path

from devflow.core.errors import DevflowError, Invalid, NotFound, Unavailable
from devflow.repos.browse.checks import SNIFF, check_ref, is_binary
from devflow.repos.browse.parse import (
    LOG_FORMAT,
    OID,
    Blamed,
    date,
    parse_blame,
    parse_log,
    parse_raw_numstat,
    text,
)
from devflow.repos.browse.schemas import Branch, Commit, Diff, DiffStats, Tag, TreeEntry
from devflow.repos.browse.settings import BrowseSettings
from devflow.repos.storage import GitFailed, Storage

log = logging.getLogger(__name__)

_CHUNK = 64 * 1024
_DIFF_HEADER = re.compile(rb"^diff --git ", re.MULTILINE)
README_NAMES = ("readme.md", "readme.markdown", "readme", "readme.txt", "readme.rst")


class TooLarge(DevflowError):
    """A file too large for what was asked of it (its raw download still works)."""

    status = 413
    code = "too_large"


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
        if code != 0 or not OID.match(sha):
            raise NotFound(f"no branch, tag or commit {ref} in {self.label}")
        return sha

    async def branches(self, default: str) -> list[Branch]:
        """Return the branches by name."""
        rows = await self._refs(
            "refs/heads/", "%(refname)%1f%(objectname)%1f%(committerdate:iso-strict)%1f%(subject)"
        )
        found = []
        for name, sha, when, subject in rows:
            short = name.removeprefix("refs/heads/")
            found.append(
                Branch(
                    name=short,
                    commit=sha,
                    date=date(when),
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
        for name, sha, kind, peeled, peeled_kind, when, subject in rows:
            annotated = kind == "tag"
            commit = sha if kind == "commit" else (peeled if peeled_kind == "commit" else None)
            found.append(
                Tag(
                    name=name.removeprefix("refs/tags/"),
                    commit=commit,
                    sha=sha,
                    annotated=annotated,
                    date=date(when),
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
        for chunk in text(out).split("\0"):
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
                Entry(mode, kind, sha, int(size) if size.strip().isdigit() else None, text(name))
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
            "log", f"--format={LOG_FORMAT}", "-z", f"--skip={offset}", f"--max-count={limit}",
            "--end-of-options", commit, *spec,
        )  # fmt: skip
        _, count, _ = await self.git("rev-list", "--count", "--end-of-options", commit, *spec)
        return parse_log(out), int(count)

    async def commit(self, sha: str) -> Commit:
        """Return one commit (a resolved id)."""
        _, out, _ = await self.git(
            "log", f"--format={LOG_FORMAT}", "-z", "--no-walk", "--end-of-options", sha
        )
        return parse_log(out)[0]

    async def range(self, base: str, head: str, *, limit: int) -> tuple[list[Commit], int]:
        """Return head's commits not on base (newest first, at most `limit`) and their count."""
        _, out, _ = await self.git(
            "log", f"--format={LOG_FORMAT}", "-z", f"--max-count={limit}", "--end-of-options",
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
                changed.patch = text(piece)
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

    async def blame(self, commit: str, path: str) -> Blamed:
        """Return a file's lines, who last changed which, and those commits.

        Raises:
            NotFound, Invalid: as `blob`. TooLarge: over the file limit, or binary.
        """
        found = await self.blob(commit, path)
        limit = self.limits.max_file_bytes
        if (found.size or 0) > limit:
            raise TooLarge(f"{path} is {found.size} bytes; blame shows files up to {limit}")
        if is_binary(await self.head_bytes(found.sha, SNIFF)):
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


__all__ = ["README_NAMES", "Entry", "Reader", "TooLarge"]
