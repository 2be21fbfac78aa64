"""npm: packuments (full and abbreviated), tarballs, publish, dist-tags, deprecate, unpublish,
CouchDB-style login with a DevFlow token, whoami, ping and search, at `/npm/<repo>/`.

Auth is `Authorization: Bearer <token>` from `.npmrc` (`//host/npm/<repo>/:_authToken=…`), or
Basic with the token as the password.
"""

from __future__ import annotations

import base64
import gzip
import tarfile
from dataclasses import dataclass
from typing import IO, Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core import clock
from devflow.core.auth import Principal
from devflow.core.errors import (
    DevflowError,
    Invalid,
    NotFound,
    Unauthenticated,
)
from devflow.core.http import SessionDep
from devflow.core.schemas import error_responses
from devflow.registry import access, publish, service
from devflow.registry.formats.npm_body import PublishBody, parse_document, read_publish
from devflow.registry.formats.npm_names import (
    MAX_FILENAME,
    check_dist_tags,
    check_name,
    check_new_name,
    check_tag,
    check_version,
    clean_version,
)
from devflow.registry.http import (
    Document,
    FileRef,
    base_url,
    blob_response,
    cached_file,
    cached_repository,
    caller,
    current_document,
    file_ref,
    hot_route,
    optional_principal,
    protocol_endpoint,
    protocol_route_class,
    remember_files,
    runtime,
    upload_limit,
    write_unit,
)
from devflow.registry.models import Package, PackageFile, PackageVersion, Repository, Tag
from devflow.registry.ports import BlobStore

CORGI = "application/vnd.npm.install-v1+json"
_CORGI_FIELDS = (
    "name",
    "version",
    "dependencies",
    "optionalDependencies",
    "devDependencies",
    "peerDependencies",
    "peerDependenciesMeta",
    "bundleDependencies",
    "bundledDependencies",
    "acceptDependencies",
    "bin",
    "directories",
    "engines",
    "os",
    "cpu",
    "funding",
    "_hasShrinkwrap",
    "hasInstallScript",
)
_HOISTED = ("keywords", "repository", "license", "author", "homepage", "bugs")
_DEP_KINDS = {
    "dependencies": "runtime",
    "devDependencies": "dev",
    "peerDependencies": "peer",
    "optionalDependencies": "optional",
}


def _json(
    body: Any, status: int = 200, media: str = "application/json", **headers: str
) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=media, headers=headers)


def _render_error(exc: DevflowError) -> Response:
    status = 400 if exc.status == 422 else exc.status  # noqa: PLR2004 - npm expects 400
    headers = {}
    if isinstance(exc, Unauthenticated):
        headers["WWW-Authenticate"] = 'Bearer realm="DevFlow npm"'
    return _json({"error": exc.message, "reason": exc.message}, status, **headers)


class NpmError(BaseModel):
    """An npm error answer, `{"error": "...", "reason": "..."}` (the request guard's refusals
    carry the API's `{"error": {...}}` instead)."""

    error: Any
    reason: str | None = None


router = APIRouter(
    prefix="/npm",
    tags=["registry: npm"],
    route_class=protocol_route_class(_render_error),
    responses=error_responses(NpmError),
)


@dataclass(frozen=True)
class Route:
    """A parsed npm path: the package name and what follows it."""

    name: str
    rest: list[str]


def parse_path(path: str) -> Route:
    """Split `@scope/name/-/file.tgz` (scoped or not) into the name and the rest.

    Raises:
        Invalid: a path with `..` or an invalid package name.
    """
    parts = [p for p in path.split("/") if p != ""]
    if any(p in {".", ".."} for p in parts) or not parts:
        raise Invalid(f"bad path {path!r}")
    take = 2 if parts[0].startswith("@") else 1
    if len(parts) < take:
        raise Invalid(f"bad package path {path!r}")
    return Route(check_name("/".join(parts[:take])), parts[take:])


async def _repo(session: AsyncSession, name: str) -> Repository | None:
    repo = await service.get_repository(session, name=name)
    return repo if repo is not None and repo.format == "npm" else None


# -- reads ----------------------------------------------------------------------------------------


