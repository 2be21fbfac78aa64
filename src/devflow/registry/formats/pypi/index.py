"""The PyPI simple index: project lists and pages (PEP 503 HTML, PEP 691 JSON, PEP 658/714
metadata, PEP 592 yanks, PEP 700 sizes and times) and file downloads with `Range`."""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core.auth import Principal
from devflow.core.errors import DevflowError, NotFound
from devflow.core.protocol import hot_route
from devflow.registry import access
from devflow.registry.formats.pypi._common import FORMAT, endpoint, router
from devflow.registry.formats.pypi.meta import PypiFileMeta
from devflow.registry.formats.pypi.names import check_version, normalize
from devflow.registry.http import (
    ReadSessionDep,
    base_url,
    blob_response,
    cached_file,
    cached_repository,
    caller,
    current_document,
    remember_files,
    runtime,
)
from devflow.registry.models import Package, PackageFile, PackageVersion, Repository
from devflow.registry.runtime import Document, file_ref

API_VERSION = "1.1"
JSON_TYPE = "application/vnd.pypi.simple.v1+json"
HTML_TYPE = "application/vnd.pypi.simple.v1+html"
_OFFERS = {
    "application/vnd.pypi.simple.v1+json": JSON_TYPE,
    "application/vnd.pypi.simple.latest+json": JSON_TYPE,
    "application/vnd.pypi.simple.v1+html": HTML_TYPE,
    "application/vnd.pypi.simple.latest+html": HTML_TYPE,
    "text/html": HTML_TYPE,
    "text/*": HTML_TYPE,
    "application/*": JSON_TYPE,
    "*/*": HTML_TYPE,
}


async def _reader(
    request: Request, session: AsyncSession, name: str
) -> tuple[Repository, Principal | None]:
    principal = await caller(request, session)
    repo = await cached_repository(request, session, name, FORMAT)
    return access.require_read(principal, repo, name), principal


# -- content negotiation --------------------------------------------------------------------------


def negotiate(accept: str | None, override: str | None) -> str:
    """Pick JSON or HTML for a simple-API request (PEP 691), honouring `?format=`.

    Raises:
        NotAcceptable: nothing offered matches.
    """
    if override:
        chosen = _OFFERS.get(override.strip().lower())
        if chosen is None or "*" in override:
            raise NotAcceptable(f"unsupported format {override!r}")
        return chosen
    if not accept:
        return HTML_TYPE
    best: tuple[float, int, str] | None = None
    for position, item in enumerate(accept.split(",")):
        media, *params = (p.strip() for p in item.split(";"))
        chosen = _OFFERS.get(media.lower())
        quality = _quality(params)
        if chosen is not None and quality > 0:
            candidate = (quality, -position, chosen)
            best = candidate if best is None else max(best, candidate)
    if best is None:
        raise NotAcceptable(
            f"none of {accept!r} is offered; ask for {JSON_TYPE}, {HTML_TYPE} or text/html"
        )
    return best[2]


def _quality(params: list[str]) -> float:
    for param in params:
        key, _, value = param.partition("=")
        if key.strip() == "q":
            try:
                return float(value)
            except ValueError:
                return 0.0
    return 1.0


class NotAcceptable(DevflowError):
    """No representation the client accepts."""

    code = "not_acceptable"
    status = 406


def _respond(media: str, body: str | bytes, etag: str) -> Response:
    return Response(
        body,
        media_type=media,
        headers={"Vary": "Accept", "ETag": etag, "Cache-Control": "max-age=0, must-revalidate"},
    )


# -- the index ------------------------------------------------------------------------------------


@router.get("/{repo}/simple", include_in_schema=False)
async def index_no_slash(repo: str) -> RedirectResponse:
    """Redirect to the slash-terminated URL."""
    return RedirectResponse(f"/pypi/{repo}/simple/", status_code=301)


@router.get(
    "/{repo}/simple/",
    response_class=Response,
    responses={200: {"content": {JSON_TYPE: {}, HTML_TYPE: {}}}},
)
async def project_list(repo: str, request: Request, session: ReadSessionDep) -> Response:
    """List the repository's projects (PEP 503 / 691)."""
    found, _ = await _reader(request, session, repo)
    media = negotiate(request.headers.get("accept"), request.query_params.get("format"))
    rows = (
        await session.execute(
            select(Package.name, Package.display_name, Package.revision)
            .where(Package.repository_id == found.id)
            .order_by(Package.name)
        )
    ).all()
    etag = f'W/"{media[-4:]}-{len(rows)}-{sum(r.revision for r in rows)}"'
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers={"ETag": etag, "Vary": "Accept"})
    if media == JSON_TYPE:
        body = {
            "meta": {"api-version": API_VERSION},
            "projects": [{"name": r.display_name} for r in rows],
        }
        return _respond(media, _json(body), etag)
    links = "\n".join(
        f'    <a href="{html.escape(r.name)}/">{html.escape(r.display_name)}</a><br/>' for r in rows
    )
    page = (
        "<!DOCTYPE html>\n<html>\n  <head>\n"
        f'    <meta name="pypi:repository-version" content="{API_VERSION}">\n'
        f"    <title>Simple index of {html.escape(found.name)}</title>\n  </head>\n  <body>\n"
        f"{links}\n  </body>\n</html>\n"
    )
    return _respond(media, page, etag)


@router.get("/{repo}/simple/{project}", include_in_schema=False)
async def project_no_slash(repo: str, project: str) -> RedirectResponse:
    """Redirect to the slash-terminated, normalized URL."""
    return RedirectResponse(f"/pypi/{repo}/simple/{normalize(project)}/", status_code=301)


