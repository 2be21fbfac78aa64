"""The answer cache is per project unless the operator shares it (`llm.cache_scope`)."""

import pytest

from devflow.llm import LLMClient, Tags
from devflow.testing import FakeOpenAI

HELLO = [{"role": "user", "content": "hello"}]
WEB = Tags(feature="scope", project="web")
API = Tags(feature="scope", project="api")


@pytest.fixture
def fake():
    with FakeOpenAI() as server:
        yield server


def chat_calls(fake) -> int:
    return sum(1 for r in fake.requests if r.path.endswith("/chat/completions"))


class TestCacheScope:
    async def test_an_answer_cached_for_one_project_is_not_served_to_another(self, fake, sessions):
        client = LLMClient(fake.llm_settings(), sessions=sessions)
        first = await client.chat("chat", HELLO, tags=WEB, temperature=0)
        other = await client.chat("chat", HELLO, tags=API, temperature=0)
        again = await client.chat("chat", HELLO, tags=WEB, temperature=0)
        await client.flush()
        # A second process (no in-memory layer yet) reads the PostgreSQL cache the same way.
        fresh = LLMClient(fake.llm_settings(), sessions=sessions)
        from_pg = await fresh.chat("chat", HELLO, tags=API, temperature=0)
        await client.aclose()
        await fresh.aclose()
        assert (first.cached, other.cached, again.cached, from_pg.cached) == (
            False,
            False,
            True,
            True,
        )
        assert chat_calls(fake) == 2

    async def test_embeddings_are_cached_per_project_too(self, fake, sessions):
        client = LLMClient(fake.llm_settings(), sessions=sessions)
        await client.embed("embed", ["a", "b"], tags=WEB)
        other = await client.embed("embed", ["a", "b"], tags=API)
        again = await client.embed("embed", ["a", "b"], tags=WEB)
        await client.aclose()
        assert (other.cached, again.cached) == (0, 2)

    async def test_a_shared_cache_serves_every_project(self, fake, sessions):
        client = LLMClient(fake.llm_settings(cache_scope="shared"), sessions=sessions)
        await client.chat("chat", HELLO, tags=WEB, temperature=0)
        other = await client.chat("chat", HELLO, tags=API, temperature=0)
        vectors = await client.embed("embed", ["a"], tags=WEB)
        shared = await client.embed("embed", ["a"], tags=API)
        await client.aclose()
        assert other.cached
        assert chat_calls(fake) == 1
        assert (vectors.cached, shared.cached) == (0, 1)