@protocol_endpoint(_render_error)
async def read(request: Request) -> Response:
    """Serve packuments, versions, tarballs, dist-tags, whoami, ping and search."""
    repo, path = request.path_params["repo"], request.path_params["path"]
    principal = await caller(request)
    endpoint = path.strip("/")
    if endpoint == "-/ping":
        return _json({})
    if endpoint == "-/whoami":
        if principal is None:
            raise Unauthenticated("not logged in: run `npm login` or set _authToken in .npmrc")
        return _json({"username": principal.username})
    found = access.require_read(
        principal, await cached_repository(request, None, repo, "npm"), repo
    )
    if not endpoint.startswith("-/"):
        return await _read_package(request, found, parse_path(path))
    async with runtime(request).read_sessions() as session:
        if endpoint == "-/v1/search":
            return await _search(request, session, found)
        if path.startswith("-/package/"):
            route = parse_path(path.removeprefix("-/package/"))
            if route.rest != ["dist-tags"]:
                raise NotFound(f"no such endpoint {path!r}")
            package = await service.require_package(session, repo=found, name=route.name)
            return _json(await _tags(session, package))
    raise NotFound(f"no such endpoint {path!r}")


HOT_ROUTES = (hot_route(router, "/{repo}/{path:path}", read),)


async def _read_package(request: Request, repo: Repository, route: Route) -> Response:
    if len(route.rest) == 2 and route.rest[0] == "-":  # noqa: PLR2004
        return await _tarball(request, repo, route.name, route.rest[1])
    if not route.rest:
        return await _packument(request, repo, route.name)
    if len(route.rest) > 1:
        raise NotFound(f"no such endpoint {'/'.join(route.rest)!r}")
    async with runtime(request).read_sessions() as session:
        package = await service.require_package(session, repo=repo, name=route.name)
        doc = await _document(request, session, repo, package)
    wanted = doc["dist-tags"].get(route.rest[0], route.rest[0])
    if wanted not in doc["versions"]:
        raise NotFound(f"no version or tag {route.rest[0]!r} of {package.name}")
    return _json(doc["versions"][wanted])


async def _tags(session: AsyncSession, package: Package) -> dict[str, str]:
    rows = await session.execute(
        select(Tag.name, PackageVersion.version)
        .join(PackageVersion, PackageVersion.id == Tag.version_id)
        .where(Tag.package_id == package.id)
        .order_by(Tag.name)
    )
    return dict(rows.all())


def _rev(package: Package) -> str:
    return f"{package.revision}-{package.id.hex[:16]}"


async def _document(
    request: Request, session: AsyncSession, repo: Repository, package: Package
) -> dict[str, Any]:
    doc, _ = await _document_with_files(request, session, repo, package)
    return doc


async def _document_with_files(
    request: Request, session: AsyncSession, repo: Repository, package: Package
) -> tuple[dict[str, Any], tuple[FileRef, ...]]:
    rows = (
        await session.execute(
            select(PackageVersion, PackageFile)
            .join(PackageFile, PackageFile.version_id == PackageVersion.id)
            .where(PackageVersion.package_id == package.id)
            .order_by(PackageVersion.published_at)
        )
    ).all()
    base = f"{base_url(request)}/npm/{repo.name}/{package.name}/-/"
    versions: dict[str, Any] = {}
    times: dict[str, str] = {
        "created": _iso(package.created_at),
        "modified": _iso(package.updated_at),
    }
    for version, file in rows:
        manifest = dict(version.meta.get("manifest", {}))
        manifest["_id"] = f"{package.name}@{version.version}"
        manifest["dist"] = {
            **manifest.get("dist", {}),
            "tarball": base + file.filename.rsplit("/", 1)[-1],
            "shasum": file.meta["shasum"],
            "integrity": file.meta["integrity"],
        }
        deprecated = version.deprecated
        if version.yanked and not deprecated:
            deprecated = f"yanked: {version.yanked_reason or 'do not use'}"
        if deprecated:
            manifest["deprecated"] = deprecated
        else:
            manifest.pop("deprecated", None)
        versions[version.version] = manifest
        times[version.version] = _iso(version.published_at)
    tags = await _tags(session, package)
    latest = versions.get(tags.get("latest", ""), {})
    doc: dict[str, Any] = {
        "_id": package.name,
        "_rev": _rev(package),
        "name": package.name,
        "description": package.summary,
        "dist-tags": tags,
        "versions": versions,
        "time": times,
        "maintainers": package.meta.get("maintainers", []),
        "readme": package.meta.get("readme", ""),
    }
    doc.update({k: latest[k] for k in _HOISTED if k in latest})
    return doc, tuple(file_ref(file, package.id) for _, file in rows)


