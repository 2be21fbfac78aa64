"""PyPI: the simple index (PEP 503 HTML, PEP 691 JSON, PEP 658/714 metadata, PEP 592 yanks,
PEP 700 versions and sizes) and the legacy upload API used by twine, uv, poetry and hatch.

Index: `/pypi/<repo>/simple/`; files: `/pypi/<repo>/files/<filename>`; uploads:
`/pypi/<repo>/legacy/`. Auth is HTTP Basic `__token__:<token>` (or Bearer).
"""

from __future__ import annotations

import email.parser
import hashlib
import html
import tarfile
import zipfile
from datetime import datetime
from typing import IO, Any

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, RedirectResponse, Response
from packaging.requirements import InvalidRequirement, Requirement
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core.auth import Principal
from devflow.core.errors import DevflowError, Invalid, NotFound, Unauthenticated
from devflow.core.schemas import text_error_responses
from devflow.registry import access, publish
from devflow.registry.formats.multipart import Form, UploadedFile, parse_form
from devflow.registry.formats.pypi_names import (
    check_name,
    check_version,
    normalize,
    parse_filename,
)
from devflow.registry.http import (
    Document,
    ReadSessionDep,
    base_url,
    blob_response,
    cached_file,
    cached_repository,
    caller,
    current_document,
    file_ref,
    hot_route,
    protocol_endpoint,
    protocol_route_class,
    remember_files,
    runtime,
    upload_limit,
    write_unit,
)
from devflow.registry.models import Package, PackageFile, PackageVersion, Repository
from devflow.registry.ports import BlobInfo, BlobStore
from devflow.registry.service import get_repository, touch_package

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
_METADATA_LIMIT = 16 * 1024 * 1024
_DESCRIPTION_LIMIT = 256 * 1024


def _render_error(exc: DevflowError) -> Response:
    status = 400 if exc.status == 422 else exc.status  # noqa: PLR2004 - PyPI says 400
    headers = {}
    if isinstance(exc, Unauthenticated):
        headers["WWW-Authenticate"] = 'Basic realm="DevFlow PyPI"'
    return PlainTextResponse(exc.message + "\n", status_code=status, headers=headers)


router = APIRouter(
    prefix="/pypi",
    tags=["registry: pypi"],
    route_class=protocol_route_class(_render_error),
    responses=text_error_responses(),
)
endpoint = protocol_endpoint(_render_error)


async def _reader(
    request: Request, session: AsyncSession, name: str
) -> tuple[Repository, Principal | None]:
    principal = await caller(request, session)
    repo = await cached_repository(request, session, name, "pypi")
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
        principal, await cached_repository(request, None, repo, "pypi"), repo
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
        "requires-python": file.meta.get("requires_python") or None,
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
        principal, await cached_repository(request, None, repo, "pypi"), repo
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


# -- uploads --------------------------------------------------------------------------------------


@router.post(
    "/{repo}/legacy/", response_class=PlainTextResponse, responses={200: {"description": "OK"}}
)
async def upload(repo: str, request: Request) -> Response:
    """Accept a file upload from twine, uv publish, poetry or hatch (the legacy API)."""
    principal = await caller(request)
    # Checked before a byte of the body is taken, and again in the transaction that publishes.
    access.require_publish(principal, await cached_repository(request, None, repo, "pypi"), repo)
    assert principal is not None  # noqa: S101 - require_publish checked it
    rt = runtime(request)
    form = await parse_form(
        request.stream(),
        content_type=request.headers.get("content-type", ""),
        store=rt.store,
        file_limit=upload_limit(request),
    )
    try:
        async with write_unit(request) as session:
            found = await get_repository(session, name=repo)
            target = access.require_publish(
                principal, found if found is None or found.format == "pypi" else None, repo
            )
            await _publish_upload(session, rt.store, repo=target, principal=principal, form=form)
    finally:
        await form.abort()  # no-op for the committed file
    return PlainTextResponse("OK\n")


# twine never follows redirects: accept the URL without the slash too.
router.add_api_route("/{repo}/legacy", upload, methods=["POST"], include_in_schema=False)


def _content(form: Form) -> UploadedFile:
    action = form.get(":action")
    if action not in {None, "file_upload"}:
        raise Invalid(f"unsupported :action {action!r}; only file_upload is supported")
    files = [f for f in form.files if f.field == "content"]
    if len(files) != 1:
        raise Invalid("the upload needs exactly one file in the `content` field")
    return files[0]


