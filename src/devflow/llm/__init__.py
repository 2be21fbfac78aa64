"""The LLM gateway client: every model call in DevFlow goes through `LLMClient`.

Other domains use only these names. They are imported on first use (the `openai` SDK takes half a
second to import, and the CLI should not pay for it on every command).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from devflow.llm.breaker import BreakerState, CircuitBreaker
    from devflow.llm.client import LLMClient, Target
    from devflow.llm.errors import (
        BadProviderResponse,
        BudgetExceeded,
        ProviderRejected,
        ProvidersUnavailable,
        StreamBroken,
    )
    from devflow.llm.results import ChatResult, EmbedResult, Tags, ToolCall
    from devflow.llm.service import UsageLine, ping_providers, usage_report
    from devflow.llm.stream import ChatStream
    from devflow.llm.sync import SyncLLMClient

_WHERE = {
    "BreakerState": "breaker",
    "CircuitBreaker": "breaker",
    "LLMClient": "client",
    "Target": "client",
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
    "SyncLLMClient": "sync",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'devflow.llm' has no attribute {name!r}")
    return getattr(importlib.import_module(f"devflow.llm.{module}"), name)


__all__ = [
    "BadProviderResponse",
    "BreakerState",
    "BudgetExceeded",
    "ChatResult",
    "ChatStream",
    "CircuitBreaker",
    "EmbedResult",
    "LLMClient",
    "ProviderRejected",
    "ProvidersUnavailable",
    "StreamBroken",
    "SyncLLMClient",
    "Tags",
    "Target",
    "ToolCall",
    "UsageLine",
    "ping_providers",
    "usage_report",
]