def _iso(moment: Any) -> str:
    return str(moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"))


async def _packument(request: Request, repo: Repository, name: str) -> Response:
    corgi = CORGI in request.headers.get("accept", "")
    rt = runtime(request)
    # One cheap statement per request: a packument is served from the cache only while the
    # package's revision (bumped by every publish, tag change, deprecation and unpublish, in any
    # process) is unchanged.
    head = await rt.reads.package_head(repo.id, name)
    if head is None:
        raise NotFound(f"no package {name!r} in {repo.name!r}")
    etag = f'W/"{"c" if corgi else "f"}-{head.id.hex[:12]}-{head.revision}"'
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers={"ETag": etag})
    document = await current_document(
        request,
        head,
        "corgi" if corgi else "full",
        lambda session, package: _render_packument(request, session, repo, package, corgi=corgi),
    )
    if document is None:
        raise NotFound(f"no package with id {head.id} in {repo.name!r}")
    remember_files(request, repo, document.files)
    media = CORGI if corgi else "application/json"
    return Response(document.body, media_type=media, headers={"ETag": etag, "Vary": "Accept"})


async def _render_packument(
    request: Request, session: AsyncSession, repo: Repository, package: Package, *, corgi: bool
) -> Document:
    doc, refs = await _document_with_files(request, session, repo, package)
    return Document(orjson.dumps(_abbreviate(doc) if corgi else doc), refs)


def _abbreviate(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": doc["name"],
        "modified": doc["time"]["modified"],
        "dist-tags": doc["dist-tags"],
        "versions": {
            ver: {
                **{k: m[k] for k in _CORGI_FIELDS if k in m},
                "dist": m["dist"],
                **({"deprecated": m["deprecated"]} if "deprecated" in m else {}),
            }
            for ver, m in doc["versions"].items()
        },
    }


async def _tarball(request: Request, repo: Repository, name: str, basename: str) -> Response:
    scope = name.rsplit("/", 1)[0] + "/" if "/" in name else ""
    ref = await cached_file(request, repo, scope + basename)
    if ref is None:
        raise NotFound(f"no tarball {basename!r} of {name}")
    return await blob_response(
        request, ref, package_id=ref.package_id, media_type="application/octet-stream"
    )


async def _search(request: Request, session: AsyncSession, repo: Repository) -> Response:
    text = request.query_params.get("text", "").strip()
    try:
        size = max(1, min(250, int(request.query_params.get("size", "20"))))
        start = max(0, int(request.query_params.get("from", "0")))
    except ValueError:
        raise Invalid("size and from must be numbers") from None
    query = select(Package).where(Package.repository_id == repo.id)
    if text:
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(Package.name.ilike(pattern) | Package.summary.ilike(pattern))
    packages = list(await session.scalars(query.order_by(Package.name)))
    objects = []
    for package in packages[start : start + size]:
        tags = await _tags(session, package)
        objects.append(
            {
                "package": {
                    "name": package.name,
                    "version": tags.get("latest", ""),
                    "description": package.summary,
                    "date": _iso(package.updated_at),
                    "links": {},
                    "publisher": {"username": package.meta.get("publisher", "")},
                    "maintainers": package.meta.get("maintainers", []),
                },
                "score": {
                    "final": 1.0,
                    "detail": {"quality": 1.0, "popularity": 1.0, "maintenance": 1.0},
                },
                "searchScore": 1.0,
                "downloads": {"weekly": package.downloads},
            }
        )
    return _json({"objects": objects, "total": len(packages), "time": _iso(clock.now())})


# -- writes ---------------------------------------------------------------------------------------


_SMALL_BODY = 64 * 1024  # a login or a dist-tag


def publish_body_limit(file_limit: int) -> int:
    """Return the largest publish document for a tarball of `file_limit` bytes: npm sends it
    base64-encoded inside JSON with the package's manifest."""
    return file_limit * 4 // 3 + 1024 * 1024


