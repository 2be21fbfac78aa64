"""LLM calls go through the guarded outbound transport (`core.outbound.guarded_http_client`)."""

import pytest

from devflow.llm import (
    BadProviderResponse,
    LLMClient,
    ProviderRejected,
    StreamBroken,
    Tags,
    ping_providers,
)
from devflow.llm.settings import LLMProviderSettings, LLMSettings
from devflow.testing import FakeOpenAI

HI = [{"role": "user", "content": "hi"}]
TAGS = Tags(feature="transport")


@pytest.fixture
def fake():
    with FakeOpenAI() as server:
        yield server


class TestGuardedTransport:
    async def test_a_local_provider_is_reached_and_proxies_from_the_environment_are_not(
        self, fake, monkeypatch
    ):
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
            monkeypatch.setenv(name, "http://127.0.0.1:9")  # nothing listens there
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        settings = fake.llm_settings()
        settings.providers["fake"].max_retries = 0
        client = LLMClient(settings)
        try:
            answer = await client.chat("chat", HI, tags=TAGS)
        finally:
            await client.aclose()
        assert answer.content == "fake-chat says: hi"

    @pytest.mark.parametrize(
        "base_url",
        ["http://169.254.169.254/latest/v1", "http://[fe80::1]:80/v1", "http://0.0.0.0:9/v1"],
    )
    async def test_a_provider_on_a_link_local_or_unspecified_address_is_refused(self, base_url):
        provider = LLMProviderSettings(
            base_url=base_url, key_required=False, connect_timeout=0.5, max_retries=0
        )
        settings = LLMSettings(providers={"meta": provider}, aliases={"chat": ["meta/m"]})
        client = LLMClient(settings)
        try:
            with pytest.raises(ProviderRejected, match="guarded transport refused") as refused:
                await client.chat("chat", HI, tags=TAGS)
        finally:
            await client.aclose()
        assert refused.value.details["reason"] == "private_address"
        assert "provider 'meta'" in refused.value.message

    async def test_ping_says_why_a_provider_address_is_refused(self):
        provider = LLMProviderSettings(base_url="http://169.254.169.254/v1", key_required=False)
        [result] = await ping_providers(LLMSettings(providers={"meta": provider}))
        assert not result.ok
        assert result.error is not None
        assert "guarded transport refused to connect to 169.254.169.254:80" in result.error

    async def test_an_answer_over_max_response_bytes_is_a_bad_response(self, fake):
        settings = fake.llm_settings()
        settings.providers["fake"].max_response_bytes = 2048
        client = LLMClient(settings)
        try:
            assert (await client.chat("chat", HI, tags=TAGS, max_tokens=100)).tokens_out == 100
            with pytest.raises(BadProviderResponse, match="max_response_bytes"):
                await client.chat("chat", HI, tags=TAGS, max_tokens=1000)
            stream = client.chat_stream("chat", HI, tags=TAGS, max_tokens=1000)
            with pytest.raises(StreamBroken, match="2048-byte limit"):
                await stream.text()
        finally:
            await client.aclose()
        assert len([r for r in fake.requests if r.path.endswith("/chat/completions")]) == 3
