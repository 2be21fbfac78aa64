"""Files sources: uploads, and keeping a source in step with the folder its files come from.

An upload stores each file as a document in the request's transaction (a file that cannot be
read is recorded with its reason, the others go on) and queues the embedding job. The source
says what is done: `empty` before any file, `embedding` until every chunk has its vector, then
`ready`, `partial` (some files could not be read) or `failed` (none could). The embedding job
settles the status with the source's row locked and only when no chunk lacks a vector, so an
upload committed meanwhile keeps it at `embedding` for the job it queued.

A re-sync (`devflow knowledge refresh` of an upload source) uploads every file again (unchanged
ones keep their chunks and vectors) and then calls `retain_files` with the complete list of
names, which removes the documents of files that are gone. A re-sync cut short before that call
removes nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core import clock, events, jobs
from devflow.core.auth import Principal, Role
from devflow.core.errors import Invalid
from devflow.knowledge.extract import ExtractionError, extract
from devflow.knowledge.ingest import record_failure, refresh_counts, store_document
from devflow.knowledge.models import Document, Source
from devflow.knowledge.service import LEXEME_STATS_TASK, queue_embedding, require_source
from devflow.knowledge.settings import KnowledgeSettings


@dataclass(frozen=True)
class UploadOutcome:
    """What happened to one uploaded file."""

    filename: str
    status: str  # new | changed | unchanged | failed
    document_id: uuid.UUID | None
    chunks: int
    error: str | None = None


def safe_upload_name(filename: str) -> str:
    """Return a clean relative path for an uploaded file name.

    Raises:
        Invalid: an empty name, an absolute path or one that climbs out (`..`).
    """
    name = filename.replace("\\", "/").strip()
    parts = [p for p in name.split("/") if p not in {"", "."}]
    if not parts or name.startswith("/") or any(p == ".." for p in parts):
        raise Invalid(f"unsafe file name {filename!r}: give a relative name without `..`")
    if any(ord(c) < 32 for c in name):  # noqa: PLR2004 - control characters
        raise Invalid(f"unsafe file name {filename!r}: control characters")
    return "/".join(parts)[:1000]


async def _files_source(
    session: AsyncSession, *, principal: Principal, source_id: uuid.UUID
) -> Source:
    # Locked: a removal of the source waits for this change, or this change sees it gone.
    source = await require_source(
        session, principal=principal, source_id=source_id, role=Role.WRITE, lock=True
    )
    if source.kind != "files" or source.location != "upload":
        raise Invalid(
            f"source {source.name!r} is a {source.kind} source read from {source.location}; "
            "files are uploaded into a source added with the location `upload`"
        )
    return source


async def upload_files(
    session: AsyncSession,
    *,
    principal: Principal,
    source_id: uuid.UUID,
    files: list[tuple[str, bytes]],
    settings: KnowledgeSettings,
) -> list[UploadOutcome]:
    """Store uploaded files in an upload source and queue their embedding.

    Each file succeeds or fails on its own (unsupported, binary, malformed, too large: the reason
    is recorded on the document and returned).

    Raises:
        Invalid: the source is not an upload source; an unsafe file name.
        NotFound, PermissionDenied: the source.
    """
    source = await _files_source(session, principal=principal, source_id=source_id)
    names = [safe_upload_name(name) for name, _ in files]
    outcomes: list[UploadOutcome] = []
    for name, (_, data) in zip(names, files, strict=True):
        outcomes.append(await _store_upload(session, source, name, data, settings))
    source.status, source.last_error = "embedding", None
    source.last_refresh_at = clock.now()
    await _recount(session, source)
    await queue_embedding(session, source=source)
    await events.emit(
        session,
        type="knowledge.files.uploaded",
        payload={
            "source_id": str(source.id),
            "files": len(outcomes),
            "failed": sum(1 for o in outcomes if o.status == "failed"),
        },
        project_id=source.project_id,
        actor_id=principal.user_id,
    )
    return outcomes


async def _store_upload(
    session: AsyncSession, source: Source, name: str, data: bytes, settings: KnowledgeSettings
) -> UploadOutcome:
    if len(data) > settings.max_document_bytes:
        error = f"{len(data)} bytes is over the {settings.max_document_bytes}-byte limit"
        await record_failure(session, source=source, uri=name, error=error)
        return UploadOutcome(name, "failed", None, 0, error)
    try:
        extracted = extract(data, name=name)
    except ExtractionError as exc:
        await record_failure(session, source=source, uri=name, error=exc.message)
        return UploadOutcome(name, "failed", None, 0, exc.message)
    async with session.begin_nested():
        stored = await store_document(
            session, source=source, uri=name, extracted=extracted, settings=settings, size=len(data)
        )
    return UploadOutcome(name, stored.outcome, stored.document_id, stored.chunks)


async def retain_files(
    session: AsyncSession,
    *,
    principal: Principal,
    source_id: uuid.UUID,
    names: list[str],
    origin: str | None = None,
) -> list[str]:
    """Remove the documents of an upload source whose files are not among `names` (every file
    the source should hold, after they were uploaded again); return the names removed.
    `origin` records where the files now come from (the next refresh reads from there).

    Raises:
        Invalid: the source is not an upload source; an unsafe file name.
        NotFound, PermissionDenied: the source.
    """
    source = await _files_source(session, principal=principal, source_id=source_id)
    keep = {safe_upload_name(name) for name in names}
    if origin is not None:
        source.settings = {**source.settings, "origin": origin}
    rows = (
        await session.execute(
            select(Document.id, Document.uri).where(Document.source_id == source.id)
        )
    ).all()
    gone = [row for row in rows if row.uri not in keep]
    for start in range(0, len(gone), 5000):
        batch = [row.id for row in gone[start : start + 5000]]
        await session.execute(delete(Document).where(Document.id.in_(batch)))
    source.last_refresh_at = clock.now()  # a re-sync ends here, files gone or not
    if gone:
        # BM25's statistics are rebuilt in the background, as after a source's removal.
        await jobs.defer(session, task=LEXEME_STATS_TASK, args={}, queueing_lock=LEXEME_STATS_TASK)
        await events.emit(
            session,
            type="knowledge.files.removed",
            payload={"source_id": str(source.id), "files": len(gone)},
            project_id=source.project_id,
            actor_id=principal.user_id,
        )
    if source.status == "embedding":
        await _recount(session, source)
    else:
        await settle_status(session, source=source)
    return sorted(row.uri for row in gone)


async def _recount(session: AsyncSession, source: Source) -> None:
    """Count an upload source's files (every document), those read and those that failed.

    Each re-sync sends every file again, so the counters describe the whole source, not the
    last request (`chunked`: the files read into chunks, as a crawl counts its documents).
    """
    await session.flush()
    total, failed = (
        await session.execute(
            select(func.count(), func.count(Document.error)).where(Document.source_id == source.id)
        )
    ).one()
    source.discovered = source.fetched = int(total)
    source.failed = int(failed)
    source.chunked = int(total) - int(failed)
    await refresh_counts(session, source_id=source.id)
    await session.refresh(source, ["document_count", "chunk_count"])


async def settle_status(session: AsyncSession, *, source: Source) -> None:
    """Set an upload source's status from its documents (its chunks all have vectors)."""
    await _recount(session, source)
    if source.fetched == 0:
        source.status, source.last_error = "empty", None
    elif source.document_count == 0:
        first = await session.scalar(
            select(Document.uri + ": " + Document.error)
            .where(Document.source_id == source.id, Document.error.is_not(None))
            .order_by(Document.uri)
            .limit(1)
        )
        source.status = "failed"
        source.last_error = f"no file could be read ({source.failed} failed; the first, {first})"
    else:
        source.status = "partial" if source.failed else "ready"
        source.last_error = None


__all__ = [
    "UploadOutcome",
    "retain_files",
    "safe_upload_name",
    "settle_status",
    "upload_files",
]