async def _read_small(request: Request, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        publish.check_limit(size, limit)
        chunks.append(chunk)
    return b"".join(chunks)


async def _read_json(request: Request, limit: int) -> dict[str, Any]:
    return parse_document(await _read_small(request, limit))


@router.put(
    "/{repo}/{path:path}",
    responses={
        201: {
            "description": "Published, logged in, or a dist-tag set.",
            "content": {"application/json": {}},
        }
    },
)
async def write(repo: str, path: str, request: Request) -> Response:
    """Publish, update (deprecate, unpublish a version), set dist-tags, or log in.

    Each body is read before the unit of work opens (see `registry.http.write_unit`): a client
    that sends it slowly holds no database connection meanwhile.
    """
    if path.startswith("-/user/org.couchdb.user:"):
        login = await _read_json(request, _SMALL_BODY)
        async with write_unit(request) as session:
            user = path.removeprefix("-/user/org.couchdb.user:")
            return await _login(request, session, user, login)
    principal = await caller(request)
    if path.startswith("-/package/"):
        route = parse_path(path.removeprefix("-/package/"))
        tag = await _read_small(request, _SMALL_BODY)
        async with write_unit(request) as session:
            found = await _repo(session, repo)
            return await _set_tag(session, principal, found, repo, route, tag)
    route = parse_path(path)
    if route.rest and (len(route.rest) != 2 or route.rest[0] != "-rev"):  # noqa: PLR2004
        raise NotFound(f"no such endpoint {path!r}")
    # Checked before a byte of the body is taken, and again in the transaction that publishes.
    access.require_publish(principal, await cached_repository(request, None, repo, "npm"), repo)
    assert principal is not None  # noqa: S101 - require_publish checked it
    sent = await read_publish(
        request.stream(),
        store=runtime(request).store,
        limit=publish_body_limit(upload_limit(request)),
        file_limit=upload_limit(request),
    )
    try:
        body = sent.document
        if body.get("name", route.name) != route.name:
            raise Invalid(
                f"the document names {body.get('name')!r} but the URL names {route.name!r}"
            )
        async with write_unit(request) as session:
            target = access.require_publish(principal, await _repo(session, repo), repo)
            if body.get("_attachments"):
                return await _publish(request, session, principal, target, route.name, sent)
            return await _update(session, principal, target, route.name, body)
    finally:
        if sent.writer is not None:
            await sent.writer.abort()  # a no-op once the blob is committed


async def _login(
    request: Request, session: AsyncSession, user: str, body: dict[str, Any]
) -> Response:
    password = str(body.get("password") or "")
    name = str(body.get("name") or user)
    try:
        principal = await optional_principal(request, session, password or None)
    except Unauthenticated:
        principal = None
    if principal is None or principal.username.lower() != name.lower():
        raise Unauthenticated(
            "npm login takes your DevFlow user name and a DevFlow token (with registry scopes) "
            "as the password; create one with `devflow token create npm --scope registry:publish`"
        )
    return _json(
        {"ok": True, "id": f"org.couchdb.user:{principal.username}", "token": password}, 201
    )


async def _publish(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    repo: Repository,
    name: str,
    sent: PublishBody,
) -> Response:
    body = sent.document
    attachment_name, version, manifest, attachment = _attachment(body, name)
    if sent.writer is None:
        raise Invalid(f"the attachment {attachment_name!r} has no data")
    length = attachment.get("length") if isinstance(attachment, dict) else None
    if length is not None and length != sent.size:
        raise Invalid(f"the attachment has {sent.size} bytes but its length says {length}")
    blob = await publish.commit_blob(session, sent.writer, size=sent.size)
    await _check_tarball(runtime(request).store, blob.sha256, name=name, version=version)
    dist = manifest.get("dist") or {}
    integrity = "sha512-" + base64.b64encode(bytes.fromhex(blob.sha512)).decode()
    if dist.get("shasum") and dist["shasum"] != blob.sha1:
        raise Invalid(f"shasum mismatch: the tarball's sha1 is {blob.sha1}, not {dist['shasum']}")
    if dist.get("integrity", "").startswith("sha512-") and dist["integrity"] != integrity:
        raise Invalid("integrity mismatch: the tarball's sha512 differs from dist.integrity")
    package = await publish.ensure_package(
        session, repo=repo, name=name, display_name=name, summary=str(body.get("description", ""))
    )
    stored = {k: v for k, v in manifest.items() if k not in {"readme", "_id"}}
    stored["_npmUser"] = {"name": principal.username}
    stored["dist"] = {k: v for k, v in dist.items() if k != "tarball"}
    deps = [
        (dep, str(spec), kind)
        for field, kind in _DEP_KINDS.items()
        for dep, spec in (manifest.get(field) or {}).items()
    ]
    row, _ = await publish.add_version(
        session,
        package=package,
        principal=principal,
        data=publish.NewVersion(
            name=name,
            display_name=name,
            version=version,
            summary=str(manifest.get("description", ""))[:1000],
            meta={"manifest": stored},
            dependencies=deps,
        ),
        must_be_new=True,
    )
    await publish.add_file(
        session,
        repo=repo,
        version=row,
        file=publish.NewFile(
            filename=attachment_name,
            blob=blob,
            meta={"shasum": blob.sha1, "integrity": integrity},
        ),
    )
    tags = body.get("dist-tags") or {"latest": version}
    for tag, target in tags.items():
        if target == version:
            await _put_tag(session, package, str(tag), row)
    if not await _tags(session, package):
        await _put_tag(session, package, "latest", row)
    readme = body.get("readme") or manifest.get("readme")
    package.meta = {
        **package.meta,
        "readme": str(readme or package.meta.get("readme", ""))[:262144],
        "maintainers": [{"name": principal.username}],
        "publisher": principal.username,
    }
    package.summary = str(body.get("description") or package.summary)[:1000]
    await service.touch_package(session, package)
    await publish.announce_publish(
        session,
        repo=repo,
        principal=principal,
        package=package,
        version=version,
        files=[attachment_name],
    )
    return _json({"ok": True, "id": name, "rev": _rev(package)}, 201)


def _attachment(body: dict[str, Any], name: str) -> tuple[str, str, dict[str, Any], Any]:
    """Return the tarball attachment's name, its version, that version's manifest, and the
    attachment's own fields.

    Raises:
        Invalid: not exactly one .tgz, one that matches no version of this package, or a name,
            version or dist-tag that npm would refuse.
    """
    check_new_name(name)
    attachments = body.get("_attachments") or {}
    tarballs = {k: v for k, v in attachments.items() if k.endswith(".tgz")}
    if len(tarballs) != 1:
        raise Invalid("a publish carries exactly one .tgz attachment")
    ((attachment_name, attachment),) = tarballs.items()
    version = attachment_name.removeprefix(f"{name}-").removesuffix(".tgz")
    manifest = (body.get("versions") or {}).get(version)
    if attachment_name != f"{name}-{version}.tgz" or not isinstance(manifest, dict):
        raise Invalid(f"the attachment {attachment_name!r} does not match a version in `versions`")
    if manifest.get("name") != name or manifest.get("version") != version:
        raise Invalid(f"the manifest of {attachment_name} names another package or version")
    check_version(version)
    if len(attachment_name) > MAX_FILENAME:
        raise Invalid(
            f"{attachment_name!r} is longer than {MAX_FILENAME} characters: shorten the package "
            "name or the version"
        )
    check_dist_tags(body.get("dist-tags") or {})
    return attachment_name, version, manifest, attachment


async def _check_tarball(store: BlobStore, sha256: str, *, name: str, version: str) -> None:
    async with publish.spooled(store, sha256) as spool:
        if spool.read(2) != b"\x1f\x8b":
            raise Invalid("the tarball is not gzip-compressed (npm pack makes .tgz files)")
        spool.seek(0)
        raw = _package_json(spool)
    if raw is None:
        raise Invalid("the tarball has no package/package.json")
    try:
        inner = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise Invalid("the tarball's package.json is not valid JSON") from None
    written = inner.get("version")
    # npm publishes the cleaned version of what package.json says: 1.0.0+build.7 as 1.0.0.
    cleaned = clean_version(written) if isinstance(written, str) else None
    if inner.get("name") != name or version not in {written, cleaned}:
        raise Invalid(
            f"the tarball's package.json says {inner.get('name')}@{inner.get('version')}, "
            f"but the publish is for {name}@{version}"
        )


def _package_json(spool: IO[bytes]) -> bytes | None:
    try:
        with tarfile.open(fileobj=spool, mode="r:gz") as archive:
            member = next(
                (
                    m
                    for m in archive
                    if m.name.split("/", 1)[-1] == "package.json" and m.name.count("/") == 1
                ),
                None,
            )
            return archive.extractfile(member).read() if member is not None else None  # type: ignore[union-attr]
    except (tarfile.TarError, EOFError, OSError, gzip.BadGzipFile) as exc:
        raise Invalid(f"the tarball is broken: {exc}") from None


async def _put_tag(
    session: AsyncSession, package: Package, tag: str, version: PackageVersion
) -> None:
    existing = await session.scalar(
        select(Tag).where(Tag.package_id == package.id, Tag.name == tag)
    )
    if existing is None:
        check_tag(tag)  # a tag made before these rules (`v1`) can still be moved, not made anew
        session.add(Tag(package_id=package.id, name=tag, version_id=version.id))
    else:
        existing.version_id = version.id
        existing.updated_at = clock.now()
    await session.flush()


async def _update(
    session: AsyncSession,
    principal: Principal,
    repo: Repository,
    name: str,
    body: dict[str, Any],
) -> Response:
    """Apply a whole-document PUT: deprecations, dist-tags, and unpublished versions."""
    package = await service.require_package(session, repo=repo, name=name)
    current = {v.version: v for v in await service.list_versions(session, package=package)}
    sent = body.get("versions")
    if not isinstance(sent, dict):
        raise Invalid("the document has no `versions` object")
    removed = [v for v in current if v not in sent]
    for ver, manifest in sent.items():
        row = current.get(ver)
        if row is None:
            raise Invalid(f"version {ver} is not published; publish it with its tarball")
        message = manifest.get("deprecated") if isinstance(manifest, dict) else None
        if (message or None) != row.deprecated:
            await service.deprecate_version(
                session,
                principal=principal,
                repository=repo.name,
                name=name,
                version=ver,
                message=str(message or ""),
            )
    for ver in removed:
        await service.delete_version(
            session, principal=principal, repository=repo.name, name=name, version=ver
        )
    if removed and len(removed) == len(current):
        return _json({"ok": True, "id": name})
    remaining = {v: row for v, row in current.items() if v not in removed}
    for tag, target in (body.get("dist-tags") or {}).items():
        if isinstance(target, str) and target in remaining:
            await _put_tag(session, package, str(tag), remaining[target])
    if "latest" not in await _tags(session, package):
        newest = max(remaining.values(), key=lambda v: v.published_at)
        await _put_tag(session, package, "latest", newest)
    await service.touch_package(session, package)
    return _json({"ok": True, "id": name, "rev": _rev(package)})


async def _set_tag(
    session: AsyncSession,
    principal: Principal | None,
    found: Repository | None,
    repo_name: str,
    route: Route,
    sent: bytes,
) -> Response:
    if len(route.rest) != 2 or route.rest[0] != "dist-tags":  # noqa: PLR2004
        raise NotFound("no such endpoint")
    repo = access.require_publish(principal, found, repo_name)
    package = await service.require_package(session, repo=repo, name=route.name)
    try:
        body = orjson.loads(sent or b'""')
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, str):
        raise Invalid('the body must be a JSON string naming a version, e.g. "1.2.3"')
    version = await service.require_version(session, package=package, version=body)
    await _put_tag(session, package, route.rest[1], version)
    await service.touch_package(session, package)
    return _json({"ok": True}, 201)


