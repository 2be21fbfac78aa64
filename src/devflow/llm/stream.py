"""Streamed chat answers: the iterator handed to callers and the accumulator behind it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from devflow.llm.errors import BadProviderResponse
from devflow.llm.results import ChatResult


class ChatStream:
    """Iterate for the answer's text pieces; `result` holds the whole answer afterwards."""

    def __init__(self) -> None:
        self.result: ChatResult | None = None
        self._iterator: AsyncIterator[str] | None = None

    def bind(self, iterator: AsyncIterator[str]) -> None:
        """Attach the generator that produces the pieces."""
        self._iterator = iterator

    def __aiter__(self) -> AsyncIterator[str]:
        assert self._iterator is not None  # noqa: S101 - bound by the client
        return self._iterator

    async def text(self) -> str:
        """Read the whole stream and return its text."""
        return "".join([piece async for piece in self])


class StreamAccumulator:
    """Builds a complete chat completion out of streamed chunks."""

    def __init__(self, *, provider: str, model: str) -> None:
        self._where = f"{provider}/{model}"
        self._parts: list[str] = []
        self._calls: dict[int, dict[str, Any]] = {}
        self._finish: str | None = None
        self._usage: dict[str, int] | None = None
        self._id = ""
        self._model = model

    @property
    def text(self) -> str:
        """Return the text received so far."""
        return "".join(self._parts)

    def add(self, chunk: Any) -> str:
        """Take one chunk; return the text it adds.

        Raises:
            BadProviderResponse: the chunk is not a chat completion chunk.
        """
        choices = getattr(chunk, "choices", None)
        if not isinstance(choices, list):
            raise BadProviderResponse(
                f"{self._where} streamed a chunk without choices: {chunk!r:.200}"
            )
        self._id = getattr(chunk, "id", None) or self._id
        self._model = getattr(chunk, "model", None) or self._model
        usage = getattr(chunk, "usage", None)
        if usage is not None:
            self._usage = {
                "prompt_tokens": int(usage.prompt_tokens or 0),
                "completion_tokens": int(usage.completion_tokens or 0),
                "total_tokens": int(usage.total_tokens or 0),
            }
        added = ""
        for choice in choices:
            if getattr(choice, "index", 0) != 0:
                continue
            delta = choice.delta
            if delta is not None and delta.content:
                added += delta.content
            for call in (delta.tool_calls if delta is not None else None) or []:
                slot = self._calls.setdefault(call.index, {"id": "", "name": "", "arguments": ""})
                slot["id"] = call.id or slot["id"]
                if call.function is not None:
                    slot["name"] += call.function.name or ""
                    slot["arguments"] += call.function.arguments or ""
            self._finish = choice.finish_reason or self._finish
        if added:
            self._parts.append(added)
        return added

    def completion(self) -> dict[str, Any]:
        """Return the equivalent non-streamed completion body (what the cache stores)."""
        message: dict[str, Any] = {"role": "assistant", "content": self.text or None}
        if self._calls:
            message["tool_calls"] = [
                {
                    "id": c["id"],
                    "type": "function",
                    "function": {"name": c["name"], "arguments": c["arguments"]},
                }
                for _, c in sorted(self._calls.items())
            ]
        body: dict[str, Any] = {
            "id": self._id,
            "object": "chat.completion",
            "model": self._model,
            "choices": [{"index": 0, "message": message, "finish_reason": self._finish}],
        }
        if self._usage is not None:
            body["usage"] = self._usage
        return body
