"""Tables of the knowledge domain: sources, documents, chunks, embeddings, code examples, frontier.

Chunks carry a generated `tsv` (title weight A, heading path B, body C) for full-text search;
triggers copy each chunk's lexemes into `knowledge_posting`, the inverted index BM25 ranks from.
Embeddings are rows of their own, keyed by (chunk, model): the model name and dimension live with
every vector, so a new embedding model is filled in beside the old one in the background and
search switches over when it is complete. Each model gets its own partial HNSW index (created by
the embedding job, `index_name_for`), since pgvector indexes need one fixed dimension.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Any

from pgvector.sqlalchemy import Vector
from sqlalchemy import (
    BigInteger,
    Computed,
    ForeignKey,
    Index,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import ARRAY, TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from devflow.core import clock
from devflow.core.db import Base

TS_CONFIG = "english"

CHUNK_TSV = (
    f"setweight(to_tsvector('{TS_CONFIG}', coalesce(title, '')), 'A') || "
    f"setweight(to_tsvector('{TS_CONFIG}', coalesce(heading, '')), 'B') || "
    f"setweight(to_tsvector('{TS_CONFIG}', coalesce(text, '')), 'C')"
)
EXAMPLE_TSV = (
    f"setweight(to_tsvector('{TS_CONFIG}', coalesce(summary, '')), 'A') || "
    f"setweight(to_tsvector('{TS_CONFIG}', coalesce(context, '')), 'B') || "
    f"setweight(to_tsvector('simple', coalesce(code, '')), 'C')"
)


class Source(Base):
    """Where knowledge comes from: a website, a set of files or a git repository."""

    __tablename__ = "knowledge_source"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    project_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # web | files | git
    location: Mapped[str] = mapped_column(Text)  # URL, directory, clone URL or "upload"
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    # The model whose vectors are complete for this source; semantic search uses those.
    embed_model: Mapped[str | None] = mapped_column(String(200))
    discovered: Mapped[int] = mapped_column(default=0)
    fetched: Mapped[int] = mapped_column(default=0)
    chunked: Mapped[int] = mapped_column(default=0)
    embedded: Mapped[int] = mapped_column(default=0)
    failed: Mapped[int] = mapped_column(default=0)
    document_count: Mapped[int] = mapped_column(default=0)
    chunk_count: Mapped[int] = mapped_column(default=0)
    generation: Mapped[int] = mapped_column(default=0)  # bumped by each refresh
    job_id: Mapped[int | None] = mapped_column(BigInteger)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_refresh_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))


class Document(Base):
    """One page or file of a source, as Markdown, with what refresh needs to skip it next time."""

    __tablename__ = "knowledge_document"
    __table_args__ = (UniqueConstraint("source_id", "uri"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    source_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("knowledge_source.id", ondelete="CASCADE")
    )
    project_id: Mapped[uuid.UUID] = mapped_column(index=True)
    uri: Mapped[str] = mapped_column(Text)  # URL or path inside the source
    title: Mapped[str] = mapped_column(Text, default="")
    content_type: Mapped[str] = mapped_column(String(32), default="text")
    language: Mapped[str | None] = mapped_column(String(40))
    etag: Mapped[str | None] = mapped_column(String(300))
    last_modified: Mapped[str | None] = mapped_column(String(100))
    content_hash: Mapped[str | None] = mapped_column(String(64))
    content: Mapped[str] = mapped_column(Text, default="")
    # A web page's links within its crawl (`<a href>`), followed again when it answers 304;
    # None: not known (stored before they were kept, or not a crawled page).
    links: Mapped[list[str] | None] = mapped_column(ARRAY(Text))
    size: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(String(16), default="ok")  # ok | failed
    error: Mapped[str | None] = mapped_column(Text)
    seen_generation: Mapped[int] = mapped_column(default=0)
    fetched_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)


class Chunk(Base):
    """A piece of a document cut at its structure, with its heading path and place."""

    __tablename__ = "knowledge_chunk"
    __table_args__ = (
        Index("ix_knowledge_chunk_tsv", "tsv", postgresql_using="gin"),
        Index("ix_knowledge_chunk_document_id_position", "document_id", "position"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    document_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("knowledge_document.id", ondelete="CASCADE")
    )
    source_id: Mapped[uuid.UUID] = mapped_column(index=True)
    project_id: Mapped[uuid.UUID] = mapped_column(index=True)
    position: Mapped[int]
    title: Mapped[str] = mapped_column(Text, default="")
    heading_path: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    heading: Mapped[str] = mapped_column(Text, default="")  # heading_path joined, for search
    text: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    start_offset: Mapped[int] = mapped_column(default=0)  # character range in the document
    end_offset: Mapped[int] = mapped_column(default=0)
    content_type: Mapped[str] = mapped_column(String(32), default="text")
    language: Mapped[str | None] = mapped_column(String(40))
    tsv: Mapped[Any] = mapped_column(TSVECTOR, Computed(CHUNK_TSV, persisted=True))


class Embedding(Base):
    """The vector of one chunk under one model (model and dimension kept with it)."""

    __tablename__ = "knowledge_embedding"
    __table_args__ = (Index("ix_knowledge_embedding_source_id_model", "source_id", "model"),)

    chunk_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("knowledge_chunk.id", ondelete="CASCADE"), primary_key=True
    )
    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    dimension: Mapped[int]
    source_id: Mapped[uuid.UUID]
    project_id: Mapped[uuid.UUID]
    vector: Mapped[Any] = mapped_column(Vector())
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class CodeExample(Base):
    """A code block worth finding on its own, with its language and the prose around it."""

    __tablename__ = "knowledge_code_example"
    __table_args__ = (Index("ix_knowledge_code_example_tsv", "tsv", postgresql_using="gin"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    document_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("knowledge_document.id", ondelete="CASCADE"), index=True
    )
    chunk_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("knowledge_chunk.id", ondelete="SET NULL")
    )
    source_id: Mapped[uuid.UUID] = mapped_column(index=True)
    project_id: Mapped[uuid.UUID] = mapped_column(index=True)
    language: Mapped[str | None] = mapped_column(String(40))
    heading_path: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    code: Mapped[str] = mapped_column(Text)
    context: Mapped[str] = mapped_column(Text, default="")
    summary: Mapped[str | None] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    tsv: Mapped[Any] = mapped_column(TSVECTOR, Computed(EXAMPLE_TSV, persisted=True))


class CrawlUrl(Base):
    """The crawl frontier, persisted so an interrupted crawl resumes where it stopped."""

    __tablename__ = "knowledge_crawl_url"

    source_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("knowledge_source.id", ondelete="CASCADE"), primary_key=True
    )
    url: Mapped[str] = mapped_column(Text, primary_key=True)
    generation: Mapped[int] = mapped_column(default=0)
    depth: Mapped[int] = mapped_column(default=0)
    state: Mapped[str] = mapped_column(String(16), default="queued")  # queued|done|failed|skipped
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class Lexeme(Base):
    """Corpus statistics of a lexeme: chunks holding it (df) and its occurrences, for BM25.

    Rebuilt from the postings after each ingestion; the row with the empty lexeme holds the
    number of chunks and the total length of all chunks. An empty table (a fresh index) ranks
    every term equally.
    """

    __tablename__ = "knowledge_lexeme"

    lexeme: Mapped[str] = mapped_column(Text, primary_key=True)
    df: Mapped[int]
    occurrences: Mapped[int] = mapped_column(BigInteger, server_default="0")


class Posting(Base):
    """One lexeme of one chunk (term frequency, chunk length): the keyword search index.

    Written only by the statement triggers on `knowledge_chunk` (migration 0007), in the same
    transaction as the chunk. The key leads with the lexeme and includes `tf` and `length`, so
    ranking reads a term's postings with an index-only scan and never touches the chunks.
    """

    __tablename__ = "knowledge_posting"
    __table_args__ = (
        PrimaryKeyConstraint(
            "lexeme", "source_id", "chunk_id", postgresql_include=["tf", "length"]
        ),
    )

    lexeme: Mapped[str] = mapped_column(Text)
    source_id: Mapped[uuid.UUID]
    chunk_id: Mapped[uuid.UUID]
    tf: Mapped[int] = mapped_column(SmallInteger)
    length: Mapped[int] = mapped_column(SmallInteger)


def index_name_for(model: str) -> str:
    """Return the name of the partial HNSW index holding `model`'s vectors."""
    return "ix_knowledge_embedding_hnsw_" + hashlib.sha256(model.encode()).hexdigest()[:16]


__all__ = [
    "Chunk",
    "CodeExample",
    "CrawlUrl",
    "Document",
    "Embedding",
    "Lexeme",
    "Posting",
    "Source",
    "index_name_for",
]
