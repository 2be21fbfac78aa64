"""The OpenAI-compatible embedder, through devflow.llm against the fake gateway."""

import math

import pytest
from sqlalchemy import func, select

from devflow.core.errors import Invalid
from devflow.knowledge.backends.embedders import OpenAIEmbedder, llm_embedder
from devflow.llm import LLMClient
from devflow.llm.models import LLMUsage
from devflow.testing import FakeOpenAI, fake_embedding


@pytest.fixture
def fake():
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
async def make():
    made = []

    def build(settings, model, **options):
        embedder = llm_embedder(settings, model, **options)
        made.append(embedder)
        return embedder

    yield build
    for embedder in made:
        await embedder.aclose()


class TestOpenAIEmbedder:
    async def test_vectors_come_from_the_provider_in_order(self, fake, make):
        embedder = make(fake.llm_settings(), "embed", dimensions=16)
        vectors = await embedder.embed_documents(["alpha", "beta"])
        assert vectors[0] == pytest.approx(fake_embedding("fake-embed", "alpha"))
        assert vectors[1] == pytest.approx(fake_embedding("fake-embed", "beta"))
        query = await embedder.embed_query("alpha")
        assert query == pytest.approx(vectors[0])
        assert embedder.model == "fake/fake-embed@16"
        assert embedder.dimension == 16
        assert fake.requests[0].body["dimensions"] == 16
        assert fake.requests[0].headers.get("x-aosentry-feature") == "knowledge.embed"

    async def test_the_requested_size_is_what_comes_back(self, fake, make):
        embedder = make(fake.llm_settings(), "fake/fake-embed", dimensions=8)
        [vector] = await embedder.embed_documents(["gamma"])
        assert len(vector) == 8
        assert math.sqrt(sum(v * v for v in vector)) == pytest.approx(1.0)

    async def test_texts_are_batched_and_cached_by_the_gateway_client(self, fake, sessions, make):
        embedder = make(
            fake.llm_settings(embed_batch_size=2), "embed", dimensions=16, sessions=sessions
        )
        await embedder.embed_documents(["a", "b", "c"])
        assert [len(r.body["input"]) for r in fake.requests] == [2, 1]
        again = await embedder.embed_documents(["c", "a", "d"])
        assert fake.requests[-1].body["input"] == ["d"]
        assert again[1] == pytest.approx(fake_embedding("fake-embed", "a"))
        await embedder.aclose()  # writes the queued usage rows
        async with sessions() as session:
            rows = await session.scalar(
                select(func.count()).select_from(LLMUsage).where(LLMUsage.kind == "embed")
            )
        assert rows == 2

    async def test_no_texts_no_request(self, fake, make):
        embedder = make(fake.llm_settings(), "embed", dimensions=16)
        assert await embedder.embed_documents([]) == []
        assert fake.requests == []

    def test_a_model_of_unknown_size_needs_its_dimensions(self, fake):
        with pytest.raises(Invalid, match="vector size of fake/fake-embed is not known"):
            llm_embedder(fake.llm_settings(), "embed")

    def test_a_known_model_needs_no_dimensions_and_none_are_sent(self, fake):
        settings = fake.llm_settings(aliases={"embed": ["fake/text-embedding-3-small"]})
        embedder = OpenAIEmbedder(LLMClient(settings), "embed")
        assert embedder.dimension == 1536
        assert embedder.model == "fake/text-embedding-3-small"

    def test_an_unknown_alias_is_refused(self, fake):
        with pytest.raises(Invalid, match="unknown model alias"):
            llm_embedder(fake.llm_settings(), "nope", dimensions=16)
