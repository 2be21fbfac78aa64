"""Listings: `_catalog`, tag lists with `n`/`last` pagination, the referrers API."""

from __future__ import annotations

import re
from urllib.parse import quote, urlencode

import orjson
from fastapi import Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core.auth import Principal
from devflow.core.errors import (
    DevflowError,
    Unauthenticated,
)
from devflow.core.http import SessionDep
from devflow.registry import access
from devflow.registry.formats.oci._common import (
    FORMAT,
    OCI_INDEX,
    OciError,
    error_response,
    parse_digest,
    principal_of,
    repo_for_read,
    router,
    translate,
)
from devflow.registry.models import (
    OciManifest,
    OciTag,
    Repository,
)


@router.get("/v2/_catalog", include_in_schema=False)
async def catalog(request: Request, session: SessionDep) -> Response:
    """List the image repositories the caller can read (`n`/`last` pagination, `Link`)."""
    try:
        principal = await principal_of(request, session)
        if principal is None:
            raise Unauthenticated("listing repositories needs a DevFlow token")
        n = page_size(request)
        last = request.query_params.get("last") or ""
        repos = await session.scalars(
            select(Repository)
            .where(Repository.format == FORMAT, Repository.name > last)
            .order_by(Repository.name)
        )
        names = [r.name for r in repos if access.can_read(principal, r)]
    except DevflowError as exc:
        return error_response(translate(exc, request, None, "pull"))
    names, headers = _page(names, n, "/v2/_catalog")
    return Response(
        orjson.dumps({"repositories": names}), media_type="application/json", headers=headers
    )


# -- listings -------------------------------------------------------------------------------------


def page_size(request: Request) -> int | None:
    raw = request.query_params.get("n")
    if raw is None:
        return None
    if not re.fullmatch(r"[0-9]{1,9}", raw):
        raise OciError(
            "PAGINATION_NUMBER_INVALID",
            f"n={raw[:40]!r} is not a page size (a whole number below a billion)",
            http_status=400,
        )
    return int(raw)


def _page(items: list[str], n: int | None, path: str) -> tuple[list[str], dict[str, str]]:
    """Cut `items` to the first `n`, with a `Link` to the next page when more remain."""
    page = items[:n]
    if n is None or len(items) <= n or not page:
        return page, {}
    link = f"{path}?" + urlencode({"n": n, "last": page[-1]}, quote_via=quote)
    return page, {"Link": f'<{link}>; rel="next"'}


async def list_tags(
    request: Request, session: AsyncSession, principal: Principal | None, name: str, rest: list[str]
) -> Response:
    del rest
    repo = await repo_for_read(request, session, principal, name)
    n = page_size(request)
    last = request.query_params.get("last")
    query = select(OciTag.name).where(OciTag.repository_id == repo.id).order_by(OciTag.name)
    if last:
        query = query.where(OciTag.name > last)
    if n is not None:
        query = query.limit(n + 1)
    tags, headers = _page(list(await session.scalars(query)), n, f"/v2/{name}/tags/list")
    return Response(
        orjson.dumps({"name": name, "tags": tags}), media_type="application/json", headers=headers
    )


async def referrers(
    request: Request, session: AsyncSession, principal: Principal | None, name: str, rest: list[str]
) -> Response:
    parse_digest(rest[0])
    repo = await repo_for_read(request, session, principal, name)
    query = select(OciManifest).where(
        OciManifest.repository_id == repo.id, OciManifest.subject == rest[0]
    )
    wanted = request.query_params.get("artifactType")
    headers: dict[str, str] = {}
    if wanted:
        query = query.where(OciManifest.artifact_type == wanted)
        headers["OCI-Filters-Applied"] = "artifactType"
    rows = (await session.scalars(query.order_by(OciManifest.digest))).all()
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {
                "mediaType": m.media_type,
                "digest": m.digest,
                "size": m.size,
                **({"artifactType": m.artifact_type} if m.artifact_type else {}),
                **({"annotations": m.annotations} if m.annotations else {}),
            }
            for m in rows
        ],
    }
    return Response(orjson.dumps(index), media_type=OCI_INDEX, headers=headers)
