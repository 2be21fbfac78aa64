"""The OCI router: `/v2/<name>/{blobs,manifests,tags,referrers}/…` dispatched by shape (names
hold slashes), after the version check, token, catalog and chart routes."""

from __future__ import annotations

import re

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core.auth import Principal
from devflow.core.errors import DevflowError

# _tokens registers /v2/ and /v2/token, _listings /v2/_catalog, before the catch-all route below.
from devflow.registry.formats.oci import _listings, _manifests, _tokens, _uploads, charts, views
from devflow.registry.formats.oci._common import (
    Handler,
    OciError,
    check_name,
    error_response,
    principal_of,
    router,
    translate,
)
from devflow.registry.http import runtime, write_unit

# views first: its manifest route takes a tag called `charts` before the charts listing does.
router.include_router(views.rest)
router.include_router(charts.rest)

# -- dispatch -------------------------------------------------------------------------------------

_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
# Names may contain '/' and tags may be called `blobs`: match whole endpoint shapes, name greedy.
_PATHS = [
    re.compile(r"^(.+)/(blobs)/(uploads/[^/]*)$"),
    re.compile(r"^(.+)/(blobs)/([^/]+)$"),
    re.compile(r"^(.+)/(manifests)/([^/]+)$"),
    re.compile(r"^(.+)/(tags)/(list)$"),
    re.compile(r"^(.+)/(referrers)/([^/]+)$"),
]


@router.api_route("/v2/{path:path}", methods=_METHODS, include_in_schema=False)
async def dispatch(path: str, request: Request) -> Response:
    """Route `/v2/<name>/{blobs,manifests,tags,referrers}/…` (names contain slashes)."""
    name, actions = None, "pull" if request.method in {"GET", "HEAD"} else "pull,push"
    try:
        for pattern in _PATHS:
            match = pattern.match(path)
            if match is not None:
                name, kind, tail = match.group(1), match.group(2), match.group(3)
                rest = tail.split("/")
                break
        else:
            raise OciError("NAME_UNKNOWN", f"no endpoint /v2/{path}", http_status=404)
        check_name(name)
        handler = _route(request.method, kind, rest)
        response = await _run(handler, request, name, rest)
    except DevflowError as exc:
        return error_response(translate(exc, request, name, actions))
    response.headers["Docker-Distribution-API-Version"] = "registry/2.0"
    return response


async def _run(handler: Handler, request: Request, name: str, rest: list[str]) -> Response:
    """Run a handler in its own unit of work; an error rolls back everything it wrote.

    Pulls (GET, HEAD) only read: they use an autocommit session, which saves the BEGIN and
    COMMIT round trips of a transaction on every blob and manifest request. Writes authenticate
    in such a session too, so the unit of work takes its connection at its first statement:
    handlers that read a request body do that first (see `_common.may_push`).
    """
    async with runtime(request).read_sessions() as reads:
        principal = await principal_of(request, reads)
        if request.method in {"GET", "HEAD"}:
            return await handler(request, reads, principal, name, rest)
    async with write_unit(request) as session:
        return await handler(request, session, principal, name, rest)


def _route(method: str, kind: str, rest: list[str]) -> Handler:  # noqa: PLR0911
    if kind == "blobs" and rest[:1] == ["uploads"]:
        if len(rest) == 2 and rest[1] == "" and method == "POST":  # noqa: PLR2004
            return _uploads.start_upload
        if len(rest) == 1 and method == "POST":
            return _uploads.start_upload
        if len(rest) == 2:  # noqa: PLR2004
            return {
                "GET": _uploads.upload_status,
                "PATCH": _uploads.upload_chunk,
                "PUT": _uploads.upload_finish,
                "DELETE": _uploads.upload_cancel,
            }.get(method, _unsupported)
    elif kind == "blobs" and len(rest) == 1:
        return {
            "GET": _uploads.get_blob,
            "HEAD": _uploads.get_blob,
            "DELETE": _uploads.delete_blob,
        }.get(method, _unsupported)
    elif kind == "manifests" and len(rest) == 1:
        return {
            "GET": _manifests.get_manifest,
            "HEAD": _manifests.get_manifest,
            "PUT": _manifests.put_manifest,
            "DELETE": _manifests.delete_manifest,
        }.get(method, _unsupported)
    elif kind == "tags" and rest == ["list"] and method == "GET":
        return _listings.list_tags
    elif kind == "referrers" and len(rest) == 1 and method == "GET":
        return _listings.referrers
    return _unsupported


async def _unsupported(
    request: Request, _s: AsyncSession, _p: Principal | None, _n: str, _r: list[str]
) -> Response:
    raise OciError(
        "UNSUPPORTED", f"{request.method} {request.url.path} is not supported", http_status=405
    )


del _tokens  # imported for the routes it adds to `router`

__all__ = ["router"]
