"""npm reads: packuments (full and abbreviated), single versions, tarballs, dist-tags, whoami,
ping and search (`search`), all behind one plain route (`GET /npm/<repo>/<path>`, see
`core.protocol`)."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core.errors import NotFound, Unauthenticated
from devflow.core.protocol import hot_route
from devflow.registry import access, service
from devflow.registry.formats.npm._common import (
    FORMAT,
    endpoint,
    iso,
    json_response,
    rev,
    router,
)
from devflow.registry.formats.npm.meta import NpmFileMeta, NpmPackageMeta, NpmVersionMeta
from devflow.registry.formats.npm.names import PackagePath, parse_path
from devflow.registry.formats.npm.people import author, names, person, publisher
from devflow.registry.formats.npm.search import search
from devflow.registry.http import (
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
from devflow.registry.runtime import Document, FileRef, file_ref
from devflow.registry.versions import tags_of

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
_SHAPE = 2
"""The packument's shape, in its ETag: bumped when a DevFlow release changes what a packument
holds (2: people with emails), so that npm's cache, which revalidates by ETag, takes the new one."""


@endpoint
async def read(request: Request) -> Response:
    """Serve packuments, versions, tarballs, dist-tags, whoami, ping and search."""
    repo, path = request.path_params["repo"], request.path_params["path"]
    principal = await caller(request)
    endpoint = path.strip("/")
    if endpoint == "-/ping":
        return json_response({})
    if endpoint == "-/whoami":
        if principal is None:
            raise Unauthenticated("not logged in: run `npm login` or set _authToken in .npmrc")
        return json_response({"username": principal.username})
    found = access.require_read(
        principal, await cached_repository(request, None, repo, FORMAT), repo
    )
    if not endpoint.startswith("-/"):
        return await _read_package(request, found, parse_path(path))
    async with runtime(request).read_sessions() as session:
        if endpoint == "-/v1/search":
            return await search(request, session, found)
        if path.startswith("-/package/"):
            route = parse_path(path.removeprefix("-/package/"))
            if route.rest != ["dist-tags"]:
                raise NotFound(f"no such endpoint {path!r}")
            package = await service.require_package(session, repo=found, name=route.name)
            return json_response(await tags_of(session, package))
    raise NotFound(f"no such endpoint {path!r}")


HOT_ROUTES = (hot_route(router, "/{repo}/{path:path}", read),)


async def _read_package(request: Request, repo: Repository, route: PackagePath) -> Response:
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
    return json_response(doc["versions"][wanted])


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
        "created": iso(package.created_at),
        "modified": iso(package.updated_at),
    }
    for version, file in rows:
        manifest = dict(NpmVersionMeta.of(version.meta).manifest)
        digests = NpmFileMeta.of(file.meta)
        manifest["_id"] = f"{package.name}@{version.version}"
        manifest["dist"] = {
            **manifest.get("dist", {}),
            "tarball": base + file.filename.rsplit("/", 1)[-1],
            "shasum": digests.shasum,
            "integrity": digests.integrity,
        }
        by = publisher(manifest.get("_npmUser"))
        if by is None:
            manifest.pop("_npmUser", None)
        else:
            manifest["_npmUser"] = by
        deprecated = version.deprecated
        if version.yanked and not deprecated:
            deprecated = f"yanked: {version.yanked_reason or 'do not use'}"
        if deprecated:
            manifest["deprecated"] = deprecated
        else:
            manifest.pop("deprecated", None)
        versions[version.version] = manifest
        times[version.version] = iso(version.published_at)
    tags = await tags_of(session, package)
    latest = versions.get(tags.get("latest", ""), {})
    about = NpmPackageMeta.of(package.meta)
    doc: dict[str, Any] = {
        "_id": package.name,
        "_rev": rev(package),
        "name": package.name,
        "description": package.summary,
        "dist-tags": tags,
        "versions": versions,
        "time": times,
        "maintainers": [person(name) for name in names(about.maintainers)],
        "readme": about.readme or "",
    }
    doc.update({k: latest[k] for k in _HOISTED if k in latest})
    if "author" in doc and (written := author(doc.pop("author"))) is not None:
        doc["author"] = written
    return doc, tuple(file_ref(file, package.id) for _, file in rows)


async def _packument(request: Request, repo: Repository, name: str) -> Response:
    corgi = CORGI in request.headers.get("accept", "")
    rt = runtime(request)
    # One cheap statement per request: a packument is served from the cache only while the
    # package's revision (bumped by every publish, tag change, deprecation and unpublish, in any
    # process) is unchanged.
    head = await rt.reads.package_head(repo.id, name)
    if head is None:
        raise NotFound(
            f"no package {name!r} in {repo.name!r} (DevFlow does not mirror registry.npmjs.org "
            "yet: for public packages, point only your own scope here, "
            "`@yourscope:registry=<this URL>` in .npmrc, and leave `registry=` as it was)"
        )
    etag = f'W/"{"c" if corgi else "f"}{_SHAPE}-{head.id.hex[:12]}-{head.revision}"'
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


__all__ = ["CORGI", "HOT_ROUTES", "read"]
