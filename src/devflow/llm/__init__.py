"""The LLM gateway client: every model call in DevFlow goes through `LLMClient`.

Other domains use only these names. They are imported on first use (the `openai` SDK takes half a
second to import, and the CLI should not pay for it on every command).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from devflow.core.domain import Domain, lazy
from devflow.core.services import Key, Provider, Services
from devflow.llm.settings import LLMPrice, LLMProviderSettings, LLMSettings

if TYPE_CHECKING:
    from devflow.llm._routing import Target
    from devflow.llm.breaker import BreakerState, CircuitBreaker
    from devflow.llm.client import LLMClient
    from devflow.llm.errors import (
        BadProviderResponse,
        BudgetExceeded,
        ProviderRejected,
        ProvidersUnavailable,
        StreamBroken,
    )
    from devflow.llm.fake import FakeOpenAI, Fault, LoggedRequest, fake_embedding
    from devflow.llm.results import ChatResult, EmbedResult, Tags, ToolCall
    from devflow.llm.service import UsageLine, ping_providers, usage_report
    from devflow.llm.stream import ChatStream
    from devflow.llm.sync import SyncLLMClient

LLM_CLIENT: Key[LLMClient] = Key("llm client")
"""The process's LLM client (`services.get(LLM_CLIENT)`): one set of circuit breakers, one
cache and one usage writer for every call the process makes."""

_WHERE = {
    "BreakerState": "breaker",
    "CircuitBreaker": "breaker",
    "LLMClient": "client",
    "Target": "_routing",
    "BadProviderResponse": "errors",
    "BudgetExceeded": "errors",
    "ProviderRejected": "errors",
    "ProvidersUnavailable": "errors",
    "StreamBroken": "errors",
    "ChatResult": "results",
    "EmbedResult": "results",
    "Tags": "results",
    "ToolCall": "results",
    "UsageLine": "service",
    "ping_providers": "service",
    "usage_report": "service",
    "ChatStream": "stream",
    "FakeOpenAI": "fake",
    "Fault": "fake",
    "LoggedRequest": "fake",
    "fake_embedding": "fake",
    "SyncLLMClient": "sync",
}


def _client(services: Services) -> LLMClient:
    from devflow.llm.client import LLMClient
    from devflow.secrets import resolve_setting

    async def resolve_reference(value: str, *, purpose: str, label: str) -> str:
        return await resolve_setting(services, value, purpose=purpose, label=label)

    return LLMClient(
        services.settings.section(LLMSettings),
        sessions=services.sessions,
        resolve_reference=resolve_reference,
    )


async def _close(client: LLMClient) -> None:
    await client.aclose()


DOMAIN = Domain(
    name="llm",
    settings=LLMSettings,
    provides=(Provider(LLM_CLIENT, _client, _close),),
    routers=lazy("devflow.llm.api:ROUTERS"),
    cli=lazy("devflow.llm.cli:register"),
    models=lazy("devflow.llm.models"),
)


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'devflow.llm' has no attribute {name!r}")
    return getattr(importlib.import_module(f"devflow.llm.{module}"), name)


__all__ = [
    "DOMAIN",
    "LLM_CLIENT",
    "BadProviderResponse",
    "BreakerState",
    "BudgetExceeded",
    "ChatResult",
    "ChatStream",
    "CircuitBreaker",
    "EmbedResult",
    "FakeOpenAI",
    "Fault",
    "LLMClient",
    "LLMPrice",
    "LLMProviderSettings",
    "LLMSettings",
    "LoggedRequest",
    "ProviderRejected",
    "ProvidersUnavailable",
    "StreamBroken",
    "SyncLLMClient",
    "Tags",
    "Target",
    "ToolCall",
    "UsageLine",
    "fake_embedding",
    "ping_providers",
    "usage_report",
]
