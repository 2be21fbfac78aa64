import asyncio

import pytest
from sqlalchemy import select, update

from devflow.core.errors import Invalid
from devflow.llm import (
    BadProviderResponse,
    BreakerState,
    LLMClient,
    ProviderRejected,
    ProvidersUnavailable,
    StreamBroken,
    SyncLLMClient,
    Tags,
)
from devflow.llm.models import LLMCacheEntry, LLMUsage
from devflow.testing import FakeOpenAI, Fault, fake_embedding

TAGS = Tags(feature="tests", project="web", workflow="wf")
HELLO = [{"role": "user", "content": "hello"}]


@pytest.fixture
def fake():
    with FakeOpenAI(prices={"fake-chat": (0.001, 0.002)}) as server:
        yield server


class Sleeps:
    """An injected sleep that records each wait and returns at once."""

    def __init__(self):
        self.waits = []

    async def __call__(self, seconds):
        self.waits.append(seconds)


@pytest.fixture
async def make_client(fake, sessions):
    made = []

    def build(**overrides):
        options = {k: overrides.pop(k) for k in ("sleep", "monotonic") if k in overrides}
        client = LLMClient(fake.llm_settings(**overrides), sessions=sessions, **options)
        made.append(client)
        return client

    build.made = made
    yield build
    for client in made:
        await client.aclose()


@pytest.fixture
def usage_rows(make_client, sessions):
    """Return a reader of the usage rows, after the clients' write-behind has been flushed."""

    async def read():
        for client in make_client.made:
            await client.flush()
        async with sessions() as session:
            return list(await session.scalars(select(LLMUsage).order_by(LLMUsage.id)))

    return read


class TestChat:
    async def test_a_call_answers_and_records_one_usage_row(
        self, make_client, fake, sessions, usage_rows
    ):
        result = await make_client().chat("chat", HELLO, tags=TAGS)
        assert result.content == "fake-chat says: hello"
        assert (result.provider, result.model, result.cached) == ("fake", "fake-chat", False)
        [row] = await usage_rows()
        assert (row.project, row.workflow, row.feature) == ("web", "wf", "tests")
        assert (row.tokens_in, row.tokens_out, row.outcome) == (2, 6, "ok")
        headers = fake.requests[0].headers
        assert headers["x-aosentry-project"] == "web"
        assert headers["x-aosentry-workflow"] == "wf"
        assert headers["x-aosentry-feature"] == "tests"

    async def test_json_mode_and_tool_calls(self, make_client):
        client = make_client()
        answer = await client.chat("chat", HELLO, tags=TAGS, json_mode=True)
        assert answer.json() == {"model": "fake-chat", "reply": "hello"}
        tool = {"type": "function", "function": {"name": "lookup", "parameters": {}}}
        called = await client.chat("chat", HELLO, tags=TAGS, tools=[tool])
        assert called.finish_reason == "tool_calls"
        assert called.tool_calls[0].name == "lookup"
        assert called.tool_calls[0].parsed_arguments() == {"input": "hello"}

    async def test_streaming_yields_pieces_and_a_result(self, make_client, sessions, usage_rows):
        stream = make_client().chat_stream(
            "chat", [{"role": "user", "content": "x" * 40}], tags=TAGS
        )
        pieces = [piece async for piece in stream]
        assert len(pieces) > 1
        assert "".join(pieces) == "fake-chat says: " + "x" * 40
        assert stream.result is not None
        assert stream.result.tokens_out == 14
        [row] = await usage_rows()
        assert row.outcome == "ok"

    async def test_a_stream_that_breaks_halfway_raises_and_is_recorded(
        self, make_client, fake, sessions, usage_rows
    ):
        fake.add_fault(Fault(kind="cut", after_chunks=2))
        stream = make_client().chat_stream("chat", HELLO, tags=TAGS, temperature=0)
        received = []

        async def read():
            async for piece in stream:
                received.append(piece)  # noqa: PERF401 - the pieces before the break matter

        with pytest.raises(StreamBroken, match="fake/fake-chat broke off"):
            await read()
        assert received == ["fake-chat says: "]
        [row] = await usage_rows()
        assert row.outcome == "stream_broken"
        async with sessions() as session:
            assert await session.scalar(select(LLMCacheEntry)) is None

    async def test_unknown_alias_and_unknown_provider_are_refused(self, make_client, fake):
        client = make_client()
        with pytest.raises(Invalid, match=r"unknown model alias 'nope'.*chat"):
            await client.chat("nope", HELLO, tags=TAGS)
        with pytest.raises(Invalid, match="provider 'other', which is not configured"):
            await client.chat("other/m", HELLO, tags=TAGS)
        assert fake.requests == []

    def test_the_sync_client(self, fake, db_url):
        with SyncLLMClient(fake.llm_settings(), database_url=db_url) as client:
            assert client.chat("chat", HELLO, tags=TAGS).content == "fake-chat says: hello"
            stream = client.chat_stream("chat", HELLO, tags=TAGS)
            assert "".join(stream) == "fake-chat says: hello"
            assert stream.result is not None
            vectors = client.embed("embed", ["a"], tags=TAGS).vectors
            assert vectors[0] == pytest.approx(fake_embedding("fake-embed", "a"))


