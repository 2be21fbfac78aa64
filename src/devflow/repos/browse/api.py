"""Browsing routes under `/api/v1/projects/{project}/repos/{name}`: read access to the
repository (`access.require_read`: public ones anonymously, as Smart HTTP reads).

Refs and paths are query parameters (`?ref=&path=`), never URL path segments: a ref may hold
`/`, and a path in the query is not normalised away by a client or a proxy before it is checked.
Without `ref` the repository's default branch is read.
"""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from devflow.core.auth import Principal
from devflow.core.http import ReadSessionDep, ServicesDep, bearer_token, get_principal
from devflow.core.schemas import MAX_OFFSET, Page, error_responses
from devflow.repos.browse import service
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
from devflow.repos.browse.service import IMAGE_TYPES, OCTET_STREAM, PREFIX, Browse

_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]")
_RAW_TYPES: dict[str, Any] = {
    kind: {"schema": {"type": "string", "format": "binary"}}
    for kind in (OCTET_STREAM, "text/plain", *IMAGE_TYPES.values())
}

router = APIRouter(prefix=PREFIX, tags=["repos"], responses=error_responses())


async def optional_principal(request: Request) -> Principal | None:
    """The caller, or None when the request carries no credentials (bad ones are refused)."""
    if bearer_token(request) is None:
        return None
    return await get_principal(request)


async def _open(
    project: str,
    name: str,
    services: ServicesDep,
    session: ReadSessionDep,
    principal: Annotated[Principal | None, Depends(optional_principal)],
) -> Browse:
    return await service.open_repository(
        session, principal=principal, project=project, name=name, settings=services.settings
    )


Opened = Annotated[Browse, Depends(_open)]
Ref = Annotated[
    str | None,
    Query(description="A branch, tag or commit (default: the repository's default branch)."),
]
OptionalPath = Annotated[str | None, Query(description="A path from the root, '/'-separated.")]
FilePath = Annotated[str, Query(description="The file, from the root.")]
Limit = Annotated[int, Query(ge=1, le=500, description="At most this many.")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Skip this many first.")]


@router.get("/branches", response_model=Page[Branch])
async def list_branches(browse: Opened, limit: Limit = 100, offset: Offset = 0) -> Page[Branch]:
    """List the branches by name, each with its commit and whether it is the default."""
    return await service.list_branches(browse, limit=limit, offset=offset)


@router.get("/tags", response_model=Page[Tag])
async def list_tags(browse: Opened, limit: Limit = 100, offset: Offset = 0) -> Page[Tag]:
    """List the tags, newest first, each with the commit it names."""
    return await service.list_tags(browse, limit=limit, offset=offset)


@router.get("/tree", response_model=Tree)
async def show_tree(browse: Opened, ref: Ref = None, path: OptionalPath = None) -> Tree:
    """List a folder at a ref: folders first, with each entry's type, mode, size and id."""
    return await service.read_tree(browse, ref=ref, path=path)


@router.get("/file", response_model=FileView)
async def show_file(browse: Opened, path: FilePath, ref: Ref = None) -> FileView:
    """Show a file at a ref: its text and language for highlighting, or `binary`/`too_large`
    flags (then only `raw_url` has its content)."""
    return await service.read_file(browse, ref=ref, path=path)


def _disposition(kind: str, filename: str, download: bool) -> str:
    fallback = _UNSAFE_FILENAME.sub("_", filename)[:150] or "file"
    how = "attachment" if download or kind == OCTET_STREAM else "inline"
    return f"{how}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


@router.get(
    "/raw",
    response_class=StreamingResponse,
    responses={200: {"content": _RAW_TYPES, "description": "The file, as it is."}},
)
async def download_file(
    browse: Opened,
    path: FilePath,
    ref: Ref = None,
    download: Annotated[
        bool, Query(description="Ask the browser to save it rather than show it.")
    ] = False,
) -> StreamingResponse:
    """Download a file as it is, streamed, any size: `text/plain` for text, its own type for a
    few image formats, `application/octet-stream` for the rest; never HTML (`nosniff`, a
    sandboxing CSP)."""
    raw = await service.raw_file(browse, ref=ref, path=path)
    headers = {
        "Content-Length": str(raw.size),
        "Content-Disposition": _disposition(raw.content_type, raw.name, download),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "ETag": f'"{raw.sha}"',
    }
    body = browse.reader.stream_blob(raw.sha)
    return StreamingResponse(body, media_type=raw.content_type, headers=headers)


@router.get("/commits", response_model=CommitPage)
async def list_commits(
    browse: Opened,
    ref: Ref = None,
    path: OptionalPath = None,
    limit: Annotated[int, Query(ge=1, le=100, description="At most this many.")] = 30,
    offset: Offset = 0,
) -> CommitPage:
    """List the history at a ref, newest first, optionally only commits touching a path."""
    return await service.list_commits(browse, ref=ref, path=path, limit=limit, offset=offset)


@router.get("/commits/{sha}", response_model=CommitDetail)
async def show_commit(browse: Opened, sha: str) -> CommitDetail:
    """Show a commit (an id, or a branch or tag) with its diff against its first parent:
    files, stats and patches, within the size limits."""
    return await service.read_commit(browse, ref=sha)


@router.get("/compare", response_model=Comparison)
async def compare_refs(
    browse: Opened,
    base: Annotated[str, Query(description="The ref compared against (e.g. main).")],
    head: Annotated[str, Query(description="The ref compared (e.g. a feature branch).")],
) -> Comparison:
    """Compare two refs as GitHub's `base...head`: ahead and behind counts, head's commits
    not on base (newest first, at most 250) and the diff from their merge base to head."""
    return await service.compare(browse, base=base, head=head)


@router.get("/blame", response_model=Blame)
async def blame_file(browse: Opened, path: FilePath, ref: Ref = None) -> Blame:
    """Show who last changed each line of a text file (up to the file size limit)."""
    return await service.blame(browse, ref=ref, path=path)


@router.get("/readme", response_model=Readme)
async def show_readme(browse: Opened, ref: Ref = None) -> Readme:
    """Return the README at the root (README.md first) as its Markdown source, for the
    dashboard's sanitizing renderer; DevFlow serves no HTML made from it."""
    return await service.read_readme(browse, ref=ref)


__all__ = ["router"]
