"""OCI repositories in the REST API: their images, tags and one manifest in full, and removing a
tag (`GET/DELETE /api/v1/registry/oci/<name>/…`), for the dashboard and scripts.

The same rules as the `/v2/` protocol: reading needs read access to the repository (a private
one is missing to strangers, anonymous callers are asked to authenticate), removing a tag the
project admin role (`access.require_admin`, what `DELETE /v2/<name>/manifests/<tag>` needs; that
route calls `remove_tag` too). Sizes are what is stored: the manifest and each blob it references
counted once, an index with its manifests and theirs; a manifest's claims about sizes are shown
only where the blob is not stored.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request, status
from pydantic import BaseModel, Field
from sqlalchemy import and_, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core import events
from devflow.core.auth import Principal
from devflow.core.blobs import BlobStore
from devflow.core.errors import Invalid, NotFound
from devflow.core.http import PrincipalDep, SessionDep
from devflow.core.schemas import MAX_OFFSET, Page
from devflow.registry import access
from devflow.registry.formats.oci._common import (
    INDEX_TYPES,
    MANIFEST_LIMIT,
    TAG_RE,
    OciError,
    check_name,
    find_repository,
    parse_digest,
)
from devflow.registry.formats.oci.charts import HELM_CONFIG, ChartRead, chart_of, read_config
from devflow.registry.http import runtime
from devflow.registry.models import Blob, OciManifest, OciTag, Repository

IMAGE_CONFIGS = frozenset(
    {"application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json"}
)
_ECHO = 80  # characters of a bad name or reference quoted back


class ManifestKind(StrEnum):
    """What a manifest holds, as a person browsing the registry sees it."""

    IMAGE = "image"
    INDEX = "index"  # a multi-platform image: one manifest per platform
    CHART = "chart"  # a Helm chart (`helm push`)
    ARTIFACT = "artifact"  # anything else (signatures, SBOMs, oras pushes)


def kind_of(manifest: OciManifest) -> ManifestKind:
    """Return what a manifest holds, from its media type and artifact type."""
    if manifest.media_type in INDEX_TYPES:
        return ManifestKind.INDEX
    if manifest.artifact_type == HELM_CONFIG:
        return ManifestKind.CHART
    if manifest.artifact_type is None or manifest.artifact_type in IMAGE_CONFIGS:
        return ManifestKind.IMAGE
    return ManifestKind.ARTIFACT


# -- shapes ---------------------------------------------------------------------------------------


class OciTagRead(BaseModel):
    """A tag and the manifest it points at."""

    name: str
    digest: str = Field(description="The manifest's digest (`docker pull <image>@<digest>`).")
    media_type: str = Field(description="The manifest's media type.")
    kind: ManifestKind
    artifact_type: str | None
    size: int = Field(description="Bytes stored: the manifest and its blobs, each counted once.")
    created_at: datetime = Field(description="When the manifest was first pushed.")
    pushed_at: datetime = Field(description="When the tag was last pushed or moved.")


class OciImageRead(BaseModel):
    """A manifest of the repository (an image, an index, a chart, an artifact), tagged or not."""

    digest: str
    media_type: str
    kind: ManifestKind
    artifact_type: str | None
    size: int = Field(description="Bytes stored: the manifest and its blobs, each counted once.")
    tags: list[str]
    created_at: datetime = Field(description="When it was first pushed.")
    subject: str | None = Field(description="The manifest it refers to (a signature, an SBOM).")
    indexes: list[str] = Field(description="Digests of the indexes that list it (a platform's).")


class Descriptor(BaseModel):
    """A blob or manifest a manifest references."""

    digest: str
    media_type: str | None
    size: int | None = Field(description="Bytes stored (the manifest's claim if not stored).")
    annotations: dict[str, str] = {}


class Platform(BaseModel):
    """Where an image runs."""

    os: str | None
    architecture: str | None
    variant: str | None = None
    os_version: str | None = None


class IndexEntry(Descriptor):
    """A manifest an index lists, with its platform."""

    platform: Platform | None
    artifact_type: str | None


class Referrer(BaseModel):
    """A manifest whose subject is this one (a signature, an SBOM, an attestation)."""

    digest: str
    media_type: str
    artifact_type: str | None
    size: int
    created_at: datetime


class ManifestDetail(BaseModel):
    """One manifest in full: config and layers, or an index's manifests; a chart's metadata."""

    repository: str
    digest: str
    media_type: str
    kind: ManifestKind
    artifact_type: str | None
    size: int = Field(description="Bytes stored: the manifest and its blobs, each counted once.")
    manifest_size: int
    tags: list[str]
    created_at: datetime
    subject: str | None
    annotations: dict[str, str]
    config: Descriptor | None
    layers: list[Descriptor]
    manifests: list[IndexEntry] = Field(description="An index's manifests, one per platform.")
    platform: Platform | None = Field(description="An image's platform, from its config.")
    image_created: str | None = Field(description="An image's `created`, from its config.")
    chart: ChartRead | None = Field(description="A Helm chart's Chart.yaml.")
    referrers: list[Referrer]
    problem: str | None = Field(description="What could not be read from storage, if anything.")


# -- reads ----------------------------------------------------------------------------------------


def _checked_name(name: str) -> str:
    try:
        return check_name(name)
    except OciError:
        raise Invalid(
            f"{name[:_ECHO]!r} is not an image repository name: use <project>/<name>, lower-case "
            "letters, digits and separators ('.', '_', '__', '-'), at most 64 characters"
        ) from None


def _checked_tag(tag: str) -> str:
    if not TAG_RE.match(tag):
        raise Invalid(
            f"{tag[:_ECHO]!r} is not a tag: letters, digits, '_', '.' and '-', at most 128, "
            "not starting with '.' or '-'"
        )
    return tag


async def _readable(session: AsyncSession, principal: Principal, name: str) -> Repository:
    _checked_name(name)
    return access.require_read(principal, await find_repository(session, name), name)


async def _sizes(
    session: AsyncSession, repo: Repository, manifests: Sequence[OciManifest]
) -> tuple[dict[str, int], dict[str, OciManifest], dict[str, int]]:
    """Return each manifest's stored bytes, the index children read for it, and blob sizes."""
    wanted = {c for m in manifests for c in m.children}
    children: dict[str, OciManifest] = {}
    if wanted:
        children = {
            c.digest: c
            for c in await session.scalars(
                select(OciManifest).where(
                    OciManifest.repository_id == repo.id, OciManifest.digest.in_(wanted)
                )
            )
        }
    hexes = {b for m in [*manifests, *children.values()] for b in m.blobs}
    blob_sizes: dict[str, int] = {}
    if hexes:
        rows = await session.execute(select(Blob.sha256, Blob.size).where(Blob.sha256.in_(hexes)))
        blob_sizes = dict(rows.all())
    totals = {}
    for manifest in manifests:
        parts = [manifest, *(children[d] for d in manifest.children if d in children)]
        blobs = {b for part in parts for b in part.blobs}
        totals[manifest.digest] = sum(p.size for p in parts) + sum(
            blob_sizes.get(b, 0) for b in blobs
        )
    return totals, children, blob_sizes


