"""Garbage collection of the blob store: mark and sweep with a grace period.

Mark: every blob a file row references (the file itself and a wheel's METADATA), every blob
linked into an OCI repository, every stored OCI manifest and every blob a manifest references.
Before marking, untagged OCI manifests past the retention (when one is set) are removed
(registry/retention.py). Sweep, under the exclusive GC advisory lock so that no publish commits
a blob meanwhile: blob rows nobody references and older than the grace period, objects in the
store without a row (a crash between the blob commit and the database commit) and temporary
objects of abandoned uploads, both older than the grace period.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, union
from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core import clock
from devflow.core.blobs import BlobStore, StoredObject
from devflow.registry.blobs import GC_LOCK
from devflow.registry.models import Blob, OciBlobLink, OciManifest, PackageFile
from devflow.registry.retention import (
    Key,
    delete_manifests,
    expired_untagged,
    unlink_unreferenced,
)
from devflow.registry.schemas import GcReport

_BATCH = 1000


async def _orphans(
    session: AsyncSession, store: BlobStore, *, cutoff: datetime
) -> list[StoredObject]:
    """Return stored objects older than `cutoff` that have no blob row, asking the database in
    batches (loading every blob key of a large store would not fit in memory)."""
    orphans: list[StoredObject] = []
    batch: list[StoredObject] = []

    async def check() -> None:
        rows = await session.scalars(
            select(Blob.sha256).where(Blob.sha256.in_([obj.key for obj in batch]))
        )
        known = set(rows)
        orphans.extend(obj for obj in batch if obj.key not in known)
        batch.clear()

    async for obj in store.list_blobs():
        if obj.modified_at < cutoff:
            batch.append(obj)
            if len(batch) >= _BATCH:
                await check()
    if batch:
        await check()
    return orphans


async def collect_garbage(
    session: AsyncSession,
    *,
    store: BlobStore,
    grace: timedelta,
    dry_run: bool,
    untagged_retention: timedelta | None = None,
) -> GcReport:
    """Remove unreferenced blobs and abandoned uploads older than `grace` (see module doc)."""
    await session.execute(select(func.pg_advisory_xact_lock(GC_LOCK)))
    cutoff = clock.now() - grace
    untagged: list[Key] = []
    if untagged_retention is not None:
        untagged = await expired_untagged(session, cutoff=clock.now() - untagged_retention)
        if not dry_run:
            await delete_manifests(session, untagged)
            # Never younger than the grace period: a push uploads its blobs before the manifest.
            links_cutoff = clock.now() - max(untagged_retention, grace)
            await unlink_unreferenced(session, cutoff=links_cutoff)
            await session.flush()
    referenced = union(
        select(PackageFile.blob_sha256),
        select(PackageFile.metadata_sha256).where(PackageFile.metadata_sha256.is_not(None)),
        select(OciBlobLink.sha256),  # OCI layers and configs pushed or mounted
        select(OciManifest.blob_sha256),
        select(func.unnest(OciManifest.blobs)),  # still referenced after an unlink
    ).subquery()
    unreferenced = (
        await session.execute(
            select(Blob.sha256, Blob.size, Blob.created_at).where(
                Blob.sha256.not_in(select(referenced.c[0]))
            )
        )
    ).all()
    doomed = [(digest, size) for digest, size, created in unreferenced if created < cutoff]
    kept = len(unreferenced) - len(doomed)
    orphans = await _orphans(session, store, cutoff=cutoff)
    temporaries = [obj async for obj in store.list_temporaries() if obj.modified_at < cutoff]
    if not dry_run:
        if doomed:
            await session.execute(delete(Blob).where(Blob.sha256.in_([d for d, _ in doomed])))
            await session.flush()
        for digest, _ in doomed:
            await store.delete(digest)
        for obj in orphans:
            await store.delete(obj.key)
        for obj in temporaries:
            await store.delete_temporary(obj.key)
    return GcReport(
        dry_run=dry_run,
        blobs_removed=len(doomed),
        bytes_removed=sum(size for _, size in doomed) + sum(o.size for o in orphans),
        temporaries_removed=len(temporaries),
        orphan_objects_removed=len(orphans),
        kept_in_grace=kept,
        untagged_manifests_removed=len(untagged),
    )
