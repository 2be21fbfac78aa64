"""Settings of the llm domain (`DEVFLOW_LLM__…`): providers, model aliases, prices, cache, retry
and budgets."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, field_validator


class LLMProviderSettings(BaseModel):
    """One OpenAI-compatible endpoint (AOSentry, OpenAI, Ollama, vLLM, the fake gateway)."""

    base_url: str = Field(description="Base URL of the OpenAI-compatible API, ending in /v1.")
    api_key: SecretStr | None = Field(
        None,
        description="API key: the key itself, `env:NAME` (read NAME from the environment or "
        "`.env`), `secret://NAME` (NAME of DevFlow's secrets, system tier, "
        "`secrets.default_environment`; each read audited) or a 1Password reference "
        "`op://vault/item/field` (through `secrets.onepassword`: Connect or `op`, cached). "
        "Resolved when the provider is first called; looked up again when the provider answers "
        "401, and a changed key is used at once (rotation: store the new key, then revoke the "
        "old one). `secret://` and `op://` need the server's services (not `ping --local`).",
    )
    key_required: bool = Field(
        True, description="Refuse to call without a key (false for a local Ollama or vLLM)."
    )
    timeout: float = Field(60.0, gt=0, description="Seconds to wait for a whole answer.")
    connect_timeout: float = Field(5.0, gt=0, description="Seconds to wait for a connection.")
    max_retries: int = Field(
        2,
        ge=0,
        le=10,
        description="Retries of one model on 429, 5xx, timeouts and lost connections.",
    )
    headers: dict[str, str] = Field(
        default_factory=dict, description="Extra HTTP headers sent with every request."
    )
    cost_header: str = Field(
        "x-aosentry-cost", description="Response header carrying the call's cost in USD, if any."
    )
    max_response_bytes: int = Field(
        64 * 1024 * 1024,
        ge=1024,
        description="Largest response body read from the provider; a bigger one fails the call "
        "as a bad response.",
    )
    max_tokens_param: Literal["max_tokens", "max_completion_tokens"] = Field(
        "max_tokens",
        description="Parameter a budget's output cap is sent in when the caller set none; "
        "`max_completion_tokens` for providers whose reasoning models refuse `max_tokens` "
        "(OpenAI's o-series).",
    )
    tokens_per_message: int = Field(
        4,
        ge=0,
        le=100,
        description="Tokens the provider's chat format adds to each message (and once for the "
        "reply), on top of its text; a budget's reservation counts them. 0 for the fake gateway.",
    )
    prompt_margin: float = Field(
        0.5,
        ge=0,
        le=10,
        description="Share added to the prompt's token estimate (4 characters a token) when a call "
        "reserves budget: tokenizers count code and non-English text denser. A call whose real "
        "cost still exceeds its reservation stops its budget. 0 for the fake gateway.",
    )

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if urlsplit(value).scheme not in {"http", "https"}:
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")


class LLMPrice(BaseModel):
    """What a model costs, in USD per million tokens."""

    input: float = Field(ge=0, description="USD per million input (prompt) tokens.")
    output: float = Field(0.0, ge=0, description="USD per million output (completion) tokens.")


class LLMBudgetSettings(BaseModel):
    """Monthly spending limits; calls that would cross one fail with BudgetExceeded."""

    projects: dict[str, float] = Field(
        default_factory=dict, description="Monthly USD budget by project name."
    )
    workflows: dict[str, float] = Field(
        default_factory=dict,
        description="Monthly USD budget by `project/workflow` (on top of the project's).",
    )
    default_output_tokens: int = Field(
        1024,
        ge=1,
        description="Output tokens reserved for a budgeted call that sets no max_tokens; the call "
        "is sent with that max_tokens, so its answer cannot cost more than was reserved.",
    )
    min_output_tokens: int = Field(
        64,
        ge=1,
        description="When a budget has too little left for `default_output_tokens`, a plain-text "
        "call without max_tokens is shortened to what is left, down to this many output tokens; "
        "below that it is refused.",
    )

    @field_validator("projects", "workflows")
    @classmethod
    def _not_negative(cls, value: dict[str, float]) -> dict[str, float]:
        bad = [k for k, v in value.items() if v < 0]
        if bad:
            raise ValueError(f"budgets cannot be negative: {', '.join(bad)}")
        return value


def _default_llm_providers() -> dict[str, LLMProviderSettings]:
    return {"aosentry": LLMProviderSettings(base_url="https://aosentry.aocodex.ai/v1")}


def _default_llm_aliases() -> dict[str, list[str]]:
    return {
        "chat": ["aosentry/gpt-4o"],
        "chat-fast": ["aosentry/gpt-4o-mini"],
        "review": ["aosentry/gpt-4o"],
        "embed": ["aosentry/text-embedding-3-small"],
    }


class LLMSettings(BaseModel):
    """The LLM gateway client: providers, model aliases, retries, cache, prices and budgets."""

    default_provider: str = Field(
        "aosentry", description="Provider used for a bare model name without `provider/`."
    )
    providers: dict[str, LLMProviderSettings] = Field(
        default_factory=_default_llm_providers, description="Named OpenAI-compatible providers."
    )
    aliases: dict[str, list[str]] = Field(
        default_factory=_default_llm_aliases,
        description="Model alias -> ordered fallback chain of `provider/model`.",
    )
    backoff_base: float = Field(0.5, gt=0, description="First retry delay in seconds (doubles).")
    backoff_max: float = Field(30.0, gt=0, description="Longest wait between two retries.")
    breaker_threshold: int = Field(
        5, ge=1, description="Consecutive failures that open a provider's circuit breaker."
    )
    breaker_cooldown: float = Field(
        30.0, gt=0, description="Seconds an open breaker skips its provider before a trial call."
    )
    cache_enabled: bool = Field(True, description="Cache deterministic answers in PostgreSQL.")
    cache_scope: Literal["project", "shared"] = Field(
        "project",
        description="`project`: a cached answer or embedding serves only calls tagged with the "
        "same project (calls with no project share one scope); `shared`: identical requests of "
        "every project share entries (a project can then tell what another one asked).",
    )
    cache_ttl_seconds: int = Field(
        7 * 24 * 3600, ge=1, description="How long a cached answer or embedding is served."
    )
    embed_batch_size: int = Field(
        256, ge=1, le=4096, description="Texts sent in one embeddings request."
    )
    metadata_header_prefix: str = Field(
        "x-aosentry-",
        description="Prefix of the attribution headers (project, workflow, feature) sent along.",
    )
    prices: dict[str, LLMPrice] = Field(
        default_factory=dict,
        description="Price overrides by `provider/model` or `model` (USD per million tokens).",
    )
    budgets: LLMBudgetSettings = Field(
        default_factory=LLMBudgetSettings, description="Monthly budgets."
    )

    @field_validator("aliases")
    @classmethod
    def _chains_name_provider_and_model(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for alias, chain in value.items():
            if not chain:
                raise ValueError(f"alias {alias!r} has an empty fallback chain")
            for entry in chain:
                provider, _, model = entry.partition("/")
                if not provider or not model:
                    raise ValueError(f"alias {alias!r}: {entry!r} is not `provider/model`")
        return value


__all__ = ["LLMBudgetSettings", "LLMPrice", "LLMProviderSettings", "LLMSettings"]
