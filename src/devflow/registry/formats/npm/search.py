"""npm search (`GET /npm/<repo>/-/v1/search?text=&size=&from=`) by name, description and
keywords, answered in the registry's format: each result is the package's latest version, who
published and maintains it (see `people`), its keywords and links, with a constant score
(results are ordered by name)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core import clock
from devflow.core.errors import Invalid
from devflow.registry.formats.npm._common import iso, json_response
from devflow.registry.formats.npm.meta import NpmPackageMeta, NpmVersionMeta
from devflow.registry.formats.npm.people import names, publisher, search_person
from devflow.registry.models import Package, PackageVersion, Repository, Tag

MAX_SIZE = 250  # the npm registry's own cap on `size`
_LAST = 2**53  # an offset past every package that still fits PostgreSQL's bigint


async def search(request: Request, session: AsyncSession, repo: Repository) -> Response:
    """Answer a search of `repo` by name, description and the latest version's keywords.

    Raises:
        Invalid: `size` or `from` is not a whole number.
    """
    text = request.query_params.get("text", "").strip()
    try:
        size = max(1, min(MAX_SIZE, int(request.query_params.get("size", "20"))))
        start = max(0, min(_LAST, int(request.query_params.get("from", "0"))))
    except ValueError:
        raise Invalid("size and from must be whole numbers") from None
    query = (
        select(Package, PackageVersion)
        .outerjoin(Tag, (Tag.package_id == Package.id) & (Tag.name == "latest"))
        .outerjoin(PackageVersion, PackageVersion.id == Tag.version_id)
        .where(Package.repository_id == repo.id)
    )
    if text:
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        keywords = PackageVersion.meta["manifest"]["keywords"].astext  # the JSON array, as text
        query = query.where(
            Package.name.ilike(pattern) | Package.summary.ilike(pattern) | keywords.ilike(pattern)
        )
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    rows = await session.execute(query.order_by(Package.name).offset(start).limit(size))
    objects = [_result(package, version) for package, version in rows]
    return json_response({"objects": objects, "total": total or 0, "time": iso(clock.now())})


def _result(package: Package, latest: PackageVersion | None) -> dict[str, Any]:
    manifest = NpmVersionMeta.of(latest.meta).manifest if latest is not None else {}
    about = NpmPackageMeta.of(package.meta)
    found: dict[str, Any] = {
        "name": package.name,
        "version": latest.version if latest is not None else "",
        "description": package.summary,
        "keywords": _strings(manifest.get("keywords")),
        "date": iso(latest.published_at if latest is not None else package.updated_at),
        "links": _links(manifest),
        "maintainers": [search_person(name) for name in names(about.maintainers)],
    }
    by = publisher(manifest.get("_npmUser"))
    name = by["name"] if by is not None else about.publisher
    if name:
        found["publisher"] = search_person(name)
    if isinstance(manifest.get("license"), str):
        found["license"] = manifest["license"]
    return {
        "package": found,
        "score": {
            "final": 1.0,
            "detail": {"quality": 1.0, "popularity": 1.0, "maintenance": 1.0},
        },
        "searchScore": 1.0,
        "downloads": {"weekly": package.downloads},
    }


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _links(manifest: dict[str, Any]) -> dict[str, str]:
    links = {}
    for key in ("homepage", "repository", "bugs"):
        value = manifest.get(key)
        url = value.get("url") if isinstance(value, dict) else value
        if isinstance(url, str) and url:
            links[key] = url
    return links


__all__ = ["MAX_SIZE", "search"]
