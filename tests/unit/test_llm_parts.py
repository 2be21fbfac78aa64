from decimal import Decimal

import httpx
import openai
import pytest

from devflow.core.errors import Invalid
from devflow.llm import BreakerState, CircuitBreaker
from devflow.llm._routing import retry_after
from devflow.llm.cache import chat_cache_key
from devflow.llm.keys import resolve_api_key
from devflow.llm.pricing import PriceTable, shipped_prices
from devflow.llm.settings import LLMPrice, LLMProviderSettings, LLMSettings
from devflow.llm.tokens import estimate_prompt_tokens, estimate_tokens
from devflow.settings import load_settings


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class TestCircuitBreaker:
    def test_opens_after_the_threshold_and_half_opens_after_the_cooldown(self):
        clock = Clock()
        breaker = CircuitBreaker(threshold=3, cooldown=10, clock=clock)
        for _ in range(2):
            breaker.record_failure()
        assert breaker.state is BreakerState.CLOSED
        breaker.record_failure()
        assert breaker.state is BreakerState.OPEN
        assert not breaker.allow()
        clock.now = 10
        assert breaker.state is BreakerState.HALF_OPEN
        assert breaker.allow()
        assert not breaker.allow(), "only one trial call while half-open"

    def test_a_failed_trial_reopens_and_a_good_one_closes(self):
        clock = Clock()
        breaker = CircuitBreaker(threshold=1, cooldown=5, clock=clock)
        breaker.record_failure()
        clock.now = 5
        assert breaker.allow()
        breaker.record_failure()
        assert breaker.state is BreakerState.OPEN
        clock.now = 9
        assert not breaker.allow()
        clock.now = 10
        assert breaker.allow()
        breaker.record_success()
        assert breaker.state is BreakerState.CLOSED
        assert breaker.allow()

    def test_a_success_resets_the_count(self):
        breaker = CircuitBreaker(threshold=2, cooldown=5, clock=Clock())
        breaker.record_failure()
        breaker.record_success()
        breaker.record_failure()
        assert breaker.state is BreakerState.CLOSED


def _provider(key: str | None, *, required: bool = True) -> LLMProviderSettings:
    return LLMProviderSettings.model_validate(
        {"base_url": "http://127.0.0.1:1/v1", "api_key": key, "key_required": required}
    )


class TestApiKeys:
    async def test_a_direct_key(self):
        assert await resolve_api_key("p", _provider("sk-1")) == "sk-1"

    async def test_a_key_from_the_environment_or_dotenv(self, tmp_path):
        dotenv = tmp_path / ".env"
        dotenv.write_text("OTHER=1\nMY_KEY='sk-dotenv'\n")
        assert (
            await resolve_api_key("p", _provider("env:MY_KEY"), environ={"MY_KEY": "sk-env"})
            == "sk-env"
        )
        assert (
            await resolve_api_key("p", _provider("env:MY_KEY"), environ={}, dotenv=dotenv)
            == "sk-dotenv"
        )
        with pytest.raises(Invalid, match="MY_KEY is not set"):
            await resolve_api_key(
                "p", _provider("env:MY_KEY"), environ={}, dotenv=tmp_path / "none"
            )

    async def test_a_missing_key_names_the_provider_and_the_variable(self):
        with pytest.raises(Invalid, match=r"provider 'aosentry' has no API key.*AOSENTRY__API_KEY"):
            await resolve_api_key("aosentry", _provider(None))
        assert await resolve_api_key("ollama", _provider(None, required=False)) is None

    async def test_a_missing_key_says_where_to_set_it_and_how_to_try_without_one(self):
        # `devflow ask` shows it in the user's shell, yet the setting is the server's.
        with pytest.raises(Invalid) as caught:
            await resolve_api_key("aosentry", _provider(None))
        said = caught.value.message
        assert "where DevFlow runs and restart it" in said
        assert "`secret://NAME`" in said
        assert "DEVFLOW_LLM__PROVIDERS__AOSENTRY__KEY_REQUIRED=false" in said  # not a bare field
        assert "`devflow llm fake-server`" in said

    @pytest.mark.parametrize("reference", ["secret://OPENAI_KEY", "op://vault/item/field"])
    async def test_a_reference_without_the_services_is_refused_naming_the_provider(self, reference):
        with pytest.raises(Invalid, match=r"provider 'p': a `(secret|op)://…` API key is resolved"):
            await resolve_api_key("p", _provider(reference))

    @pytest.mark.parametrize("reference", ["secret://OPENAI_KEY", "op://vault/item/field"])
    async def test_a_reference_goes_to_the_resolver_with_its_purpose(self, reference):
        asked = []

        async def resolver(value, *, purpose, label):
            asked.append((value, purpose, label))
            return "sk-resolved"

        key = await resolve_api_key("p", _provider(reference), resolve_reference=resolver)
        assert key == "sk-resolved"
        assert asked == [(reference, "llm provider p", "provider 'p'")]


