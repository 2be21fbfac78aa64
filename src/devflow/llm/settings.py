"""LLM settings: providers, model aliases, prices, cache, retry and budgets.

The classes live in `devflow.core.config` (core imports no domain, and the one settings tree is
built there); this module is the llm domain's name for them.
"""

from devflow.core.config import (
    LLMBudgetSettings,
    LLMPrice,
    LLMProviderSettings,
    LLMSettings,
)

__all__ = ["LLMBudgetSettings", "LLMPrice", "LLMProviderSettings", "LLMSettings"]