async def _tags_of(
    session: AsyncSession, repo: Repository, digests: list[str]
) -> dict[str, list[str]]:
    tags: dict[str, list[str]] = defaultdict(list)
    if digests:
        rows = await session.execute(
            select(OciTag.name, OciTag.digest)
            .where(OciTag.repository_id == repo.id, OciTag.digest.in_(digests))
            .order_by(OciTag.name)
        )
        for tag, digest in rows:
            tags[digest].append(tag)
    return tags


async def list_tags(
    session: AsyncSession, *, principal: Principal, repository: str, offset: int, limit: int
) -> Page[OciTagRead]:
    """Return a page of an OCI repository's tags, last pushed first.

    Raises:
        Invalid: not an image repository name.
        NotFound, Unauthenticated: see `access.require_read`.
    """
    repo = await _readable(session, principal, repository)
    joined = and_(
        OciManifest.repository_id == OciTag.repository_id, OciManifest.digest == OciTag.digest
    )
    total = await session.scalar(
        select(func.count())
        .select_from(OciTag)
        .join(OciManifest, joined)
        .where(OciTag.repository_id == repo.id)
    )
    rows = (
        await session.execute(
            select(OciTag, OciManifest)
            .join(OciManifest, joined)
            .where(OciTag.repository_id == repo.id)
            .order_by(OciTag.updated_at.desc(), OciTag.name)
            .offset(offset)
            .limit(limit)
        )
    ).all()
    sizes, _, _ = await _sizes(session, repo, [m for _, m in rows])
    items = [
        OciTagRead(
            name=tag.name,
            digest=m.digest,
            media_type=m.media_type,
            kind=kind_of(m),
            artifact_type=m.artifact_type,
            size=sizes[m.digest],
            created_at=m.created_at,
            pushed_at=tag.updated_at,
        )
        for tag, m in rows
    ]
    return Page(items=items, total=total or 0)


