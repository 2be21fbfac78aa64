"""Embedding while a source is fetched: full batches only, no model switch until the end, and a
chunk replaced under a batch costs a retry, not the job."""

import asyncio
import uuid

from sqlalchemy import delete, func, select

from devflow.core.db import unit_of_work
from devflow.identity.models import Project
from devflow.knowledge.embedding import EmbedAlongside, embed_source
from devflow.knowledge.models import Chunk, Document, Embedding, Source
from tests.knowledge_site.embedder import SmallHashingEmbedder


async def store_chunks(sessions, source_id: uuid.UUID | None, count: int) -> uuid.UUID:
    """Store `count` chunks in a new document (and a new source unless one is given)."""
    async with unit_of_work(sessions) as session:
        if source_id is None:
            project = Project(name=f"kb-{uuid.uuid4().hex[:8]}")
            session.add(project)
            await session.flush()
            source = Source(project_id=project.id, name="site", kind="web", location="x")
            session.add(source)
            await session.flush()
            source_id = source.id
        source = await session.get(Source, source_id)
        assert source is not None
        doc = Document(
            source_id=source_id, project_id=source.project_id, uri=uuid.uuid4().hex, title="Page"
        )
        session.add(doc)
        await session.flush()
        session.add_all(
            Chunk(
                document_id=doc.id,
                source_id=source_id,
                project_id=source.project_id,
                position=i,
                title="Page",
                text=f"passage {i} about flux capacitors",
                content_hash=f"{doc.id}-{i}",
            )
            for i in range(count)
        )
    return source_id


async def vectors(sessions, source_id: uuid.UUID) -> int:
    async with unit_of_work(sessions) as session:
        count = await session.scalar(
            select(func.count()).select_from(Embedding).where(Embedding.source_id == source_id)
        )
    return int(count or 0)


async def test_full_batches_are_embedded_during_the_fetch_and_the_rest_after_it(sessions):
    embedder = SmallHashingEmbedder()
    sid = await store_chunks(sessions, None, 3)
    reached = asyncio.Event()

    async def progress(done: int) -> None:
        if done >= 4:
            reached.set()

    async with EmbedAlongside(
        sessions, source_id=sid, embedder=embedder, batch_size=2, progress=progress
    ) as alongside:
        alongside.wake()
        await store_chunks(sessions, sid, 2)  # the fetch stores another page meanwhile
        alongside.wake()
        await asyncio.wait_for(reached.wait(), timeout=60)
    # Two full batches of two; the fifth chunk waits for a batch to fill, or the fetch's end.
    assert alongside.embedded == 4
    assert await vectors(sessions, sid) == 4
    async with unit_of_work(sessions) as session:
        source = await session.get(Source, sid)
        assert source is not None
        assert source.embed_model is None  # search does not use a model with missing vectors

    done = await embed_source(
        sessions, source_id=sid, embedder=embedder, batch_size=2, done=alongside.embedded
    )
    assert done == 5
    assert await vectors(sessions, sid) == 5
    async with unit_of_work(sessions) as session:
        source = await session.get(Source, sid)
        assert source is not None
        assert source.embed_model == embedder.model


async def test_a_chunk_replaced_under_a_batch_is_skipped_and_the_batch_retried(sessions):
    sid = await store_chunks(sessions, None, 4)

    class ReplacingEmbedder(SmallHashingEmbedder):
        """Deletes the first chunk of its first batch while it embeds (a refresh replacing a
        changed page)."""

        replaced: uuid.UUID | None = None

        async def embed_documents(self, texts):
            if self.replaced is None:
                async with unit_of_work(sessions) as session:
                    first = await session.scalar(
                        select(Chunk.id).where(Chunk.source_id == sid).order_by(Chunk.id).limit(1)
                    )
                    await session.execute(delete(Chunk).where(Chunk.id == first))
                self.replaced = first
            return await super().embed_documents(texts)

    embedder = ReplacingEmbedder()
    done = await embed_source(sessions, source_id=sid, embedder=embedder, batch_size=2)
    assert embedder.replaced is not None
    assert done == 3
    assert await vectors(sessions, sid) == 3


async def test_a_failing_embedder_does_not_fail_the_fetch(sessions, caplog):
    sid = await store_chunks(sessions, None, 2)

    called = asyncio.Event()

    class Broken(SmallHashingEmbedder):
        async def embed_documents(self, texts):
            called.set()
            raise RuntimeError("the embeddings API is down")

    async with EmbedAlongside(
        sessions, source_id=sid, embedder=Broken(), batch_size=2
    ) as alongside:
        alongside.wake()
        await asyncio.wait_for(called.wait(), timeout=60)
    assert alongside.embedded == 0
    assert "embedding during the fetch failed" in caplog.text