@router.post("/{repo}/{path:path}", include_in_schema=False)
async def post(repo: str, path: str) -> Response:
    """Answer npm's optional POST endpoints: web login (refused, so npm falls back to the
    CouchDB login) and audits (no advisories are known here)."""
    del repo
    if path.strip("/") == "-/npm/v1/security/advisories/bulk":
        return _json({})
    raise NotFound(f"{path!r} is not supported here; `npm login` falls back to user/password")


@router.delete("/{repo}/{path:path}")
async def remove(repo: str, path: str, request: Request, session: SessionDep) -> Response:
    """Unpublish a package or a version's tarball, or remove a dist-tag."""
    principal = await caller(request, session)
    found = await _repo(session, repo)
    if path.startswith("-/package/"):
        route = parse_path(path.removeprefix("-/package/"))
        if len(route.rest) != 2 or route.rest[0] != "dist-tags":  # noqa: PLR2004
            raise NotFound("no such endpoint")
        target = access.require_publish(principal, found, repo)
        if route.rest[1] == "latest":
            raise Invalid("the latest tag cannot be removed; point it elsewhere instead")
        package = await service.require_package(session, repo=target, name=route.name)
        await session.execute(
            delete(Tag).where(Tag.package_id == package.id, Tag.name == route.rest[1])
        )
        await service.touch_package(session, package)
        return _json({"ok": True})
    route = parse_path(path)
    assert_principal = access.require_admin(principal, found, repo)
    if route.rest[:1] == ["-rev"]:
        await service.delete_package(
            session, principal=_must(principal), repository=assert_principal.name, name=route.name
        )
        return _json({"ok": True})
    if len(route.rest) >= 2 and route.rest[0] == "-":  # noqa: PLR2004
        return _json({"ok": True})  # the tarball went with its version in the preceding PUT
    raise NotFound(f"no such endpoint {path!r}")


def _must(principal: Principal | None) -> Principal:
    if principal is None:
        raise Unauthenticated("authentication required")
    return principal