class TestRetry:
    async def test_retry_after_is_honoured(self, make_client, fake):
        sleeps = Sleeps()
        fake.add_fault(Fault(kind="status", status=429, retry_after=1.5))
        result = await make_client(sleep=sleeps).chat("chat", HELLO, tags=TAGS)
        assert result.attempts == 2
        assert len(sleeps.waits) == 1
        assert 1.5 <= sleeps.waits[0] <= 1.5 * 1.1

    async def test_real_waits_show_in_the_request_log(self, make_client, fake):
        fake.add_fault(Fault(kind="status", status=429, retry_after=0.3))
        await make_client().chat("chat", HELLO, tags=TAGS)
        first, second = fake.requests
        assert second.at - first.at >= 0.3

    async def test_server_errors_back_off_exponentially(self, make_client, fake):
        sleeps = Sleeps()
        fake.add_fault(Fault(kind="status", status=500, times=2))
        client = make_client(sleep=sleeps, backoff_base=1.0)
        result = await client.chat("chat", HELLO, tags=TAGS)
        assert result.attempts == 3
        assert 0.5 <= sleeps.waits[0] <= 1.0
        assert 1.0 <= sleeps.waits[1] <= 2.0

    async def test_timeouts_are_retried(self, make_client, fake):
        fake.add_fault(Fault(kind="stall", delay=3))
        settings = fake.llm_settings()
        settings.providers["fake"].timeout = 0.3
        client = LLMClient(settings, sleep=Sleeps())
        try:
            result = await client.chat("chat", HELLO, tags=TAGS)
        finally:
            await client.aclose()
        assert result.attempts == 2

    async def test_the_sdk_does_not_retry_on_its_own(self, fake):
        settings = fake.llm_settings()
        settings.providers["fake"].max_retries = 0
        fake.add_fault(Fault(kind="status", status=503))
        client = LLMClient(settings, sleep=Sleeps())
        with pytest.raises(ProvidersUnavailable, match="fake/fake-chat: HTTP 503"):
            await client.chat("chat", HELLO, tags=TAGS)
        await client.aclose()
        assert len(fake.requests) == 1

    async def test_a_retry_after_longer_than_backoff_max_moves_on(self, make_client, fake):
        sleeps = Sleeps()
        fake.add_fault(Fault(kind="status", status=429, retry_after=60, model="fake-chat"))
        client = make_client(
            sleep=sleeps, aliases={"chat": ["fake/fake-chat", "fake/fake-chat-fast"]}
        )
        result = await client.chat("chat", HELLO, tags=TAGS)
        assert result.model == "fake-chat-fast"
        assert sleeps.waits == []


