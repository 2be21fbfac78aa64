"""Errors of the LLM client. Each names the provider and model it is about."""

from __future__ import annotations

from typing import ClassVar

from devflow.core.errors import DevflowError, QuotaExceeded, Unavailable


class BudgetExceeded(QuotaExceeded):
    """A call would cross a project's or workflow's monthly budget."""

    code = "budget_exceeded"


class ProviderRejected(DevflowError):
    """The provider refused the request (bad key, unknown model, bad request); not retried."""

    code: ClassVar[str] = "llm_rejected"
    status: ClassVar[int] = 502


class BadProviderResponse(DevflowError):
    """The provider answered with something that is not an OpenAI-shaped response."""

    code: ClassVar[str] = "llm_bad_response"
    status: ClassVar[int] = 502


class ProvidersUnavailable(Unavailable):
    """Every model of the fallback chain failed or was skipped by its circuit breaker."""

    code = "llm_unavailable"


class StreamBroken(Unavailable):
    """A streamed answer stopped halfway; nothing of it was cached."""

    code = "llm_stream_broken"
