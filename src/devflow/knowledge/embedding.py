"""Embedding chunks: choosing the embedder, filling in missing vectors, switching models safely.

A source's `embed_model` names the model whose vectors are complete for it; semantic search only
uses those. When the configured model changes, `embed_source` stores the new model's vectors
beside the old ones (search keeps working on keyword results for that source meanwhile, and says
so), then switches the source over and deletes the old vectors.
"""

from __future__ import annotations

import importlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import delete, func, select, text, update
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
) -> int:
    """Embed every chunk of a source that lacks a vector of the embedder's model.

    Each batch commits on its own, so a crash loses at most one batch. When no chunk is left
    without a vector, the source switches to this model and older models' vectors are deleted.
    Returns the number of chunks embedded.
    """
    model = embedder.model
    done = 0
    async with unit_of_work(sessions) as session:
        await ensure_vector_index(session, model=model, dimension=embedder.dimension)
    while True:
        async with unit_of_work(sessions) as session:
            rows = (
                await session.execute(
                    select(Chunk.id, Chunk.title, Chunk.heading_path, Chunk.text, Chunk.project_id)
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
            if not rows:
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
            done += len(rows)
        if progress is not None:
            await progress(done)
    async with unit_of_work(sessions) as session:
        await switch_model(session, source_id=source_id, model=model)
    return done


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
    "close_embedder",
    "embed_input",
    "embed_source",
    "ensure_vector_index",
    "make_embedder",
    "missing_vectors",
    "switch_model",
]
