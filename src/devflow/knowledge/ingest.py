"""Storing documents: chunks that did not change keep their ids and vectors; others are replaced.

Used by every kind of source (web pages, files, git). Each call works in the caller's transaction;
the jobs give each document its own, so one bad document never undoes the others.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core import clock
from devflow.knowledge.chunking import chunk_markdown, code_blocks
from devflow.knowledge.extract import Extracted
from devflow.knowledge.models import Chunk, CodeExample, Document, Source
from devflow.knowledge.settings import KnowledgeSettings


@dataclass(frozen=True)
class Stored:
    """What storing one document did."""

    document_id: uuid.UUID | None
    outcome: str  # new | changed | unchanged | failed
    chunks: int = 0
    new_chunks: int = 0


def content_hash(text: str) -> str:
    """Return the SHA-256 of a document's Markdown."""
    return hashlib.sha256(text.encode()).hexdigest()


async def find_document(
    session: AsyncSession, *, source_id: uuid.UUID, uri: str
) -> Document | None:
    """Return the source's document at `uri`, if any."""
    result: Document | None = await session.scalar(
        select(Document).where(Document.source_id == source_id, Document.uri == uri)
    )
    return result


async def store_document(
    session: AsyncSession,
    *,
    source: Source,
    uri: str,
    extracted: Extracted,
    settings: KnowledgeSettings,
    size: int = 0,
    etag: str | None = None,
    last_modified: str | None = None,
    links: list[str] | None = None,
) -> Stored:
    """Insert or update a document and its chunks and code examples (`links`: a web page's)."""
    digest = content_hash(extracted.text)
    doc = await find_document(session, source_id=source.id, uri=uri)
    if doc is not None and doc.content_hash == digest and doc.status == "ok":
        doc.seen_generation = source.generation
        doc.etag, doc.last_modified = etag or doc.etag, last_modified or doc.last_modified
        doc.links = links if links is not None else doc.links  # the navigation may have changed
        doc.error = None  # read well this time
        doc.fetched_at = clock.now()
        return Stored(doc.id, "unchanged")
    outcome = "new" if doc is None else "changed"
    if doc is None:
        doc = Document(id=uuid.uuid4(), source_id=source.id, project_id=source.project_id, uri=uri)
        session.add(doc)
    doc.title = extracted.title[:2000]
    doc.content_type = extracted.content_type
    doc.language = extracted.language
    doc.content = extracted.text
    doc.content_hash = digest
    doc.size = size or len(extracted.text.encode())
    doc.status, doc.error = "ok", None
    doc.etag, doc.last_modified = etag, last_modified
    doc.links = links
    doc.seen_generation = source.generation
    doc.fetched_at = clock.now()
    await session.flush()
    total, new = await _replace_chunks(session, doc=doc, settings=settings)
    await _replace_code_examples(session, doc=doc, settings=settings)
    return Stored(doc.id, outcome, chunks=total, new_chunks=new)


async def _replace_chunks(
    session: AsyncSession, *, doc: Document, settings: KnowledgeSettings
) -> tuple[int, int]:
    pieces = chunk_markdown(doc.content, size=settings.chunk_size, overlap=settings.chunk_overlap)
    existing = (
        await session.execute(
            select(Chunk.id, Chunk.content_hash, Chunk.heading_path).where(
                Chunk.document_id == doc.id
            )
        )
    ).all()
    reusable: dict[tuple[str, tuple[str, ...]], list[uuid.UUID]] = {}
    for row in existing:
        reusable.setdefault((row.content_hash, tuple(row.heading_path)), []).append(row.id)
    kept: set[uuid.UUID] = set()
    new = 0
    for piece in pieces:
        ids = reusable.get((piece.content_hash, tuple(piece.heading_path)))
        if ids:
            chunk_id = ids.pop()
            kept.add(chunk_id)
            await session.execute(
                update(Chunk)
                .where(Chunk.id == chunk_id)
                .values(
                    position=piece.position,
                    title=doc.title,
                    start_offset=piece.start,
                    end_offset=piece.end,
                )
            )
            continue
        new += 1
        session.add(
            Chunk(
                document_id=doc.id,
                source_id=doc.source_id,
                project_id=doc.project_id,
                position=piece.position,
                title=doc.title,
                heading_path=piece.heading_path,
                heading=" > ".join(piece.heading_path),
                text=piece.text,
                content_hash=piece.content_hash,
                start_offset=piece.start,
                end_offset=piece.end,
                content_type=doc.content_type,
                language=doc.language,
            )
        )
    stale = [row.id for row in existing if row.id not in kept]
    if stale:
        await session.execute(delete(Chunk).where(Chunk.id.in_(stale)))
    await session.flush()
    return len(pieces), new