class TestPrices:
    def test_the_shipped_table_loads(self):
        assert shipped_prices()["gpt-4o-mini"] == LLMPrice(input=0.15, output=0.6)

    def test_cost_is_tokens_times_price_and_settings_override(self):
        table = PriceTable({"fake/special": LLMPrice(input=3, output=15)})
        assert table.cost("x", "gpt-4o", 1000, 500) == Decimal("0.0075")
        assert table.cost("fake", "special", 1_000_000, 2) == Decimal("3.00003")
        assert table.cost("fake", "unknown", 10, 10) is None


class TestSettings:
    def test_an_empty_chain_or_a_bad_entry_is_refused(self):
        with pytest.raises(Invalid, match="empty fallback chain"):
            load_settings(llm={"aliases": {"chat": []}})
        with pytest.raises(Invalid, match="not `provider/model`"):
            load_settings(llm={"aliases": {"chat": ["gpt-4o"]}})

    def test_aosentry_is_the_default_provider(self):
        settings = LLMSettings()
        assert settings.default_provider == "aosentry"
        assert settings.aliases["chat"][0].startswith("aosentry/")

    def test_secrets_are_masked(self):
        settings = LLMSettings.model_validate(
            {"providers": {"a": {"base_url": "http://x/v1", "api_key": "sk-secret"}}}
        )
        assert "sk-secret" not in repr(settings)


class TestHelpers:
    def test_token_estimates_are_four_characters_a_token(self):
        assert estimate_tokens("") == 0
        assert estimate_tokens("abcde") == 2
        assert estimate_prompt_tokens([{"role": "user", "content": "abcd"}, {"content": "ab"}]) == 2

    def test_the_cache_key_ignores_streaming_but_not_parameters(self):
        msgs = [{"role": "user", "content": "hi"}]
        key = chat_cache_key("p", "m", msgs, {"temperature": 0})
        assert key == chat_cache_key("p", "m", msgs, {"temperature": 0, "stream": True})
        assert key != chat_cache_key("p", "m", msgs, {"temperature": 0, "max_tokens": 5})
        assert key != chat_cache_key("q", "m", msgs, {"temperature": 0})

    def test_retry_after_in_seconds_milliseconds_or_as_a_date(self):
        def error(headers):
            request = httpx.Request("POST", "http://x")
            response = httpx.Response(429, headers=headers, request=request)
            return openai.RateLimitError("slow down", response=response, body=None)

        assert retry_after(error({"retry-after": "2.5"})) == 2.5
        assert retry_after(error({"retry-after-ms": "250"})) == 0.25
        assert retry_after(error({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"})) == 0.0
        assert retry_after(error({})) is None


class TestProviderUrlsAreOperatorOnly:
    """A model name comes from users (API bodies, MCP tools); it may only pick a provider."""

    @pytest.mark.parametrize(
        "model",
        [
            "http://169.254.169.254/latest/meta-data",
            "https://evil.example/v1/chat",
            "//127.0.0.1:5432/x",
            "aosentry@127.0.0.1/gpt-4o",
        ],
    )
    def test_a_model_name_cannot_point_the_client_at_an_address(self, model):
        from devflow.llm import LLMClient

        client = LLMClient(LLMSettings())
        with pytest.raises(Invalid, match="not configured"):
            client.resolve(model)
