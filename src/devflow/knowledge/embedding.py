"""Embedding chunks: choosing the embedder, filling in missing vectors, switching models safely.

A source's `embed_model` names the model whose vectors are complete for it; semantic search only
uses those. When the configured model changes, `embed_source` stores the new model's vectors
beside the old ones (search keeps working on keyword results for that source meanwhile, and says
so), then switches the source over and deletes the old vectors.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Self

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from devflow.core.db import unit_of_work
from devflow.core.errors import Invalid
from devflow.core.services import Services
from devflow.knowledge.models import Chunk, Embedding, Source, index_name_for
from devflow.knowledge.ports import Embedder
from devflow.knowledge.settings import KnowledgeSettings
from devflow.llm import LLM_CLIENT

log = logging.getLogger(__name__)

EMBED_TEXT_CHARS = 4000
_CONFLICT_RETRIES = 3


def make_embedder(services: Services) -> Embedder:
    """Build the configured embedder: the process keeps it among its services (loading a model
    takes seconds and hundreds of MB). A remote model is reached through the process's LLM
    client, so embeddings have its cache, usage rows, budgets and circuit breakers.

    Raises:
        Invalid: the configured embedder cannot be built.
    """
    key = services.settings.section(KnowledgeSettings).embedder
    if key.startswith("python:"):
        return _plugin(key.removeprefix("python:"))
    # Imported by name: the backends module loads heavy libraries only when a model is needed.
    embedders: Any = importlib.import_module("devflow.knowledge.backends.embedders")
    made: Embedder = (
        embedders.local_embedder()
        if key == "local"
        else embedders.OpenAIEmbedder(services.get(LLM_CLIENT), key)
    )
    return made


async def close_embedder(embedder: Embedder) -> None:
    """Release what an embedder holds (a plugin may have nothing to close)."""
    close = getattr(embedder, "aclose", None)
    if close is not None:
        await close()


def _plugin(target: str) -> Embedder:
    """Build an embedder from `module:factory` (a plugin, or a test double)."""
    module_name, _, factory = target.partition(":")
    try:
        module = importlib.import_module(module_name)
        made: Embedder = getattr(module, factory)()
    except (ImportError, AttributeError) as exc:
        raise Invalid(f"DEVFLOW_KNOWLEDGE__EMBEDDER=python:{target}: {exc}") from None
    return made


def embed_input(title: str, heading_path: list[str], body: str) -> str:
    """Return the text embedded for a chunk: its title and headings give the body context.

    A heading that repeats the one before it (a Markdown page's `# Title` is usually its title
    too) is given once: the model reads only its first 256 word pieces, and a repeated title
    spends them on nothing new (SciFact: semantic nDCG@10 0.665 -> 0.668 on the train split).
    """
    parts: list[str] = []
    for heading in (title, *heading_path):
        if heading and (not parts or parts[-1] != heading):
            parts.append(heading)
    head = " > ".join(parts)
    return f"{head}\n\n{body}"[:EMBED_TEXT_CHARS] if head else body[:EMBED_TEXT_CHARS]


async def ensure_vector_index(session: AsyncSession, *, model: str, dimension: int) -> None:
    """Create the partial HNSW index of `model`'s vectors unless it exists.

    Two jobs creating it at once would collide in the catalog (`IF NOT EXISTS` is no lock), so
    creators queue on a transaction-level advisory lock named after the index.
    """
    name = index_name_for(model)
    literal = model.replace("'", "''")
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": name})
    await session.execute(
        text(
            f"CREATE INDEX IF NOT EXISTS {name} ON knowledge_embedding USING hnsw "
            f"((vector::vector({int(dimension)})) vector_cosine_ops) "
            f"WITH (m = 16, ef_construction = 64) WHERE model = '{literal}'"
        )
    )


async def embed_source(
    sessions: async_sessionmaker[AsyncSession],
    *,
    source_id: uuid.UUID,
    embedder: Embedder,
    batch_size: int = 64,
    progress: Callable[[int], Awaitable[None]] | None = None,
    done: int = 0,
) -> int:
    """Embed every chunk of a source that lacks a vector of the embedder's model.

    Each batch commits on its own, so a crash loses at most one batch. When no chunk is left
    without a vector, the source switches to this model and older models' vectors are deleted.
    Returns the number of chunks embedded, counting on from `done` (what an `EmbedAlongside`
    embedded while the source was fetched).
    """
    async with unit_of_work(sessions) as session:
        await ensure_vector_index(session, model=embedder.model, dimension=embedder.dimension)
    done = await _embed_batches(
        sessions,
        source_id=source_id,
        embedder=embedder,
        batch_size=batch_size,
        progress=progress,
        done=done,
    )
    async with unit_of_work(sessions) as session:
        await switch_model(session, source_id=source_id, model=embedder.model)
    return done


async def _embed_batches(
    sessions: async_sessionmaker[AsyncSession],
    *,
    source_id: uuid.UUID,
    embedder: Embedder,
    batch_size: int,
    progress: Callable[[int], Awaitable[None]] | None,
    done: int,
    full_only: bool = False,
    stopping: Callable[[], bool] = lambda: False,
) -> int:
    """Embed the source's chunks without a vector of the model, a batch per transaction.

    Until none is left, or (`full_only`) fewer than a batch are waiting, or `stopping()` says so
    between two batches. Returns `done` plus what it embedded.
    """
    model = embedder.model
    conflicts = 0
    while not stopping():
        try:
            async with unit_of_work(sessions) as session:
                rows = (
                    await session.execute(
                        select(
                            Chunk.id, Chunk.title, Chunk.heading_path, Chunk.text, Chunk.project_id
                        )
                        .where(Chunk.source_id == source_id)
                        .where(
                            ~select(Embedding.chunk_id)
                            .where(Embedding.chunk_id == Chunk.id, Embedding.model == model)
                            .exists()
                        )
                        .order_by(Chunk.id)
                        .limit(batch_size)
                    )
                ).all()
                if not rows or (full_only and len(rows) < batch_size):
                    break
                vectors = await embedder.embed_documents(
                    [embed_input(r.title, r.heading_path, r.text) for r in rows]
                )
                _check_vectors(vectors, len(rows), embedder)
                session.add_all(
                    Embedding(
                        chunk_id=r.id,
                        model=model,
                        dimension=embedder.dimension,
                        source_id=source_id,
                        project_id=r.project_id,
                        vector=v,
                    )
                    for r, v in zip(rows, vectors, strict=True)
                )
        except IntegrityError:
            # A chunk of the batch was replaced meanwhile (its page changed while a refresh
            # fetched it): the batch rolled back; the next one reads the chunks as they are now.
            conflicts += 1
            if conflicts > _CONFLICT_RETRIES:
                raise
            continue
        conflicts = 0
        done += len(rows)
        if progress is not None:
            await progress(done)
    return done


class EmbedAlongside:
    """Embeds a source's stored chunks while its fetch goes on, a full batch at a time.

    Fetching a web site keeps about one core busy extracting pages (and waits on the network and
    the crawl's politeness delay); the embedder's threads use the rest meanwhile, so fewer chunks
    are left to embed when the fetch ends. `wake` after chunks were stored; `finish` before
    anything deletes chunks (unseen documents) and before the last batches are embedded, which
    `embed_source` does with what `embedded` says is done. It never switches the source's search
    model: that happens once, when every chunk has its vector.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        source_id: uuid.UUID,
        embedder: Embedder,
        batch_size: int,
        progress: Callable[[int], Awaitable[None]] | None = None,
    ) -> None:
        self._sessions = sessions
        self._source_id = source_id
        self._embedder = embedder
        self._batch_size = batch_size
        self._progress = progress
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self.embedded = 0

    async def __aenter__(self) -> Self:
        async with unit_of_work(self._sessions) as session:
            await ensure_vector_index(
                session, model=self._embedder.model, dimension=self._embedder.dimension
            )
        self._task = asyncio.create_task(self._run(), name=f"embed-alongside-{self._source_id}")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.finish()

    def wake(self) -> None:
        """Say that chunks were stored: a full batch may be waiting."""
        self._wake.set()

    async def finish(self) -> int:
        """Stop after the batch in progress; return how many chunks were embedded."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            task, self._task = self._task, None
            try:
                await task
            except Exception:
                # The embedding that follows the fetch tries again, and reports a failure.
                log.warning("embedding during the fetch failed", exc_info=True)
        return self.embedded

    async def _run(self) -> None:
        while not self._stopping:
            await self._wake.wait()
            self._wake.clear()
            self.embedded = await _embed_batches(
                self._sessions,
                source_id=self._source_id,
                embedder=self._embedder,
                batch_size=self._batch_size,
                progress=self._progress,
                done=self.embedded,
                full_only=True,
                stopping=lambda: self._stopping,
            )


async def switch_model(session: AsyncSession, *, source_id: uuid.UUID, model: str) -> None:
    """Make `model` the source's search model and drop other models' vectors."""
    await session.execute(update(Source).where(Source.id == source_id).values(embed_model=model))
    await session.execute(
        delete(Embedding).where(Embedding.source_id == source_id, Embedding.model != model)
    )


async def missing_vectors(session: AsyncSession, *, source_id: uuid.UUID, model: str) -> int:
    """Return how many chunks of the source have no vector of `model`."""
    count = await session.scalar(
        select(func.count())
        .select_from(Chunk)
        .where(Chunk.source_id == source_id)
        .where(
            ~select(Embedding.chunk_id)
            .where(Embedding.chunk_id == Chunk.id, Embedding.model == model)
            .exists()
        )
    )
    return int(count or 0)


def _check_vectors(vectors: list[Any], expected: int, embedder: Embedder) -> None:
    if len(vectors) != expected:
        raise Invalid(f"{embedder.model} returned {len(vectors)} vectors for {expected} texts")
    for vector in vectors:
        if len(vector) != embedder.dimension:
            raise Invalid(
                f"{embedder.model} returned a {len(vector)}-dimensional vector; it declares "
                f"{embedder.dimension}"
            )


__all__ = [
    "EmbedAlongside",
    "close_embedder",
    "embed_input",
    "embed_source",
    "ensure_vector_index",
    "make_embedder",
    "missing_vectors",
    "switch_model",
]