async def _publish_upload(
    session: AsyncSession,
    store: BlobStore,
    *,
    repo: Repository,
    principal: Principal,
    form: Form,
) -> None:
    upload_file = _content(form)
    name = check_name(form.get("name") or "")
    version = check_version(form.get("version") or "")
    file_name, file_version, filetype = parse_filename(upload_file.filename)
    if file_name != normalize(name) or file_version != version:
        raise Invalid(
            f"{upload_file.filename} does not belong to {name} {version}: the file name must "
            "start with the project name and version"
        )
    sha256 = (form.get("sha256_digest") or "").strip().lower() or None
    blob = await publish.commit_blob(session, upload_file.writer, sha256=sha256)
    md5 = (form.get("md5_digest") or "").strip().lower()
    if md5 and md5 != blob.md5:
        raise Invalid(f"md5 mismatch: the upload's md5 is {blob.md5} but {md5} was announced")
    metadata = await _inspect(
        store,
        blob,
        upload_file.filename,
        name=name,
        version=str(version),
        blake2_256=(form.get("blake2_256_digest") or "").strip().lower(),
    )
    metadata_blob = None
    meta: dict[str, Any] = {
        "filetype": filetype,
        "pyversion": form.get("pyversion") or "",
        "requires_python": form.get("requires_python") or "",
    }
    if metadata is not None:
        metadata_blob = await publish.store_bytes(session, store, metadata)
        meta["metadata_size"] = len(metadata)
    package = await publish.ensure_package(
        session,
        repo=repo,
        name=normalize(name),
        display_name=name,
        summary=form.get("summary") or "",
    )
    new_version = publish.NewVersion(
        name=package.name,
        display_name=name,
        version=str(version),
        summary=form.get("summary") or "",
        meta=_version_meta(form),
        dependencies=_dependencies(form.fields.get("requires_dist", [])),
    )
    row, _ = await publish.add_version(
        session, package=package, principal=principal, data=new_version, must_be_new=False
    )
    await publish.add_file(
        session,
        repo=repo,
        version=row,
        file=publish.NewFile(
            filename=upload_file.filename, blob=blob, meta=meta, metadata_blob=metadata_blob
        ),
    )
    if new_version.summary and package.summary != new_version.summary:
        package.summary = new_version.summary[:1000]
    await touch_package(session, package)
    await publish.announce_publish(
        session,
        repo=repo,
        principal=principal,
        package=package,
        version=str(version),
        files=[upload_file.filename],
    )


_LIST_FIELDS = ("classifiers", "requires_dist", "project_urls", "provides_extra", "platform")
_TEXT_FIELDS = (
    "metadata_version",
    "summary",
    "home_page",
    "author",
    "author_email",
    "maintainer",
    "maintainer_email",
    "license",
    "license_expression",
    "keywords",
    "requires_python",
    "description_content_type",
)


def _version_meta(form: Form) -> dict[str, Any]:
    meta: dict[str, Any] = {k: form.get(k) for k in _TEXT_FIELDS if form.get(k)}
    meta.update({k: form.fields[k] for k in _LIST_FIELDS if form.fields.get(k)})
    description = form.get("description") or ""
    if description:
        meta["description"] = description[:_DESCRIPTION_LIMIT]
    return meta


def _dependencies(requires_dist: list[str]) -> list[tuple[str, str, str]]:
    deps = []
    for line in requires_dist:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        kind = "optional" if req.marker and "extra" in str(req.marker) else "runtime"
        deps.append((normalize(req.name), line, kind))
    return deps


async def _inspect(
    store: BlobStore,
    blob: BlobInfo,
    filename: str,
    *,
    name: str,
    version: str,
    blake2_256: str = "",
) -> bytes | None:
    """Check the archive (and its BLAKE2b-256 digest when the client sent one, as twine does);
    return a wheel's METADATA (PEP 658), or None for an sdist.

    Raises:
        Invalid: a digest mismatch, a broken archive, or metadata naming another project or
            version.
    """
    blake2 = hashlib.blake2b(digest_size=32)
    async with publish.spooled(store, blob.sha256, on_chunk=blake2.update) as spool:
        if blake2_256 and blake2_256 != blake2.hexdigest():
            raise Invalid(
                f"blake2_256 mismatch: the upload's digest is {blake2.hexdigest()} but "
                f"{blake2_256} was announced"
            )
        try:
            if filename.endswith(".whl"):
                metadata = _wheel_metadata(spool)
            elif filename.endswith(".zip"):
                _sdist_zip_check(spool)
                return None
            else:
                _sdist_tar_check(spool)
                return None
        except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
            raise Invalid(f"{filename} is not a valid archive: {exc}") from None
    headers = email.parser.BytesHeaderParser().parsebytes(metadata)
    meta_name, meta_version = headers.get("Name", ""), headers.get("Version", "")
    if normalize(meta_name) != normalize(name) or check_version(meta_version) != check_version(
        version
    ):
        raise Invalid(
            f"{filename}: its METADATA says {meta_name} {meta_version}, but the upload is for "
            f"{name} {version}"
        )
    return metadata


def _wheel_metadata(spool: IO[bytes]) -> bytes:
    with zipfile.ZipFile(spool) as archive:
        candidates = [
            n for n in archive.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")
        ]
        if len(candidates) != 1:
            raise Invalid("a wheel must hold exactly one top-level *.dist-info/METADATA")
        info = archive.getinfo(candidates[0])
        if info.file_size > _METADATA_LIMIT:
            raise Invalid("the wheel's METADATA is larger than 16 MiB")
        return archive.read(info)


def _sdist_tar_check(spool: IO[bytes]) -> None:
    with tarfile.open(fileobj=spool, mode="r:gz") as archive:
        for member in archive:
            if member.name.startswith("/") or ".." in member.name.split("/"):
                raise Invalid(f"the sdist holds an unsafe path {member.name!r}")


def _sdist_zip_check(spool: IO[bytes]) -> None:
    with zipfile.ZipFile(spool) as archive:
        bad = archive.testzip()
        if bad is not None:
            raise Invalid(f"the sdist's member {bad!r} is corrupt")


__all__ = ["negotiate", "router"]
