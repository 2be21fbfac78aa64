"""Background jobs of the registry domain: garbage collection of the blob store, and the
digests an OCI push leaves for later."""

from __future__ import annotations

from datetime import timedelta

import procrastinate
from procrastinate import JobContext

from devflow.core.config import load_settings
from devflow.core.db import create_engine, session_factory, unit_of_work
from devflow.core.jobs import report_progress
from devflow.registry.backends import blob_store_from_settings
from devflow.registry.digests import TASK as COMPLETE_DIGESTS
from devflow.registry.digests import complete_digests as fill_digests
from devflow.registry.gc import collect_garbage as sweep

blueprint = procrastinate.Blueprint()


@blueprint.periodic(cron="41 4 * * *", periodic_id="registry-gc")
@blueprint.task(
    name="registry:collect_garbage",
    queueing_lock="registry:collect_garbage",
    pass_context=True,
)
async def collect_garbage(context: JobContext, timestamp: int | None = None) -> dict[str, int]:
    """Remove unreferenced blobs and abandoned uploads older than the grace period."""
    del timestamp
    settings = load_settings()
    if settings.database_url is None:
        raise RuntimeError("the worker has no DEVFLOW_DATABASE_URL")
    await report_progress(context, done=0, total=1, message="collecting garbage")
    engine = create_engine(settings.database_url.get_secret_value(), settings.database)
    try:
        async with unit_of_work(session_factory(engine)) as session:
            report = await sweep(
                session,
                store=blob_store_from_settings(settings),
                grace=timedelta(seconds=settings.registry.gc_grace_seconds),
                dry_run=False,
                untagged_retention=settings.registry.untagged_retention(),
            )
    finally:
        await engine.dispose()
    summary = (
        f"removed {report.blobs_removed} blobs ({report.bytes_removed} bytes), "
        f"{report.orphan_objects_removed} orphan objects, {report.temporaries_removed} "
        "abandoned uploads"
    )
    await report_progress(context, done=1, total=1, message=summary)
    return report.model_dump(include={"blobs_removed", "bytes_removed", "temporaries_removed"})


@blueprint.task(name=COMPLETE_DIGESTS, queueing_lock=COMPLETE_DIGESTS)
async def complete_digests() -> dict[str, int]:
    """Fill md5, sha1 and sha512 of blobs stored with sha256 only (OCI pushes)."""
    settings = load_settings()
    if settings.database_url is None:
        raise RuntimeError("the worker has no DEVFLOW_DATABASE_URL")
    engine = create_engine(settings.database_url.get_secret_value(), settings.database)
    store = blob_store_from_settings(settings)
    after: str | None = ""
    batches = 0
    try:
        while after is not None:  # one transaction per batch: a long backlog commits as it goes
            async with unit_of_work(session_factory(engine)) as session:
                after = await fill_digests(session, store=store, after=after)
            batches += 1
    finally:
        await engine.dispose()
    return {"batches": batches}