class TestFallback:
    async def test_after_the_retries_of_one_model_the_next_answers(
        self, make_client, fake, sessions, usage_rows
    ):
        fake.fail_model("fake-chat")
        chain = {"chat": ["fake/fake-chat", "fake/fake-chat-fast"]}
        result = await make_client(sleep=Sleeps(), aliases=chain).chat("chat", HELLO, tags=TAGS)
        assert result.model == "fake-chat-fast"
        assert [r.model for r in fake.requests] == ["fake-chat"] * 3 + ["fake-chat-fast"]
        [row] = await usage_rows()
        assert (row.model, row.attempts) == ("fake-chat-fast", 4)

    async def test_when_every_model_fails_the_error_lists_them(
        self, make_client, fake, sessions, usage_rows
    ):
        fake.fail_model("fake-chat")
        fake.fail_model("fake-chat-fast", status=502)
        chain = {"chat": ["fake/fake-chat", "fake/fake-chat-fast"]}
        client = make_client(sleep=Sleeps(), aliases=chain)
        with pytest.raises(ProvidersUnavailable) as caught:
            await client.chat("chat", HELLO, tags=TAGS)
        assert "fake/fake-chat: HTTP 500" in caught.value.message
        assert "fake/fake-chat-fast: HTTP 502" in caught.value.message
        [row] = await usage_rows()
        assert row.outcome == "error"

    async def test_a_wrong_key_is_not_retried_nor_fallen_back(self, fake, sessions):
        fake.api_key = "right"
        settings = fake.llm_settings(aliases={"chat": ["fake/fake-chat", "fake/fake-chat-fast"]})
        settings.providers["fake"].api_key = None
        settings.providers["fake"].key_required = False
        client = LLMClient(settings, sessions=sessions)
        with pytest.raises(ProviderRejected, match=r"fake/fake-chat refused .*HTTP 401.*API key"):
            await client.chat("chat", HELLO, tags=TAGS)
        await client.aclose()
        assert len(fake.requests) == 1

    async def test_a_missing_key_names_the_provider(self, fake):
        settings = fake.llm_settings()
        settings.providers["fake"].api_key = None
        client = LLMClient(settings)
        with pytest.raises(Invalid, match="provider 'fake' has no API key"):
            await client.chat("chat", HELLO, tags=TAGS)

    async def test_garbage_names_the_provider_and_model(self, make_client, fake):
        fake.add_fault(Fault(kind="garbage"))
        with pytest.raises(
            BadProviderResponse, match="fake/fake-chat returned a body that is not JSON"
        ):
            await make_client().chat("chat", HELLO, tags=TAGS)
        fake.add_fault(Fault(kind="cut"))
        with pytest.raises(BadProviderResponse, match="fake/fake-chat"):
            await make_client().chat("chat", HELLO, tags=TAGS)


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class TestCircuitBreaker:
    async def test_an_open_breaker_skips_its_provider_until_the_cooldown(self, fake):
        clock = Clock()
        settings = fake.llm_settings(breaker_threshold=2, breaker_cooldown=30)
        settings.providers["backup"] = settings.providers["fake"].model_copy()
        settings.aliases["chat"] = ["fake/fake-chat", "backup/fake-chat-fast"]
        settings.providers["fake"].max_retries = 1
        client = LLMClient(settings, sleep=Sleeps(), monotonic=clock)
        fake.fail_model("fake-chat")
        assert (await client.chat("chat", HELLO, tags=TAGS)).model == "fake-chat-fast"
        assert client.breakers["fake"].state is BreakerState.OPEN
        fake.clear_requests()
        assert (await client.chat("chat", HELLO, tags=TAGS)).model == "fake-chat-fast"
        assert [r.model for r in fake.requests] == ["fake-chat-fast"], "skipped at once"
        clock.now += 30
        assert client.breakers["fake"].state is BreakerState.HALF_OPEN
        fake.clear_faults()
        fake.clear_requests()
        assert (await client.chat("chat", HELLO, tags=TAGS)).model == "fake-chat"
        assert client.breakers["fake"].state is BreakerState.CLOSED
        await client.aclose()


