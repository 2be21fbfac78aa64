"""npm writes: publish (see `upload`), whole-document updates (deprecate, unpublish a version,
dist-tags), dist-tag add and remove, unpublish, and the CouchDB-style login.

Each body is read before the unit of work opens (see `registry.http.write_unit`): a client that
sends it slowly holds no database connection meanwhile.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core.auth import Principal
from devflow.core.errors import Invalid, NotFound, Unauthenticated
from devflow.core.http import SessionDep
from devflow.registry import access, service, versions
from devflow.registry.blobs import check_limit
from devflow.registry.formats.npm import publish_body_limit
from devflow.registry.formats.npm._common import (
    FORMAT,
    find_repository,
    json_response,
    rev,
    router,
)
from devflow.registry.formats.npm.body import parse_document, read_publish
from devflow.registry.formats.npm.names import PackagePath, check_tag, parse_path
from devflow.registry.formats.npm.upload import NpmUpload
from devflow.registry.http import (
    cached_repository,
    caller,
    optional_principal,
    runtime,
    upload_limit,
    write_unit,
)
from devflow.registry.models import Package, PackageVersion, Repository
from devflow.registry.publish import publish_upload
from devflow.registry.versions import tags_of

_SMALL_BODY = 64 * 1024  # a login or a dist-tag


async def _read_small(request: Request, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        check_limit(size, limit)
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
            found = await find_repository(session, repo)
            return await _set_tag(session, principal, found, repo, route, tag)
    route = parse_path(path)
    if route.rest and (len(route.rest) != 2 or route.rest[0] != "-rev"):  # noqa: PLR2004
        raise NotFound(f"no such endpoint {path!r}")
    # Refused before a byte of the body is taken; checked again in the unit of work.
    access.require_publish(principal, await cached_repository(request, None, repo, FORMAT), repo)
    assert principal is not None  # noqa: S101 - require_publish checked it
    store = runtime(request).store
    sent = await read_publish(
        request.stream(),
        store=store,
        limit=publish_body_limit(upload_limit(request)),
        file_limit=upload_limit(request),
    )
    try:
        body = sent.document
        if body.get("name", route.name) != route.name:
            raise Invalid(
                f"the document names {body.get('name')!r} but the URL names {route.name!r}"
            )
        if body.get("_attachments"):
            upload = NpmUpload.read(sent, route.name, principal)
            async with write_unit(request) as session:
                done = await publish_upload(
                    session, principal=principal, repository=repo, upload=upload, store=store
                )
                return json_response({"ok": True, "id": route.name, "rev": rev(done.package)}, 201)
        async with write_unit(request) as session:
            target = access.require_publish(principal, await find_repository(session, repo), repo)
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
    return json_response(
        {"ok": True, "id": f"org.couchdb.user:{principal.username}", "token": password}, 201
    )


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
            await versions.deprecate_version(
                session,
                principal=principal,
                repository=repo.name,
                name=name,
                version=ver,
                message=str(message or ""),
            )
    for ver in removed:
        await versions.delete_version(
            session, principal=principal, repository=repo.name, name=name, version=ver
        )
    if removed and len(removed) == len(current):
        return json_response({"ok": True, "id": name})
    remaining = {v: row for v, row in current.items() if v not in removed}
    for tag, target in (body.get("dist-tags") or {}).items():
        if isinstance(target, str) and target in remaining:
            await _put_tag(session, package, str(tag), remaining[target])
    if "latest" not in await tags_of(session, package):
        newest = max(remaining.values(), key=lambda v: v.published_at)
        await _put_tag(session, package, "latest", newest)
    await service.touch_package(session, package)
    return json_response({"ok": True, "id": name, "rev": rev(package)})


async def _set_tag(
    session: AsyncSession,
    principal: Principal | None,
    found: Repository | None,
    repo_name: str,
    route: PackagePath,
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
    return json_response({"ok": True}, 201)


@router.post("/{repo}/{path:path}", include_in_schema=False)
async def post(repo: str, path: str) -> Response:
    """Answer npm's optional POST endpoints: web login (refused, so npm falls back to the
    CouchDB login) and audits (no advisories are known here)."""
    del repo
    if path.strip("/") == "-/npm/v1/security/advisories/bulk":
        return json_response({})
    raise NotFound(f"{path!r} is not supported here; `npm login` falls back to user/password")


@router.delete("/{repo}/{path:path}")
async def remove(repo: str, path: str, request: Request, session: SessionDep) -> Response:
    """Unpublish a package or a version's tarball, or remove a dist-tag."""
    principal = await caller(request, session)
    found = await find_repository(session, repo)
    if path.startswith("-/package/"):
        route = parse_path(path.removeprefix("-/package/"))
        if len(route.rest) != 2 or route.rest[0] != "dist-tags":  # noqa: PLR2004
            raise NotFound("no such endpoint")
        target = access.require_publish(principal, found, repo)
        if route.rest[1] == "latest":
            raise Invalid("the latest tag cannot be removed; point it elsewhere instead")
        package = await service.require_package(session, repo=target, name=route.name)
        await versions.remove_tag(session, package, route.rest[1])
        await service.touch_package(session, package)
        return json_response({"ok": True})
    route = parse_path(path)
    assert_principal = access.require_admin(principal, found, repo)
    if route.rest[:1] == ["-rev"]:
        await versions.delete_package(
            session, principal=_must(principal), repository=assert_principal.name, name=route.name
        )
        return json_response({"ok": True})
    if len(route.rest) >= 2 and route.rest[0] == "-":  # noqa: PLR2004
        return json_response({"ok": True})  # the tarball went with its version in the preceding PUT
    raise NotFound(f"no such endpoint {path!r}")


def _must(principal: Principal | None) -> Principal:
    if principal is None:
        raise Unauthenticated("authentication required")
    return principal


async def _put_tag(
    session: AsyncSession, package: Package, tag: str, version: PackageVersion
) -> None:
    # A tag made before npm's rules (`v1`) can still be moved, not made anew.
    await versions.point_tag(session, package, tag, version, check_new=check_tag)
