"""Browsing routes under `/api/v1/projects/{project}/repos/{name}`: read access to the
repository (`access.require_read`: public ones anonymously, as Smart HTTP reads).

Refs and paths are query parameters (`?ref=&path=`), never URL path segments: a ref may hold
`/`, and a path in the query is not normalised away by a client or a proxy before it is checked.
Without `ref` the repository's default branch is read.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Annotated, TypeVar
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from devflow.core.auth import Principal
from devflow.core.errors import Invalid, NotFound
from devflow.core.http import ReadSessionDep, ServicesDep, bearer_token, get_principal
from devflow.core.schemas import MAX_OFFSET, Page, error_responses
from devflow.repos import access, service
from devflow.repos.browse.reader import (
    README_NAMES,
    Reader,
    TooLarge,
    check_path,
    check_ref,
    is_binary,
    language_of,
)
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
# can hold script, so it is not an image here).
_IMAGES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".bmp": "image/bmp",
    ".ico": "image/x-icon",
}
T = TypeVar("T")
_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]")

router = APIRouter(prefix=PREFIX, tags=["repos"], responses=error_responses())


async def optional_principal(request: Request) -> Principal | None:
    """The caller, or None when the request carries no credentials (bad ones are refused)."""
    if bearer_token(request) is None:
        return None
    return await get_principal(request)


CallerDep = Annotated[Principal | None, Depends(optional_principal)]
RefQuery = Annotated[
    str | None,
    Query(description="A branch, tag or commit (default: the repository's default branch)."),
]
PathQuery = Annotated[str | None, Query(description="A path from the root, '/'-separated.")]


async def _open(
    services: ServicesDep,
    session: ReadSessionDep,
    principal: CallerDep,
    project: str,
    name: str,
) -> tuple[GitRepository, Reader]:
    label = service.full_name(project[:64], name[:100])
    found = await service.get_repository(session, project=project, name=name)
    repo = access.require_read(principal, found, label)
    settings = services.settings
    storage = Storage.of(settings)
    limits = settings.section(ReposSettings).browse
    return repo, Reader(storage, storage.path(repo.id), limits, label)


Opened = Annotated[tuple[GitRepository, Reader], Depends(_open)]


def _page(items: list[T], limit: int, offset: int) -> Page[T]:
    return Page(items=items[offset : offset + limit], total=len(items))


Limit = Annotated[int, Query(ge=1, le=500, description="At most this many.")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Skip this many first.")]


@router.get("/branches", response_model=Page[Branch])
async def list_branches(opened: Opened, limit: Limit = 100, offset: Offset = 0) -> Page[Branch]:
    """List the branches by name, each with its commit and whether it is the default."""
    repo, reader = opened
    return _page(await reader.branches(repo.default_branch), limit, offset)


@router.get("/tags", response_model=Page[Tag])
async def list_tags(opened: Opened, limit: Limit = 100, offset: Offset = 0) -> Page[Tag]:
    """List the tags, newest first, each with the commit it names."""
    _, reader = opened
    return _page(await reader.tags(), limit, offset)


async def _at(repo: GitRepository, reader: Reader, ref: str | None) -> tuple[str, str]:
    ref = ref if ref is not None else repo.default_branch
    return ref, await reader.resolve(ref)


@router.get("/tree", response_model=Tree)
async def show_tree(opened: Opened, ref: RefQuery = None, path: PathQuery = None) -> Tree:
    """List a folder at a ref: folders first, with each entry's type, mode, size and id."""
    repo, reader = opened
    where = check_path(path)
    ref, commit = await _at(repo, reader, ref)
    return Tree(ref=ref, commit=commit, path=where, entries=await reader.tree(commit, where))


def _raw_url(base: str, project: str, name: str, commit: str, path: str) -> str:
    prefix = PREFIX.format(project=quote(project, safe=""), name=quote(name, safe=""))
    return f"{base.rstrip('/')}{prefix}/raw?{urlencode({'ref': commit, 'path': path})}"


@router.get("/file", response_model=FileView)
async def show_file(
    project: str,
    name: str,
    opened: Opened,
    services: ServicesDep,
    path: Annotated[str, Query(description="The file, from the root.")],
    ref: RefQuery = None,
) -> FileView:
    """Show a file at a ref: its text and language for highlighting, or `binary`/`too_large`
    flags (then only `raw_url` has its content)."""
    repo, reader = opened
    where = check_path(path)
    if not where:
        raise Invalid("the root is a folder: list it with the tree route")
    ref, commit = await _at(repo, reader, ref)
    blob = await reader.blob(commit, where)
    size = blob.size or 0
    too_large = size > reader.limits.max_file_bytes
    data = await reader.head_bytes(blob.sha, 8000 if too_large else reader.limits.max_file_bytes)
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
        raw_url=_raw_url(services.settings.base_url, project, name, commit, where),
    )