async def list_images(
    session: AsyncSession, *, principal: Principal, repository: str, offset: int, limit: int
) -> Page[OciImageRead]:
    """Return a page of an OCI repository's manifests, tagged or not, newest first.

    Raises:
        Invalid: not an image repository name.
        NotFound, Unauthenticated: see `access.require_read`.
    """
    repo = await _readable(session, principal, repository)
    total = await session.scalar(
        select(func.count()).select_from(OciManifest).where(OciManifest.repository_id == repo.id)
    )
    manifests = list(
        await session.scalars(
            select(OciManifest)
            .where(OciManifest.repository_id == repo.id)
            .order_by(OciManifest.created_at.desc(), OciManifest.digest)
            .offset(offset)
            .limit(limit)
        )
    )
    digests = [m.digest for m in manifests]
    sizes, _, _ = await _sizes(session, repo, manifests)
    tags = await _tags_of(session, repo, digests)
    indexes: dict[str, list[str]] = defaultdict(list)
    if digests:
        for index, children in await session.execute(
            select(OciManifest.digest, OciManifest.children)
            .where(OciManifest.repository_id == repo.id, OciManifest.children.overlap(digests))
            .order_by(OciManifest.digest)
        ):
            for child in children:
                indexes[child].append(index)
    items = [
        OciImageRead(
            digest=m.digest,
            media_type=m.media_type,
            kind=kind_of(m),
            artifact_type=m.artifact_type,
            size=sizes[m.digest],
            tags=tags.get(m.digest, []),
            created_at=m.created_at,
            subject=m.subject,
            indexes=indexes.get(m.digest, []),
        )
        for m in manifests
    ]
    return Page(items=items, total=total or 0)


async def _resolve(session: AsyncSession, repo: Repository, reference: str) -> OciManifest:
    if ":" in reference:
        try:
            parse_digest(reference)
        except OciError as exc:
            short = exc.message if len(reference) <= _ECHO else "not a digest (sha256:<64 hex>)"
            raise Invalid(short) from None
        digest: str | None = reference
    else:
        digest = await session.scalar(
            select(OciTag.digest).where(
                OciTag.repository_id == repo.id, OciTag.name == _checked_tag(reference)
            )
        )
    manifest = None if digest is None else await session.get(OciManifest, (repo.id, digest))
    if manifest is None:
        raise NotFound(f"no manifest {reference!r} in {repo.name}")
    return manifest


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _annotations(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items()}


