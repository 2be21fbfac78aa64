"""Manifests and indexes: parsed, checked and stored byte-exact; tags."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import Response
from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from devflow.core import clock
from devflow.core.auth import Principal
from devflow.registry import access, blobs
from devflow.registry.formats.oci import views
from devflow.registry.formats.oci._common import (
    INDEX_TYPES,
    MANIFEST_LIMIT,
    MANIFEST_TYPES,
    TAG_RE,
    OciError,
    find_repository,
    headers_of,
    may_push,
    parse_digest,
    repo_for_push,
    repo_for_read,
)
from devflow.registry.http import runtime
from devflow.registry.models import (
    OciBlobLink,
    OciManifest,
    OciTag,
    Repository,
)

# -- manifests ------------------------------------------------------------------------------------


def _invalid_manifest(message: str) -> OciError:
    return OciError("MANIFEST_INVALID", message, http_status=400)


@dataclass(frozen=True)
class _Parsed:
    media_type: str
    blobs: list[str]
    children: list[str]
    subject: str | None
    artifact_type: str | None
    annotations: dict[str, Any]


def _descriptor_digest(item: Any, where: str) -> str:
    if not isinstance(item, dict) or not isinstance(item.get("digest"), str):
        raise _invalid_manifest(f"{where} must be a descriptor with a 'digest'")
    return str(item["digest"])


def _parse_manifest(body: bytes, content_type: str) -> _Parsed:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise _invalid_manifest(f"the manifest is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise _invalid_manifest("the manifest must be a JSON object")
    media_type = doc.get("mediaType") or content_type
    if media_type not in MANIFEST_TYPES:
        raise _invalid_manifest(
            f"unsupported manifest media type {media_type!r}; send one of "
            + ", ".join(sorted(MANIFEST_TYPES))
        )
    if content_type and content_type != media_type:
        raise _invalid_manifest(
            f"Content-Type {content_type!r} does not match the manifest's mediaType {media_type!r}"
        )
    blobs, children = _references(doc, media_type)
    subject = None
    if doc.get("subject") is not None:
        subject = _descriptor_digest(doc["subject"], "subject")
        parse_digest(subject, code="MANIFEST_INVALID")
    artifact_type = doc.get("artifactType")
    if artifact_type is None and isinstance(doc.get("config"), dict):
        artifact_type = doc["config"].get("mediaType")
    annotations = doc.get("annotations") if isinstance(doc.get("annotations"), dict) else {}
    return _Parsed(
        media_type=media_type,
        blobs=blobs,
        children=children,
        subject=subject,
        artifact_type=artifact_type if isinstance(artifact_type, str) else None,
        annotations=annotations or {},
    )


def _references(doc: dict[str, Any], media_type: str) -> tuple[list[str], list[str]]:
    """Return (blob sha256 hexes, child manifest digests) a manifest or index references."""
    if media_type in INDEX_TYPES:
        items = doc.get("manifests")
        if not isinstance(items, list):
            raise _invalid_manifest("an index needs a 'manifests' list")
        children = [_descriptor_digest(m, "manifests[]") for m in items]
        for child in children:
            parse_digest(child, code="MANIFEST_INVALID")
        return [], children
    layers = doc.get("layers")
    if not isinstance(layers, list):
        raise _invalid_manifest("an image manifest needs a 'layers' list")
    digests = [_descriptor_digest(doc.get("config"), "config")]
    digests += [_descriptor_digest(layer, "layers[]") for layer in layers]
    return [parse_digest(d, code="MANIFEST_INVALID") for d in digests], []


async def _read_manifest_body(request: Request) -> bytes:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MANIFEST_LIMIT:
            raise OciError(
                "SIZE_INVALID",
                f"the manifest is larger than the limit of {MANIFEST_LIMIT} bytes",
                http_status=413,
            )
    return bytes(body)


async def _first_missing(
    session: AsyncSession,
    model: type[OciBlobLink | OciManifest],
    key: InstrumentedAttribute[str],
    repository_id: uuid.UUID,
    wanted: list[str],
) -> str | None:
    """Return the first of `wanted` that `repository_id` does not hold in `key`, if any."""
    if not wanted:
        return None
    present = set(
        await session.scalars(
            select(key).where(model.repository_id == repository_id, key.in_(wanted))
        )
    )
    return next((w for w in wanted if w not in present), None)


async def put_manifest(
    request: Request, session: AsyncSession, principal: Principal | None, name: str, rest: list[str]
) -> Response:
    reference = rest[0]
    await may_push(request, principal, name)  # the body first, then the unit of work
    body = await _read_manifest_body(request)
    repo = await repo_for_push(request, session, principal, name)
    content_type = request.headers.get("content-type", "").split(";")[0].strip()
    parsed = _parse_manifest(body, content_type)
    sha256 = hashlib.sha256(body).hexdigest()
    digest = f"sha256:{sha256}"
    tag = None
    if ":" in reference:
        if parse_digest(reference) != sha256:
            raise OciError(
                "DIGEST_INVALID",
                f"the manifest's digest is {digest}, not {reference}",
                http_status=400,
            )
    elif TAG_RE.match(reference):
        tag = reference
    else:
        raise OciError("TAG_INVALID", f"{reference!r} is not a valid tag", http_status=400)
    missing = await _first_missing(session, OciBlobLink, OciBlobLink.sha256, repo.id, parsed.blobs)
    if missing is not None:
        raise OciError(
            "MANIFEST_BLOB_UNKNOWN",
            f"blob sha256:{missing} is not in {name}: push it before the manifest",
            http_status=400,
        )
    missing = await _first_missing(
        session, OciManifest, OciManifest.digest, repo.id, parsed.children
    )
    if missing is not None:
        raise OciError(
            "MANIFEST_BLOB_UNKNOWN",
            f"manifest {missing} is not in {name}: push the index's manifests first",
            http_status=400,
        )
    await blobs.store_bytes(session, runtime(request).store, body)
    await session.execute(
        insert(OciManifest)
        .values(
            repository_id=repo.id,
            digest=digest,
            blob_sha256=sha256,
            media_type=parsed.media_type,
            size=len(body),
            artifact_type=parsed.artifact_type,
            subject=parsed.subject,
            blobs=parsed.blobs,
            children=parsed.children,
            annotations=parsed.annotations,
            created_at=clock.now(),
        )
        .on_conflict_do_nothing()
    )
    if tag is not None:
        stmt = insert(OciTag).values(
            repository_id=repo.id, name=tag, digest=digest, updated_at=clock.now()
        )
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=[OciTag.repository_id, OciTag.name],
                set_={"digest": stmt.excluded.digest, "updated_at": stmt.excluded.updated_at},
            )
        )
    headers = headers_of(Location=f"/v2/{name}/manifests/{digest}", Docker_Content_Digest=digest)
    if parsed.subject:
        headers["OCI-Subject"] = parsed.subject
    return Response(status_code=201, headers=headers)


async def resolve_manifest(session: AsyncSession, repo: Repository, reference: str) -> OciManifest:
    if ":" in reference:
        parse_digest(reference)
        digest: str | None = reference
    else:
        digest = await session.scalar(
            select(OciTag.digest).where(OciTag.repository_id == repo.id, OciTag.name == reference)
        )
    manifest = None
    if digest is not None:
        manifest = await session.get(OciManifest, (repo.id, digest))
    if manifest is None:
        raise OciError(
            "MANIFEST_UNKNOWN", f"no manifest {reference!r} in {repo.name}", http_status=404
        )
    return manifest


async def get_manifest(
    request: Request, session: AsyncSession, principal: Principal | None, name: str, rest: list[str]
) -> Response:
    repo = await repo_for_read(request, session, principal, name)
    manifest = await resolve_manifest(session, repo, rest[0])
    headers = headers_of(Docker_Content_Digest=manifest.digest, ETag=f'"{manifest.digest}"')
    if request.method == "HEAD":
        headers["Content-Length"] = str(manifest.size)
        return Response(headers=headers, media_type=manifest.media_type)
    body = await runtime(request).store.read_all(manifest.blob_sha256)
    return Response(body, headers=headers, media_type=manifest.media_type)


async def delete_manifest(
    request: Request, session: AsyncSession, principal: Principal | None, name: str, rest: list[str]
) -> Response:
    del request
    reference = rest[0]
    repo = access.require_admin(principal, await find_repository(session, name), name)
    assert principal is not None  # noqa: S101 - require_admin refuses anonymous callers
    if ":" not in reference:
        if await views.remove_tag(session, repo=repo, tag=reference, principal=principal) is None:
            raise OciError("MANIFEST_UNKNOWN", f"no tag {reference!r} in {name}", http_status=404)
        return Response(status_code=202)
    manifest = await resolve_manifest(session, repo, reference)
    await session.execute(
        delete(OciTag).where(OciTag.repository_id == repo.id, OciTag.digest == manifest.digest)
    )
    await session.delete(manifest)
    return Response(status_code=202)