def _disposition(kind: str, filename: str, download: bool) -> str:
    fallback = _UNSAFE_FILENAME.sub("_", filename)[:150] or "file"
    how = "attachment" if download or kind == "application/octet-stream" else "inline"
    return f"{how}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


@router.get(
    "/raw",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}, "description": "The file."}},
)
async def download_file(
    opened: Opened,
    path: Annotated[str, Query(description="The file, from the root.")],
    ref: RefQuery = None,
    download: Annotated[
        bool, Query(description="Ask the browser to save it rather than show it.")
    ] = False,
) -> StreamingResponse:
    """Download a file as it is, streamed, any size: `text/plain` for text, its own type for a
    few image formats, `application/octet-stream` for the rest; never HTML (`nosniff`, a
    sandboxing CSP)."""
    repo, reader = opened
    where = check_path(path)
    if not where:
        raise Invalid("the root is a folder: download a file")
    _ref, commit = await _at(repo, reader, ref)
    blob = await reader.blob(commit, where)
    kind = _IMAGES.get(PurePosixPath(blob.name.lower()).suffix)
    if kind is None:
        sniffed = is_binary(await reader.head_bytes(blob.sha, 8000))
        kind = "application/octet-stream" if sniffed else "text/plain; charset=utf-8"
    if blob.mode == "120000":  # a symlink's content is its target: text, never followed
        kind = "text/plain; charset=utf-8"
    headers = {
        "Content-Length": str(blob.size or 0),
        "Content-Disposition": _disposition(kind, blob.name, download),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "ETag": f'"{blob.sha}"',
    }
    return StreamingResponse(reader.stream_blob(blob.sha), media_type=kind, headers=headers)


@router.get("/commits", response_model=CommitPage)
async def list_commits(
    opened: Opened,
    ref: RefQuery = None,
    path: PathQuery = None,
    limit: Annotated[int, Query(ge=1, le=100, description="At most this many.")] = 30,
    offset: Offset = 0,
) -> CommitPage:
    """List the history at a ref, newest first, optionally only commits touching a path."""
    repo, reader = opened
    where = check_path(path)
    ref, commit = await _at(repo, reader, ref)
    items, total = await reader.log(commit, where, limit=limit, offset=offset)
    return CommitPage(ref=ref, commit=commit, path=where or None, items=items, total=total)


@router.get("/commits/{sha}", response_model=CommitDetail)
async def show_commit(opened: Opened, sha: str) -> CommitDetail:
    """Show a commit with its diff against its first parent: files, stats and patches (each
    patch and the whole diff within the size limits)."""
    _, reader = opened
    commit = await reader.commit(await reader.resolve(sha))
    base = commit.parents[0] if commit.parents else None
    diff = await reader.diff(base, commit.sha)
    return CommitDetail(**commit.model_dump(), diff=diff)


@router.get("/compare", response_model=Comparison)
async def compare_refs(
    opened: Opened,
    base: Annotated[str, Query(description="The ref compared against (e.g. main).")],
    head: Annotated[str, Query(description="The ref compared (e.g. a feature branch).")],
) -> Comparison:
    """Compare two refs as GitHub's `base...head`: ahead and behind counts, head's commits
    not on base (newest first, at most 250) and the diff from their merge base to head."""
    _, reader = opened
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


@router.get("/blame", response_model=Blame)
async def blame_file(
    opened: Opened,
    path: Annotated[str, Query(description="The file, from the root.")],
    ref: RefQuery = None,
) -> Blame:
    """Show who last changed each line of a text file (up to the file size limit)."""
    repo, reader = opened
    where = check_path(path)
    if not where:
        raise Invalid("the root is a folder: blame a file")
    ref, commit = await _at(repo, reader, ref)
    lines, ranges, commits = await reader.blame(commit, where)
    return Blame(ref=ref, commit=commit, path=where, lines=lines, ranges=ranges, commits=commits)


@router.get("/readme", response_model=Readme)
async def show_readme(opened: Opened, ref: RefQuery = None) -> Readme:
    """Return the README at the root (README.md first) as its Markdown source, for the
    dashboard's sanitizing renderer; DevFlow serves no HTML made from it."""
    repo, reader = opened
    ref, commit = await _at(repo, reader, ref)
    entries = {e.name.lower(): e for e in await reader.ls(f"{commit}^{{tree}}") if e.type == "blob"}
    found = next((entries[n] for n in README_NAMES if n in entries), None)
    if found is None:
        raise NotFound(f"no README at the root of {ref} in {reader.label}")
    size = found.size or 0
    too_large = size > reader.limits.max_file_bytes
    data = b"" if too_large else await reader.head_bytes(found.sha, reader.limits.max_file_bytes)
    text = None if too_large or is_binary(data) else data.decode(errors="replace")
    markdown = found.name.lower().endswith((".md", ".markdown"))
    return Readme(
        ref=ref,
        commit=commit,
        path=found.name,
        format="markdown" if markdown else "text",
        size=size,
        too_large=too_large,
        text=text,
    )


__all__ = ["TooLarge", "router"]