def _descriptor(item: Any, stored: dict[str, int]) -> Descriptor | None:
    if not isinstance(item, dict) or not isinstance(item.get("digest"), str):
        return None
    claimed = item.get("size")
    hex_ = item["digest"].removeprefix("sha256:")
    return Descriptor(
        digest=item["digest"],
        media_type=_text(item.get("mediaType")),
        size=stored.get(hex_, claimed if isinstance(claimed, int) and claimed >= 0 else None),
        annotations=_annotations(item.get("annotations")),
    )


def _platform(value: Any) -> Platform | None:
    if not isinstance(value, dict):
        return None
    return Platform(
        os=_text(value.get("os")),
        architecture=_text(value.get("architecture")),
        variant=_text(value.get("variant")),
        os_version=_text(value.get("os.version")),
    )


async def _document(store: BlobStore, manifest: OciManifest) -> tuple[dict[str, Any], str | None]:
    """The manifest as stored (byte-exact, checked when it was pushed)."""
    size = await store.size(manifest.blob_sha256)
    if size is None:
        return {}, "the manifest is missing from storage"
    if size > MANIFEST_LIMIT:
        return {}, f"the manifest is larger than {MANIFEST_LIMIT} bytes"
    try:
        doc = orjson.loads(await store.read_all(manifest.blob_sha256))
    except orjson.JSONDecodeError:
        return {}, "the stored manifest is not valid JSON"
    return (doc, None) if isinstance(doc, dict) else ({}, "the stored manifest is not an object")


async def describe_manifest(
    session: AsyncSession,
    *,
    principal: Principal,
    store: BlobStore,
    repository: str,
    reference: str,
) -> ManifestDetail:
    """Return one manifest (by tag or digest) in full.

    Raises:
        Invalid: not an image repository name, or a reference that is neither tag nor digest.
        NotFound: no such manifest, or a repository the caller cannot see.
        Unauthenticated: see `access.require_read`.
    """
    repo = await _readable(session, principal, repository)
    manifest = await _resolve(session, repo, reference)
    sizes, children, stored = await _sizes(session, repo, [manifest])
    tags = (await _tags_of(session, repo, [manifest.digest])).get(manifest.digest, [])
    doc, problem = await _document(store, manifest)
    kind = kind_of(manifest)
    config = _descriptor(doc.get("config"), stored)
    platform, created, chart = None, None, None
    if kind is ManifestKind.IMAGE and config is not None:
        image, problem = await read_config(store, config.digest.removeprefix("sha256:"))
        platform = _platform(image) if image else None
        created = _text(image.get("created"))
    elif kind is ManifestKind.CHART:
        chart = await chart_of(store, manifest, tags, repo.name)
    entries = _list(doc.get("manifests"))
    layers = _list(doc.get("layers"))
    referrers = await session.scalars(
        select(OciManifest)
        .where(OciManifest.repository_id == repo.id, OciManifest.subject == manifest.digest)
        .order_by(OciManifest.created_at, OciManifest.digest)
    )
    return ManifestDetail(
        repository=repo.name,
        digest=manifest.digest,
        media_type=manifest.media_type,
        kind=kind,
        artifact_type=manifest.artifact_type,
        size=sizes[manifest.digest],
        manifest_size=manifest.size,
        tags=tags,
        created_at=manifest.created_at,
        subject=manifest.subject,
        annotations=_annotations(manifest.annotations),
        config=config,
        layers=[d for d in (_descriptor(layer, stored) for layer in layers) if d is not None],
        manifests=[e for e in (_entry(item, children) for item in entries) if e is not None],
        platform=platform,
        image_created=created,
        chart=chart,
        referrers=[
            Referrer(
                digest=r.digest,
                media_type=r.media_type,
                artifact_type=r.artifact_type,
                size=r.size,
                created_at=r.created_at,
            )
            for r in referrers
        ],
        problem=problem,
    )


def _entry(item: Any, children: dict[str, OciManifest]) -> IndexEntry | None:
    found = _descriptor(item, {})
    if found is None:
        return None
    child = children.get(found.digest)
    return IndexEntry(
        **found.model_dump(exclude={"size"}),
        size=child.size if child is not None else found.size,
        platform=_platform(item.get("platform")),
        artifact_type=_text(item.get("artifactType")),
    )


