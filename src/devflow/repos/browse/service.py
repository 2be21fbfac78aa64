"""Browsing as service functions: each takes an opened repository (`Browse`: the row, a
`Reader` on its files, and the caller's view of its name) and returns the API's answer. The
caller's access is checked once, when it is opened (`open_repository`: read access, as a clone).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TypeVar
from urllib.parse import quote, urlencode

from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core.auth import Principal
from devflow.core.config import Settings
from devflow.core.errors import Invalid, NotFound
from devflow.core.schemas import Page
from devflow.repos import access, service
from devflow.repos.browse.checks import SNIFF, check_path, check_ref, is_binary, language_of
from devflow.repos.browse.reader import README_NAMES, Entry, Reader
from devflow.repos.browse.schemas import (
    Blame,
    Branch,
    CommitDetail,
    CommitPage,
    Comparison,
    FileView,
    Readme,
    Tag,
    Tree,
)
from devflow.repos.models import GitRepository
from devflow.repos.settings import ReposSettings
from devflow.repos.storage import Storage

PREFIX = "/api/v1/projects/{project}/repos/{name}"
MAX_COMPARE_COMMITS = 250
# Served with their own type; anything else is text/plain or application/octet-stream (an SVG
# can hold script, so it is no image here).
IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".bmp": "image/bmp",
    ".ico": "image/x-icon",
}
T = TypeVar("T")
OCTET_STREAM = "application/octet-stream"
PLAIN_TEXT = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class Browse:
    """A repository the caller may read, opened for browsing."""

    repo: GitRepository
    reader: Reader
    project: str
    base_url: str

    async def at(self, ref: str | None) -> tuple[str, str]:
        """Return the ref (the default branch when None) and the commit it names."""
        ref = ref if ref is not None else self.repo.default_branch
        return ref, await self.reader.resolve(ref)


async def open_repository(
    session: AsyncSession,
    *,
    principal: Principal | None,
    project: str,
    name: str,
    settings: Settings,
) -> Browse:
    """Return a repository the caller may read, with a reader on its files.

    Raises:
        Unauthenticated, NotFound, PermissionDenied: see `access.require_read`.
    """
    label = service.full_name(project[:64], name[:100])
    found = await service.get_repository(session, project=project, name=name)
    repo = access.require_read(principal, found, label)
    storage = Storage.of(settings)
    limits = settings.section(ReposSettings).browse
    reader = Reader(storage, storage.path(repo.id), limits, label)
    return Browse(repo, reader, project, settings.base_url)


def _page(items: list[T], limit: int, offset: int) -> Page[T]:
    return Page(items=items[offset : offset + limit], total=len(items))


async def list_branches(browse: Browse, *, limit: int, offset: int) -> Page[Branch]:
    """Return a page of the branches by name."""
    return _page(await browse.reader.branches(browse.repo.default_branch), limit, offset)


async def list_tags(browse: Browse, *, limit: int, offset: int) -> Page[Tag]:
    """Return a page of the tags, newest first."""
    return _page(await browse.reader.tags(), limit, offset)


async def read_tree(browse: Browse, *, ref: str | None, path: str | None) -> Tree:
    """Return a folder at a ref.

    Raises:
        Invalid: a bad ref or path, or a file. NotFound: no such ref or folder.
    """
    where = check_path(path)
    ref, commit = await browse.at(ref)
    entries = await browse.reader.tree(commit, where)
    return Tree(ref=ref, commit=commit, path=where, entries=entries)


async def _file(browse: Browse, ref: str | None, path: str) -> tuple[str, str, str, Entry]:
    where = check_path(path)
    if not where:
        raise Invalid("the root is a folder, not a file: give a file's path")
    ref, commit = await browse.at(ref)
    return ref, commit, where, await browse.reader.blob(commit, where)


def raw_url(browse: Browse, commit: str, path: str) -> str:
    """Return where a file of a commit downloads from."""
    prefix = PREFIX.format(
        project=quote(browse.project, safe=""), name=quote(browse.repo.name, safe="")
    )
    query = urlencode({"ref": commit, "path": path})
    return f"{browse.base_url.rstrip('/')}{prefix}/raw?{query}"


async def read_file(browse: Browse, *, ref: str | None, path: str) -> FileView:
    """Return a file at a ref: its text and language, or the `binary`/`too_large` flags.

    Raises:
        Invalid: a bad ref or path, a folder. NotFound: no such ref or file.
    """
    ref, commit, where, blob = await _file(browse, ref, path)
    size = blob.size or 0
    limit = browse.reader.limits.max_file_bytes
    too_large = size > limit
    data = await browse.reader.head_bytes(blob.sha, SNIFF if too_large else limit)
    binary = is_binary(data)
    return FileView(
        ref=ref,
        commit=commit,
        path=where,
        name=blob.name,
        sha=blob.sha,
        mode=blob.mode,
        size=size,
        binary=binary,
        too_large=too_large,
        language=None if binary else language_of(blob.name),
        text=None if binary or too_large else data.decode(errors="replace"),
        raw_url=raw_url(browse, commit, where),
    )


@dataclass(frozen=True)
class RawFile:
    """What a raw download sends: the blob, its content type and its name."""

    sha: str
    size: int
    name: str
    content_type: str


async def raw_file(browse: Browse, *, ref: str | None, path: str) -> RawFile:
    """Return the blob to download and the content type it is served with: text/plain for
    text and symlinks, the type of a few image formats, application/octet-stream otherwise.

    Raises:
        Invalid: a bad ref or path, a folder. NotFound: no such ref or file.
    """
    _ref, _commit, _where, blob = await _file(browse, ref, path)
    kind = IMAGE_TYPES.get(PurePosixPath(blob.name.lower()).suffix)
    if blob.mode == "120000":  # a symlink's content is its target: text, never followed
        kind = PLAIN_TEXT
    elif kind is None:
        binary = is_binary(await browse.reader.head_bytes(blob.sha, SNIFF))
        kind = OCTET_STREAM if binary else PLAIN_TEXT
    return RawFile(sha=blob.sha, size=blob.size or 0, name=blob.name, content_type=kind)


async def list_commits(
    browse: Browse, *, ref: str | None, path: str | None, limit: int, offset: int
) -> CommitPage:
    """Return a page of the history at a ref, newest first (only commits touching `path`)."""
    where = check_path(path)
    ref, commit = await browse.at(ref)
    items, total = await browse.reader.log(commit, where, limit=limit, offset=offset)
    return CommitPage(ref=ref, commit=commit, path=where or None, items=items, total=total)


async def read_commit(browse: Browse, *, ref: str) -> CommitDetail:
    """Return a commit and its diff against its first parent (the whole tree for a root)."""
    reader = browse.reader
    commit = await reader.commit(await reader.resolve(ref))
    diff = await reader.diff(commit.parents[0] if commit.parents else None, commit.sha)
    return CommitDetail(**commit.model_dump(), diff=diff)


async def compare(browse: Browse, *, base: str, head: str) -> Comparison:
    """Compare two refs as GitHub's `base...head`."""
    reader = browse.reader
    check_ref(base)
    check_ref(head)
    base_commit, head_commit = await reader.resolve(base), await reader.resolve(head)
    merge_base = await reader.merge_base(base_commit, head_commit)
    commits, ahead = await reader.range(base_commit, head_commit, limit=MAX_COMPARE_COMMITS)
    return Comparison(
        base=base,
        head=head,
        base_commit=base_commit,
        head_commit=head_commit,
        merge_base=merge_base,
        ahead=ahead,
        behind=await reader.count(head_commit, base_commit),
        commits=commits,
        total_commits=ahead,
        diff=await reader.diff(merge_base or base_commit, head_commit),
    )


