"""Untagged manifests collectable by policy (`DEVFLOW_REGISTRY__OCI_UNTAGGED_RETENTION_DAYS`).

Pushing a tag again leaves the manifest it pointed at untagged but addressable by digest. With
a retention set, garbage collection removes untagged manifests older than it, except those still
in use: a manifest is kept when it is tagged, younger than the retention (a push in progress
writes its children before the index), a child of a kept index, or a referrer (signature, SBOM)
whose subject is kept, transitively. A blob pushed to a repository, older than the retention and
referenced by none of its manifests is unlinked from it too (what `docker-registry garbage-collect`
does); the sweep then collects whatever nothing else references.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import delete, exists, func, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from devflow.registry.models import OciBlobLink, OciManifest, OciTag

Key = tuple[uuid.UUID, str]  # (repository id, manifest digest)


async def expired_untagged(session: AsyncSession, *, cutoff: datetime) -> list[Key]:
    """Return the untagged manifests created before `cutoff` that nothing kept needs."""
    rows = (
        await session.execute(
            select(
                OciManifest.repository_id,
                OciManifest.digest,
                OciManifest.children,
                OciManifest.subject,
                OciManifest.created_at,
            )
        )
    ).all()
    tagged = {
        (repo_id, digest)
        for repo_id, digest in await session.execute(select(OciTag.repository_id, OciTag.digest))
    }
    children: dict[Key, list[str]] = {}
    referrers: dict[Key, list[str]] = {}
    kept: set[Key] = set(tagged)
    for repo_id, digest, kids, subject, created_at in rows:
        children[(repo_id, digest)] = list(kids or [])
        if subject:
            referrers.setdefault((repo_id, subject), []).append(digest)
        if created_at >= cutoff:
            kept.add((repo_id, digest))
    queue = list(kept)
    while queue:
        repo_id, digest = queue.pop()
        for found in children.get((repo_id, digest), []) + referrers.get((repo_id, digest), []):
            if (repo_id, found) not in kept:
                kept.add((repo_id, found))
                queue.append((repo_id, found))
    return [key for key in children if key not in kept]


async def delete_manifests(session: AsyncSession, keys: list[Key]) -> None:
    """Delete manifest rows (their blobs become collectable)."""
    for start in range(0, len(keys), 1000):
        batch = keys[start : start + 1000]
        await session.execute(
            delete(OciManifest).where(
                tuple_(OciManifest.repository_id, OciManifest.digest).in_(batch)
            )
        )


async def unlink_unreferenced(session: AsyncSession, *, cutoff: datetime) -> int:
    """Unlink blobs older than `cutoff` that no manifest of their repository references."""
    used = exists().where(
        OciManifest.repository_id == OciBlobLink.repository_id,
        or_(
            OciManifest.blob_sha256 == OciBlobLink.sha256,
            OciBlobLink.sha256 == func.any(OciManifest.blobs),
        ),
    )
    gone = await session.execute(delete(OciBlobLink).where(OciBlobLink.created_at < cutoff, ~used))
    return int(getattr(gone, "rowcount", 0) or 0)


__all__ = [
    "delete_manifests",
    "expired_untagged",
    "unlink_unreferenced",
]