# -- removing a tag -------------------------------------------------------------------------------


async def remove_tag(
    session: AsyncSession, *, repo: Repository, tag: str, principal: Principal
) -> str | None:
    """Remove a tag the caller may remove (checked by the caller); return the digest it named,
    or None if there was no such tag. The manifest stays, reachable by digest until GC."""
    digest = await session.scalar(
        delete(OciTag)
        .where(OciTag.repository_id == repo.id, OciTag.name == tag)
        .returning(OciTag.digest)
    )
    if digest is not None:
        await events.emit(
            session,
            type="registry.oci.tag_deleted",
            project_id=repo.project_id,
            actor_id=principal.user_id,
            payload={"repository": repo.name, "tag": tag, "digest": digest},
        )
    return digest


async def delete_tag(
    session: AsyncSession, *, principal: Principal, repository: str, tag: str
) -> None:
    """Remove a tag (project admins, as `DELETE /v2/<name>/manifests/<tag>`).

    Raises:
        Invalid: not an image repository name or not a tag.
        NotFound: no such tag, or a repository the caller cannot see.
        PermissionDenied: a reader or writer (tags are removed by project admins).
    """
    _checked_name(repository)
    _checked_tag(tag)
    repo = access.require_admin(
        principal,
        await find_repository(session, repository),
        repository,
        denied=f"only admins of {repository!r}'s project may remove its tags",
    )
    if await remove_tag(session, repo=repo, tag=tag, principal=principal) is None:
        raise NotFound(f"no tag {tag!r} in {repository}")


# -- routes ---------------------------------------------------------------------------------------

rest = APIRouter(prefix="/api/v1/registry/oci", tags=["registry"])
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Items to skip.")]
Limit = Annotated[int, Query(ge=1, le=500, description="Items in the page.")]


# First: a tag may be called `tags` or `images`, and `{name:path}` would take it for a listing.
@rest.get("/{name:path}/manifests/{reference}", response_model=ManifestDetail)
async def show_manifest(
    name: str, reference: str, request: Request, session: SessionDep, principal: PrincipalDep
) -> ManifestDetail:
    """Show a manifest by tag or digest: config and layers, an index's platforms, a chart."""
    return await describe_manifest(
        session,
        principal=principal,
        store=runtime(request).store,
        repository=name,
        reference=reference,
    )


@rest.get("/{name:path}/tags", response_model=Page[OciTagRead])
async def tags(
    name: str, session: SessionDep, principal: PrincipalDep, offset: Offset = 0, limit: Limit = 100
) -> Page[OciTagRead]:
    """List an image repository's tags, last pushed first, with digest, media type and size."""
    return await list_tags(
        session, principal=principal, repository=name, offset=offset, limit=limit
    )


@rest.get("/{name:path}/images", response_model=Page[OciImageRead])
async def images(
    name: str, session: SessionDep, principal: PrincipalDep, offset: Offset = 0, limit: Limit = 100
) -> Page[OciImageRead]:
    """List an image repository's manifests (images, indexes, charts, artifacts), newest first,
    tagged or not."""
    return await list_images(
        session, principal=principal, repository=name, offset=offset, limit=limit
    )


@rest.delete("/{name:path}/tags/{tag}", status_code=status.HTTP_204_NO_CONTENT)
async def untag(name: str, tag: str, session: SessionDep, principal: PrincipalDep) -> None:
    """Remove a tag (project admins); the manifest stays, pullable by digest until GC."""
    await delete_tag(session, principal=principal, repository=name, tag=tag)


__all__ = [
    "ManifestDetail",
    "ManifestKind",
    "OciImageRead",
    "OciTagRead",
    "delete_tag",
    "describe_manifest",
    "kind_of",
    "list_images",
    "list_tags",
    "remove_tag",
    "rest",
]
