"""Background jobs of the knowledge domain: ingest a source, embed its chunks.

`knowledge:ingest_source` fetches (web crawl, directory, git), extracts, chunks and stores each
document in its own transaction, then embeds what is new. Progress is written to the source's
counters (discovered, fetched, chunked, embedded, failed), to the job's progress row and, at start
and end, as events. The job holds the source's lock, so one source is never ingested twice at once;
a retried or resumed job continues from the persisted frontier and skips what it already stored.
A job a user cancels while it runs stops at its next await and leaves its source `failed` (or
`partial` with what it stored) saying so.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any

import procrastinate
from procrastinate import JobContext
from procrastinate.job_context import AbortReason
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from devflow.core import clock, events
from devflow.core.config import Settings
from devflow.core.db import unit_of_work
from devflow.core.jobs import Phase, report_progress, services_of
from devflow.knowledge.crawl import Crawler, CrawlStats
from devflow.knowledge.embedding import EmbedAlongside, embed_source, missing_vectors
from devflow.knowledge.ingest import refresh_counts, refresh_lexeme_stats, remove_unseen
from devflow.knowledge.local import (
    checkout,
    git_files,
    ingest_tree,
    list_directory,
    require_local_root,
)
from devflow.knowledge.models import Document, Source
from devflow.knowledge.ports import EMBEDDER
from devflow.knowledge.settings import KnowledgeSettings
from devflow.knowledge.summaries import summarize_code_examples
from devflow.knowledge.uploads import settle_status
from devflow.llm import LLM_CLIENT

log = logging.getLogger(__name__)

blueprint = procrastinate.Blueprint()


class _Progress:
    """Writes the counters to the source and the job, at most every half second."""

    def __init__(
        self,
        context: JobContext,
        sessions: async_sessionmaker[AsyncSession],
        source_id: uuid.UUID,
        *,
        unit: str = "pages",
        embed_only: bool = False,
    ) -> None:
        self._context = context
        self._unit = unit  # what the fetch phase counts: web pages, or a folder's files
        self._sessions = sessions
        self._source_id = source_id
        self._last = 0.0
        self._last_event = 0.0
        # An embedding job leaves the counters of what was fetched (an upload's) as they are.
        self._embed_only = embed_only
        self.project_id: uuid.UUID | None = None
        self.stats = CrawlStats()
        self.embedded = 0
        self.embedded_while_fetching = 0
        self.to_embed: int | None = None  # set when the embedding phase starts
        self.alongside: EmbedAlongside | None = None  # embeds while the fetch goes on

    async def crawl(self, stats: CrawlStats) -> None:
        self.stats = stats
        if self.alongside is not None:
            self.alongside.wake()
        await self.write()

    async def embed(self, done: int) -> None:
        self.embedded = done
        await self.write()

    def job_progress(self) -> tuple[Phase, str]:
        """Return the phase the job is in, counted in its own unit, and its message.

        Fetching counts pages or files (the total is what was discovered, never more than the
        crawl's page limit); each is extracted and chunked as it arrives, so extraction is
        counted within this phase (`extracted`), and so are the chunks embedded meanwhile.
        Embedding counts the chunks still to embed when it began, so the bar starts again
        instead of standing full while vectors are made.
        """
        s = self.stats
        if self.to_embed is not None or self._embed_only:
            total = self.to_embed or None
            done = self.embedded - self.embedded_while_fetching
            message = f"embedding: {done} of {total or '?'} chunks"
            counts = {"embedded": self.embedded}
            if not self._embed_only:
                message += f" (fetched {s.fetched} {self._unit}, {s.failed} failed"
                if self.embedded_while_fetching:
                    message += f"; {self.embedded_while_fetching} embedded while fetching"
                message += ")"
                counts = {**self._fetch_counts(), **counts}
            return Phase("embed", "chunks", done, total, counts), message
        total = max(s.discovered, s.fetched)
        if s.limit is not None:
            total = min(total, s.limit)
        message = (
            f"fetching: {s.fetched} of {total or '?'} {self._unit} (discovered {s.discovered}, "
            f"extracted {s.chunked}, failed {s.failed}"
            + (f", chunks embedded {self.embedded})" if self.embedded else ")")
        )
        phase = Phase("fetch", self._unit, s.fetched, total or None, self._fetch_counts())
        return phase, message

    def _fetch_counts(self) -> dict[str, int]:
        s = self.stats
        return {
            "discovered": s.discovered,
            "fetched": s.fetched,
            "extracted": s.chunked,
            "unchanged": s.unchanged,
            "failed": s.failed,
            "embedded": self.embedded,
        }

    async def write(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < 0.5:  # noqa: PLR2004
            return
        self._last = now
        s = self.stats
        counts = {
            "discovered": s.discovered,
            "fetched": s.fetched,
            "chunked": s.chunked,
            "embedded": self.embedded,
            "failed": s.failed,
        }
        if self._embed_only:
            counts = {"embedded": self.embedded}
        async with unit_of_work(self._sessions) as session:
            await session.execute(
                update(Source).where(Source.id == self._source_id).values(**counts)
            )
            # Progress events for the SSE stream, at most every 2 s (the counters are in the row).
            if force or now - self._last_event >= 2.0:  # noqa: PLR2004
                self._last_event = now
                await events.emit(
                    session,
                    type="knowledge.source.progress",
                    payload={"source_id": str(self._source_id), **counts},
                    project_id=self.project_id,
                )
        phase, message = self.job_progress()
        await report_progress(self._context, phase=phase, message=message)


async def _set_status(
    sessions: async_sessionmaker[AsyncSession], source_id: uuid.UUID, **values: Any
) -> Source | None:
    async with unit_of_work(sessions) as session:
        source = await session.get(Source, source_id)
        if source is None:
            return None
        for key, value in values.items():
            setattr(source, key, value)
        return source


@blueprint.task(name="knowledge:ingest_source", pass_context=True)
async def ingest_source(context: JobContext, source_id: str) -> dict[str, int]:
    """Fetch, extract, chunk, store and embed a source (resumes where a killed run stopped)."""
    try:
        return await _ingest_source(context, source_id)
    except asyncio.CancelledError:
        await source_cancelled(context, uuid.UUID(source_id))
        raise


async def _ingest_source(context: JobContext, source_id: str) -> dict[str, int]:
    services = services_of(context)
    settings, sessions = services.settings, services.sessions
    sid = uuid.UUID(source_id)
    source = await _set_status(sessions, sid, status="running", last_error=None)
    if source is None:
        return {}
    async with unit_of_work(sessions) as session:
        await events.emit(
            session,
            type="knowledge.source.ingest_started",
            payload={"source_id": source_id, "generation": source.generation},
            project_id=source.project_id,
        )
    progress = _Progress(context, sessions, sid, unit="pages" if source.kind == "web" else "files")
    progress.project_id = source.project_id
    embedder = services.get(EMBEDDER)
    knowledge = settings.section(KnowledgeSettings)
    batch_size = knowledge.embed_batch_size
    try:
        if knowledge.embed_during_fetch:
            async with EmbedAlongside(
                sessions,
                source_id=sid,
                embedder=embedder,
                batch_size=batch_size,
                progress=progress.embed,
            ) as alongside:
                progress.alongside = alongside
                stats = await _fetch_all(sessions, source, settings, progress)
            progress.alongside = None
            progress.embedded_while_fetching = alongside.embedded
        else:
            stats = await _fetch_all(sessions, source, settings, progress)
    except Exception as exc:
        await _set_status(sessions, sid, status="failed", last_error=str(exc)[:2000])
        raise
    async with unit_of_work(sessions) as session:
        fresh = await session.get(Source, sid)
        assert fresh is not None  # noqa: S101 - the job holds the source's lock
        removed = await remove_unseen(session, source=fresh) if fresh.location != "upload" else 0
        await refresh_counts(session, source_id=sid)
        await refresh_lexeme_stats(session)
    progress.stats = stats
    await progress.write(force=True)
    await _set_status(sessions, sid, status="embedding")
    progress.to_embed = await _missing(sessions, sid, embedder.model)
    await progress.write(force=True)
    try:
        embedded = await embed_source(
            sessions,
            source_id=sid,
            embedder=embedder,
            batch_size=batch_size,
            progress=progress.embed,
            done=progress.embedded_while_fetching,
        )
    except Exception as exc:
        await _embedding_failed(sessions, sid, exc)
        raise
    progress.embedded = embedded
    await progress.write(force=True)
    if knowledge.summarize_code_examples:
        await summarize_code_examples(sessions, source_id=sid, llm=services.get(LLM_CLIENT))
    return await _finish(sessions, sid, stats, embedded, removed)


async def _fetch_all(
    sessions: async_sessionmaker[AsyncSession],
    source: Source,
    settings: Settings,
    progress: _Progress,
) -> CrawlStats:
    knowledge = settings.section(KnowledgeSettings)
    patterns = (list(source.settings.get("include", [])), list(source.settings.get("exclude", [])))
    if source.kind == "web":
        crawler = Crawler(
            sessions, source_id=source.id, settings=knowledge, progress=progress.crawl
        )
        return await crawler.run()
    if source.kind == "git":
        allow_private = (
            bool(source.settings.get("allow_private")) or knowledge.allow_private_networks
        )
        async with checkout(
            source,
            allow_private=allow_private,
            roots=knowledge.local_roots,
            networks=tuple(knowledge.private_networks),
        ) as tree:
            paths = await git_files(tree)
            return await ingest_tree(
                sessions,
                source_id=source.id,
                root=tree,
                paths=paths,
                settings=knowledge,
                patterns=patterns,
                progress=progress.crawl,
            )
    if source.location == "upload":
        return CrawlStats()
    # Checked again here: the roots may have changed since the source was added.
    root = require_local_root(source.location, knowledge.local_roots)
    return await ingest_tree(
        sessions,
        source_id=source.id,
        root=root,
        paths=list_directory(root),
        settings=knowledge,
        patterns=patterns,
        progress=progress.crawl,
    )


async def _missing(
    sessions: async_sessionmaker[AsyncSession], source_id: uuid.UUID, model: str
) -> int:
    async with unit_of_work(sessions) as session:
        return await missing_vectors(session, source_id=source_id, model=model)


class IngestionFailed(Exception):
    """Nothing of the source could be read: the job fails with the reason the source shows."""


async def _finish(
    sessions: async_sessionmaker[AsyncSession],
    sid: uuid.UUID,
    stats: CrawlStats,
    embedded: int,
    removed: int,
) -> dict[str, int]:
    """Record the outcome on the source; a source that failed fails the job with its reason
    (after the source's status is committed), so the two always agree."""
    async with unit_of_work(sessions) as session:
        source = await session.get(Source, sid)
        if source is None:
            return {}
        if source.document_count == 0 and stats.failed:
            source.status = "failed"
            source.last_error = source.last_error or await _nothing_read(session, source)
        elif source.document_count == 0 and source.kind != "web" and source.location != "upload":
            # Nothing failed because nothing was tried: `ready` would claim a searchable source.
            source.status, source.last_error = "empty", _nothing_chosen(source)
        else:
            source.status = "partial" if stats.failed else "ready"
        source.last_refresh_at = clock.now()
        summary = {
            "discovered": stats.discovered,
            "fetched": stats.fetched,
            "chunked": stats.chunked,
            "unchanged": stats.unchanged,
            "failed": stats.failed,
            "embedded": embedded,
            "removed": removed,
            "documents": source.document_count,
            "chunks": source.chunk_count,
        }
        await events.emit(
            session,
            type="knowledge.source.ingested",
            payload={"source_id": str(sid), "status": source.status, **summary},
            project_id=source.project_id,
        )
        failure = source.last_error if source.status == "failed" else None
    if failure is not None:
        raise IngestionFailed(failure)
    return summary


def _nothing_chosen(source: Source) -> str:
    """Say why a git or folder source has no file to read: its patterns, or its tree."""
    include = list(source.settings.get("include", []))
    exclude = list(source.settings.get("exclude", []))
    if include or exclude:
        chosen = " and ".join(
            f"{name} {', '.join(patterns)}"
            for name, patterns in (("include", include), ("exclude", exclude))
            if patterns
        )
        return (
            f"no file matched the source's patterns ({chosen}); "
            "add the source again with patterns that match its files"
        )
    return (
        "the tree has no file of a kind DevFlow reads (Markdown, reStructuredText, HTML, PDF, "
        "Word, text or source code); "
        "check the location, or the ref of a git source"
    )


async def _nothing_read(session: AsyncSession, source: Source) -> str:
    """Say why a source has no document: the first failure, and where to see the others."""
    failures = (
        await session.execute(
            select(Document.uri, Document.error)
            .where(Document.source_id == source.id, Document.error.is_not(None))
            .order_by(Document.uri)
            .limit(2)
        )
    ).all()
    if not failures:
        return "no document could be read"
    first = f"{failures[0].uri}: {failures[0].error}"
    if len(failures) == 1:
        return f"no document could be read: {first}"
    return (
        f"no document could be read; the first failure: {first}. "
        f"`devflow knowledge show {source.name} --failed` lists them all"
    )


async def source_cancelled(context: JobContext, sid: uuid.UUID) -> None:
    """A source whose indexing a user cancelled while it ran says so (procrastinate stops the
    task at its next await); one stopped with its worker stays as it is and resumes."""
    if context.abort_reason() is not AbortReason.USER_REQUEST:
        return
    async with unit_of_work(services_of(context).sessions) as session:
        source = await session.get(Source, sid, with_for_update=True)
        if source is None or source.status not in {"running", "embedding"}:
            return
        source.status = "partial" if source.document_count else "failed"
        source.last_error = "indexing was cancelled; refresh the source to index it again"
        await events.emit(
            session,
            type="knowledge.source.cancelled",
            payload={"source_id": str(sid), "status": source.status},
            project_id=source.project_id,
        )


@blueprint.task(name="knowledge:embed_source", pass_context=True)
async def embed_source_job(context: JobContext, source_id: str) -> dict[str, int]:
    """Embed a source's chunks that have no vector of the configured model (uploads, re-embeds)."""
    try:
        return await _embed_source(context, source_id)
    except asyncio.CancelledError:
        await source_cancelled(context, uuid.UUID(source_id))
        raise


async def _embed_source(context: JobContext, source_id: str) -> dict[str, int]:
    services = services_of(context)
    settings, sessions = services.settings, services.sessions
    sid = uuid.UUID(source_id)
    embedder = services.get(EMBEDDER)
    progress = _Progress(context, sessions, sid, embed_only=True)
    progress.to_embed = await _missing(sessions, sid, embedder.model)
    try:
        embedded = await embed_source(
            sessions,
            source_id=sid,
            embedder=embedder,
            batch_size=settings.section(KnowledgeSettings).embed_batch_size,
            progress=progress.embed,
        )
        if settings.section(KnowledgeSettings).summarize_code_examples:
            await summarize_code_examples(sessions, source_id=sid, llm=services.get(LLM_CLIENT))
    except Exception as exc:
        await _embedding_failed(sessions, sid, exc)
        raise
    async with unit_of_work(sessions) as session:
        # Locked before counting: an upload committing meanwhile either comes first (and its
        # chunks are counted as missing) or waits, then sets `embedding` again for its own job.
        source = await session.get(Source, sid, with_for_update=True)
        if source is not None:
            await refresh_counts(session, source_id=sid)
            await refresh_lexeme_stats(session)
            source.embedded = embedded
            missing = await missing_vectors(session, source_id=sid, model=embedder.model)
            if source.status == "embedding" and missing == 0:
                await settle_status(session, source=source)
            await events.emit(
                session,
                type="knowledge.source.embedded",
                payload={"source_id": source_id, "embedded": embedded, "status": source.status},
                project_id=source.project_id,
            )
    return {"embedded": embedded}


async def _embedding_failed(
    sessions: async_sessionmaker[AsyncSession], sid: uuid.UUID, exc: Exception
) -> None:
    """A source waiting for its vectors says that they will not come, and why."""
    async with unit_of_work(sessions) as session:
        source = await session.get(Source, sid, with_for_update=True)
        if source is not None and source.status == "embedding":
            source.status = "failed"
            source.last_error = f"embedding failed: {exc}"[:2000]


@blueprint.task(
    name="knowledge:refresh_lexeme_stats",
    queueing_lock="knowledge:refresh_lexeme_stats",
    pass_context=True,
)
async def refresh_lexeme_stats_job(context: JobContext) -> None:
    """Rebuild BM25's lexeme statistics (queued when a source is removed)."""
    async with unit_of_work(services_of(context).sessions) as session:
        await refresh_lexeme_stats(session)


__all__ = ["blueprint", "embed_source_job", "ingest_source", "refresh_lexeme_stats_job"]


@blueprint.periodic(cron="*/5 * * * *", periodic_id="knowledge-reembed")
@blueprint.task(
    name="knowledge:queue_reembedding",
    queueing_lock="knowledge:queue_reembedding",
    pass_context=True,
)
async def queue_reembedding(context: JobContext, timestamp: int) -> int:
    """Queue re-embedding of sources whose vectors are not of the configured model."""
    del timestamp
    services = services_of(context)
    sessions = services.sessions
    model = services.get(EMBEDDER).model
    from devflow.knowledge.service import queue_embedding

    async with unit_of_work(sessions) as session:
        stale = list(
            await session.scalars(
                select(Source).where(Source.embed_model.is_not(None), Source.embed_model != model)
            )
        )
        for source in stale:
            await queue_embedding(session, source=source)
    return len(stale)