class TestCache:
    async def test_deterministic_calls_are_served_from_the_cache(
        self, make_client, fake, sessions, usage_rows
    ):
        client = make_client()
        first = await client.chat("chat", HELLO, tags=TAGS, temperature=0)
        second = await client.chat("chat", HELLO, tags=TAGS, temperature=0)
        assert (first.cached, second.cached) == (False, True)
        assert second.content == first.content
        assert second.cost == 0
        assert len(fake.requests) == 1
        rows = await usage_rows()
        assert [(r.cached, r.cost) for r in rows] == [(False, first.cost), (True, 0)]

    async def test_other_temperatures_are_not_cached_unless_asked(self, make_client, fake):
        client = make_client()
        await client.chat("chat", HELLO, tags=TAGS, temperature=0.7)
        await client.chat("chat", HELLO, tags=TAGS, temperature=0.7)
        assert len(fake.requests) == 2
        await client.chat("chat", HELLO, tags=TAGS, temperature=0.7, cache=True)
        hit = await client.chat("chat", HELLO, tags=TAGS, temperature=0.7, cache=True)
        assert hit.cached
        assert len(fake.requests) == 3
        await client.chat("chat", HELLO, tags=TAGS, temperature=0, cache=False)
        assert len(fake.requests) == 4

    async def test_streams_are_written_to_and_served_from_the_cache(self, make_client, fake):
        client = make_client()
        stream = client.chat_stream("chat", HELLO, tags=TAGS, temperature=0)
        text = await stream.text()
        again = client.chat_stream("chat", HELLO, tags=TAGS, temperature=0)
        assert await again.text() == text
        assert again.result is not None
        assert again.result.cached
        plain = await client.chat("chat", HELLO, tags=TAGS, temperature=0)
        assert plain.cached
        assert plain.content == text
        assert len(fake.requests) == 1

    async def test_errors_are_never_cached_and_entries_expire(self, make_client, fake, sessions):
        client = make_client(sleep=Sleeps())
        fake.fail_model("fake-chat")
        with pytest.raises(ProvidersUnavailable):
            await client.chat("chat", HELLO, tags=TAGS, temperature=0)
        fake.clear_faults()
        writer = make_client()
        await writer.chat("chat", HELLO, tags=TAGS, temperature=0)
        await writer.flush()
        async with sessions.begin() as session:
            await session.execute(update(LLMCacheEntry).values(expires_at=LLMCacheEntry.created_at))
        again = await make_client().chat("chat", HELLO, tags=TAGS, temperature=0)
        assert not again.cached

    async def test_embeddings_are_batched_and_cached_per_text(self, make_client, fake, sessions):
        client = make_client(embed_batch_size=2)
        first = await client.embed("embed", ["a", "b", "c", "a"], tags=TAGS)
        assert first.vectors[0] == first.vectors[3]
        assert first.vectors[1] == pytest.approx(fake_embedding("fake-embed", "b"))
        assert [len(r.body["input"]) for r in fake.requests] == [2, 1]
        second = await client.embed("embed", ["c", "d"], tags=TAGS)
        assert second.cached == 1
        assert fake.requests[-1].body["input"] == ["d"]
        assert second.vectors[0] == pytest.approx(first.vectors[2])


class TestCost:
    async def test_the_gateway_cost_header_wins(self, make_client):
        result = await make_client().chat("chat", HELLO, tags=TAGS)
        # fake prices: 0.001 per input token, 0.002 per output token; 2 in, 6 out.
        assert str(result.cost) == "0.014000000"

    async def test_without_a_header_tokens_times_the_price_table(self, make_client, fake):
        fake.cost_header = None
        result = await make_client().chat("chat", HELLO, tags=TAGS)
        # prices.json: fake-chat costs 1 USD / M input and 2 USD / M output tokens.
        assert result.cost * 1_000_000 == 2 * 1 + 6 * 2

    async def test_settings_override_the_price_table(self, make_client, fake):
        fake.cost_header = None
        client = make_client(prices={"fake/fake-chat": {"input": 10, "output": 100}})
        result = await client.chat("chat", HELLO, tags=TAGS)
        assert result.cost * 1_000_000 == 2 * 10 + 6 * 100


async def test_concurrent_calls_share_connections(make_client, fake):
    client = make_client()
    results = await asyncio.gather(
        *(client.chat("chat", [{"role": "user", "content": str(i)}], tags=TAGS) for i in range(8))
    )
    assert sorted(r.content for r in results) == sorted(f"fake-chat says: {i}" for i in range(8))
