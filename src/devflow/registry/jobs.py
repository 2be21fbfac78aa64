"""Background jobs of the registry domain: garbage collection of the blob store, and the
digests an OCI push leaves for later."""

from __future__ import annotations

from datetime import timedelta

import procrastinate
from procrastinate import JobContext

from devflow.core.blobs import BLOB_STORE
from devflow.core.db import unit_of_work
from devflow.core.jobs import report_progress, services_of
from devflow.registry.digests import TASK as COMPLETE_DIGESTS
from devflow.registry.digests import complete_digests as fill_digests
from devflow.registry.gc import collect_garbage as sweep
from devflow.registry.settings import RegistrySettings

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
    services = services_of(context)
    settings = services.settings.section(RegistrySettings)
    await report_progress(context, done=0, total=1, message="collecting garbage")
    async with unit_of_work(services.sessions) as session:
        report = await sweep(
            session,
            store=services.get(BLOB_STORE),
            grace=timedelta(seconds=settings.gc_grace_seconds),
            dry_run=False,
            untagged_retention=settings.untagged_retention(),
        )
    summary = (
        f"removed {report.blobs_removed} blobs ({report.bytes_removed} bytes), "
        f"{report.orphan_objects_removed} orphan objects, {report.temporaries_removed} "
        "abandoned uploads"
    )
    await report_progress(context, done=1, total=1, message=summary)
    return report.model_dump(include={"blobs_removed", "bytes_removed", "temporaries_removed"})


@blueprint.task(name=COMPLETE_DIGESTS, queueing_lock=COMPLETE_DIGESTS, pass_context=True)
async def complete_digests(context: JobContext) -> dict[str, int]:
    """Fill md5, sha1 and sha512 of blobs stored with sha256 only (OCI pushes)."""
    services = services_of(context)
    store = services.get(BLOB_STORE)
    after: str | None = ""
    batches = 0
    while after is not None:  # one transaction per batch: a long backlog commits as it goes
        async with unit_of_work(services.sessions) as session:
            after = await fill_digests(session, store=store, after=after)
        batches += 1
    return {"batches": batches}