@endpoint
async def project_page(request: Request) -> Response:
    """List a project's files with hashes, requires-python, yanks and metadata (PEP 503/691)."""
    repo, project = request.path_params["repo"], request.path_params["project"]
    media = negotiate(request.headers.get("accept"), request.query_params.get("format"))
    name = normalize(project)
    principal = await caller(request)
    found = access.require_read(
        principal, await cached_repository(request, None, repo, FORMAT), repo
    )
    if name != project:
        return RedirectResponse(f"/pypi/{repo}/simple/{name}/", status_code=301)
    rt = runtime(request)
    # One cheap statement per request: a page is served from the cache only while the package's
    # revision (bumped by every publish, yank and delete, in any process) is unchanged.
    head = await rt.reads.package_head(found.id, name)
    if head is None:
        raise NotFound(f"no project {project!r} in {repo!r}")
    etag = f'W/"{media[-4:]}-{head.id.hex}-{head.revision}"'
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers={"ETag": etag, "Vary": "Accept"})
    document = await current_document(
        request,
        head,
        media,
        lambda session, package: _render_project(request, session, found, package, media),
    )
    if document is None:
        raise NotFound(f"no project {project!r} in {repo!r}")
    remember_files(request, found, document.files)
    return _respond(media, document.body, etag)


PROJECT_PAGE = hot_route(router, "/{repo}/simple/{project}/", project_page)


async def _render_project(
    request: Request, session: AsyncSession, repo: Repository, package: Package, media: str
) -> Document:
    rows = (
        await session.execute(
            select(PackageFile, PackageVersion)
            .join(PackageVersion, PackageVersion.id == PackageFile.version_id)
            .where(PackageVersion.package_id == package.id)
            .order_by(PackageVersion.published_at, PackageFile.filename)
        )
    ).all()
    files_base = f"{base_url(request)}/pypi/{repo.name}/files/"
    files = [_file_entry(f, v, files_base) for f, v in rows]
    refs = tuple(file_ref(f, package.id) for f, _ in rows)
    if media == JSON_TYPE:
        versions = sorted({v.version for _, v in rows}, key=check_version)
        body = {
            "meta": {"api-version": API_VERSION},
            "name": package.name,
            "versions": versions,
            "files": files,
        }
        return Document(_json(body), refs)
    return Document(_project_html(package, files).encode(), refs)


def _file_entry(file: PackageFile, version: PackageVersion, files_base: str) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "filename": file.filename,
        "url": files_base + file.filename,
        "hashes": {"sha256": file.blob_sha256},
        "requires-python": PypiFileMeta.of(file.meta).requires_python or None,
        "size": file.size,
        "upload-time": _timestamp(file.created_at),
        "yanked": (version.yanked_reason or True) if version.yanked else False,
    }
    if file.metadata_sha256:
        entry["core-metadata"] = {"sha256": file.metadata_sha256}
        entry["dist-info-metadata"] = {"sha256": file.metadata_sha256}
    else:
        entry["core-metadata"] = False
        entry["dist-info-metadata"] = False
    return entry


def _project_html(package: Package, files: list[dict[str, Any]]) -> str:
    lines = []
    for f in files:
        attrs = [f'href="{html.escape(f["url"])}#sha256={f["hashes"]["sha256"]}"']
        if f["requires-python"]:
            attrs.append(f'data-requires-python="{html.escape(f["requires-python"])}"')
        if f["yanked"] is not False:
            reason = "" if f["yanked"] is True else html.escape(f["yanked"])
            attrs.append(f'data-yanked="{reason}"')
        if f["core-metadata"]:
            digest = f"sha256={f['core-metadata']['sha256']}"
            attrs += [f'data-core-metadata="{digest}"', f'data-dist-info-metadata="{digest}"']
        lines.append(f"    <a {' '.join(attrs)}>{html.escape(f['filename'])}</a><br/>")
    title = html.escape(package.display_name)
    return (
        "<!DOCTYPE html>\n<html>\n  <head>\n"
        f'    <meta name="pypi:repository-version" content="{API_VERSION}">\n'
        f"    <title>Links for {title}</title>\n  </head>\n  <body>\n"
        f"    <h1>Links for {title}</h1>\n" + "\n".join(lines) + "\n  </body>\n</html>\n"
    )


def _timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _json(body: dict[str, Any]) -> bytes:
    import orjson

    return orjson.dumps(body)


# -- files ----------------------------------------------------------------------------------------


@endpoint
async def download(request: Request) -> Response:
    """Download a file (with `Range`), or its PEP 658 `.metadata`."""
    repo, filename = request.path_params["repo"], request.path_params["filename"]
    principal = await caller(request)
    want_metadata = filename.endswith(".metadata")
    stored = filename.removesuffix(".metadata") if want_metadata else filename
    found = access.require_read(
        principal, await cached_repository(request, None, repo, FORMAT), repo
    )
    ref = await cached_file(request, found, stored)
    if ref is None or (want_metadata and ref.metadata_sha256 is None):
        raise NotFound(f"no file {filename!r} in {repo!r}")
    if want_metadata:
        return await blob_response(
            request,
            ref,
            package_id=ref.package_id,
            media_type="text/plain; charset=utf-8",
            sha256=ref.metadata_sha256,
            size=ref.metadata_size,
            count=False,
        )
    media = "application/zip" if filename.endswith((".whl", ".zip")) else "application/gzip"
    return await blob_response(request, ref, package_id=ref.package_id, media_type=media)


FILES = hot_route(router, "/{repo}/files/{filename}", download)
HOT_ROUTES = (PROJECT_PAGE, FILES)


__all__ = ["HOT_ROUTES", "HTML_TYPE", "JSON_TYPE", "NotAcceptable", "negotiate"]
