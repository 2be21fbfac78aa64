"""What the LLM client takes and returns: attribution tags and call results."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson

from devflow.llm.errors import BadProviderResponse


@dataclass(frozen=True)
class Tags:
    """Who a call is for: every call is attributed to a feature, and usually a project."""

    feature: str
    project: str | None = None
    workflow: str | None = None

    def headers(self, prefix: str) -> dict[str, str]:
        """Return the tags as gateway metadata headers."""
        found = {"feature": self.feature, "project": self.project, "workflow": self.workflow}
        return {f"{prefix}{k}": v for k, v in found.items() if v}


@dataclass(frozen=True)
class ToolCall:
    """A function call the model asks for; `arguments` is the model's JSON text."""

    id: str
    name: str
    arguments: str

    def parsed_arguments(self) -> Any:
        """Return the arguments decoded from JSON."""
        return orjson.loads(self.arguments)


@dataclass(frozen=True)
class ChatResult:
    """A chat completion, from the provider or the cache."""

    content: str | None
    tool_calls: list[ToolCall]
    finish_reason: str | None
    provider: str
    model: str
    tokens_in: int
    tokens_out: int
    cost: Decimal
    cached: bool
    attempts: int
    raw: dict[str, Any] = field(repr=False)

    def json(self) -> Any:
        """Return the content decoded from JSON (for JSON mode).

        Raises:
            BadProviderResponse: the content is not JSON.
        """
        try:
            return orjson.loads(self.content or "")
        except orjson.JSONDecodeError:
            raise BadProviderResponse(
                f"{self.provider}/{self.model} did not answer with JSON: {self.content!r:.200}"
            ) from None


@dataclass(frozen=True)
class EmbedResult:
    """Embeddings of a list of texts, in the order given."""

    vectors: list[list[float]]
    provider: str
    model: str
    tokens_in: int
    cost: Decimal
    cached: int  # how many came from the cache


def parse_completion(body: Any, *, provider: str, model: str) -> tuple[dict[str, Any], Any]:
    """Check that `body` is an OpenAI chat completion; return it and its first message.

    Raises:
        BadProviderResponse: naming the provider and model.
    """
    try:
        choice = body["choices"][0]
        message = choice["message"]
        if not isinstance(message, dict):
            raise TypeError  # noqa: TRY301 - one path for every malformed shape
    except (KeyError, IndexError, TypeError):
        raise BadProviderResponse(
            f"{provider}/{model} returned something that is not a chat completion: "
            f"{orjson.dumps(body).decode()[:200] if isinstance(body, dict | list) else body!r:.200}"
        ) from None
    return body, message


def result_from_completion(
    body: dict[str, Any],
    *,
    provider: str,
    model: str,
    cost: Decimal,
    cached: bool,
    attempts: int,
    tokens: tuple[int, int],
) -> ChatResult:
    """Build a ChatResult from a (checked) completion body."""
    _, message = parse_completion(body, provider=provider, model=model)
    calls = [
        ToolCall(
            id=str(c.get("id", "")),
            name=str(c["function"]["name"]),
            arguments=str(c["function"].get("arguments") or ""),
        )
        for c in message.get("tool_calls") or []
    ]
    return ChatResult(
        content=message.get("content"),
        tool_calls=calls,
        finish_reason=body["choices"][0].get("finish_reason"),
        provider=provider,
        model=model,
        tokens_in=tokens[0],
        tokens_out=tokens[1],
        cost=cost,
        cached=cached,
        attempts=attempts,
        raw=body,
    )