async def _replace_code_examples(
    session: AsyncSession, *, doc: Document, settings: KnowledgeSettings
) -> None:
    await session.execute(delete(CodeExample).where(CodeExample.document_id == doc.id))
    for block in code_blocks(doc.content, min_chars=settings.code_example_min_chars):
        session.add(
            CodeExample(
                document_id=doc.id,
                source_id=doc.source_id,
                project_id=doc.project_id,
                language=block.language or doc.language,
                heading_path=block.heading_path,
                code=block.code,
                context=block.context,
                content_hash=content_hash(block.code),
            )
        )


async def record_failure(
    session: AsyncSession, *, source: Source, uri: str, error: str, title: str = ""
) -> None:
    """Record that a document failed, with its reason; an earlier good version stays searchable."""
    doc = await find_document(session, source_id=source.id, uri=uri)
    if doc is None:
        doc = Document(
            source_id=source.id,
            project_id=source.project_id,
            uri=uri,
            title=title or uri,
            content_hash=None,
            status="failed",
        )
        session.add(doc)
    else:
        doc.status = "failed" if doc.content_hash is None else doc.status
    doc.error = error[:2000]
    doc.seen_generation = source.generation
    doc.fetched_at = clock.now()
    await session.flush()


async def remove_unseen(session: AsyncSession, *, source: Source) -> int:
    """Delete the documents a complete refresh did not see again (removed pages and files)."""
    result = await session.execute(
        delete(Document)
        .where(Document.source_id == source.id, Document.seen_generation < source.generation)
        .returning(Document.id)
    )
    return len(result.all())


# Document frequency and occurrences per lexeme from the postings, and on the row of the empty
# lexeme the number of chunks and their total length (BM25's N and average length).
LEXEME_STATS_SQL = (
    "INSERT INTO knowledge_lexeme (lexeme, df, occurrences) "
    "SELECT lexeme, count(*), sum(tf) FROM knowledge_posting GROUP BY lexeme "
    "UNION ALL SELECT '', (SELECT count(*) FROM knowledge_chunk), "
    "(SELECT coalesce(sum(tf), 0) FROM knowledge_posting)"
)


async def refresh_lexeme_stats(session: AsyncSession) -> None:
    """Rebuild the lexeme statistics from the postings (locked: one rebuild at a time)."""
    await session.execute(text("LOCK TABLE knowledge_lexeme IN EXCLUSIVE MODE"))
    await session.execute(text("DELETE FROM knowledge_lexeme"))
    await session.execute(text(LEXEME_STATS_SQL))


async def refresh_counts(session: AsyncSession, *, source_id: uuid.UUID) -> None:
    """Recount a source's documents and chunks."""
    docs = (
        select(func.count())
        .select_from(Document)
        .where(Document.source_id == source_id, Document.status == "ok")
    )
    chunks = select(func.count()).select_from(Chunk).where(Chunk.source_id == source_id)
    await session.execute(
        update(Source)
        .where(Source.id == source_id)
        .values(document_count=docs.scalar_subquery(), chunk_count=chunks.scalar_subquery())
    )


__all__ = [
    "LEXEME_STATS_SQL",
    "Stored",
    "content_hash",
    "find_document",
    "record_failure",
    "refresh_counts",
    "refresh_lexeme_stats",
    "remove_unseen",
    "store_document",
]