async def blame(browse: Browse, *, ref: str | None, path: str) -> Blame:
    """Return who last changed each line of a text file.

    Raises:
        TooLarge: a binary file or one over the file limit.
    """
    ref, commit, where, _blob = await _file(browse, ref, path)
    lines, ranges, commits = await browse.reader.blame(commit, where)
    return Blame(ref=ref, commit=commit, path=where, lines=lines, ranges=ranges, commits=commits)


async def read_readme(browse: Browse, *, ref: str | None) -> Readme:
    """Return the README at the root of a ref (README.md first) as its source.

    Raises:
        NotFound: no README there.
    """
    reader = browse.reader
    ref, commit = await browse.at(ref)
    blobs = {e.name.lower(): e for e in await reader.ls(f"{commit}^{{tree}}") if e.type == "blob"}
    found = next((blobs[n] for n in README_NAMES if n in blobs), None)
    if found is None:
        raise NotFound(f"no README at the root of {ref} in {reader.label}")
    size = found.size or 0
    too_large = size > reader.limits.max_file_bytes
    data = b"" if too_large else await reader.head_bytes(found.sha, reader.limits.max_file_bytes)
    markdown = found.name.lower().endswith((".md", ".markdown"))
    return Readme(
        ref=ref,
        commit=commit,
        path=found.name,
        format="markdown" if markdown else "text",
        size=size,
        too_large=too_large,
        text=None if too_large or is_binary(data) else data.decode(errors="replace"),
    )


__all__ = [
    "IMAGE_TYPES",
    "OCTET_STREAM",
    "PLAIN_TEXT",
    "PREFIX",
    "Browse",
    "RawFile",
    "blame",
    "compare",
    "list_branches",
    "list_commits",
    "list_tags",
    "open_repository",
    "raw_file",
    "read_commit",
    "read_file",
    "read_readme",
    "read_tree",
]
