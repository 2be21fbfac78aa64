"""What one call asks for, built once and then frozen: chain, messages, options, tags, estimates.

The router, the providers and the ledger all read the same `Request`; what a budget grants (a
shorter max_tokens) is passed beside it (`Request.sent_params`), never written into it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from devflow.core.errors import Invalid
from devflow.llm._routing import Target, resolve
from devflow.llm.results import Tags
from devflow.llm.settings import LLMSettings
from devflow.llm.tokens import (
    dense_estimate,
    dense_prompt_estimate,
    estimate_prompt_tokens,
    estimate_tokens,
)

_OUTPUT_KEYS = ("max_tokens", "max_completion_tokens")


@dataclass(frozen=True)
class ChatOptions:
    """The options of `LLMClient.chat` and `chat_stream`, as the caller gave them."""

    temperature: float | None = None
    max_tokens: int | None = None
    tools: Sequence[Mapping[str, Any]] | None = None
    tool_choice: str | Mapping[str, Any] | None = None
    json_mode: bool = False
    cache: bool | None = None
    params: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Request:
    """One chat or embedding call, as the client routes, prices, caches and records it.

    `params` are sent with every attempt, as the caller asked (the cache key is made of them);
    `prompt_tokens` is the usual estimate (4 characters a token), `dense_tokens` one that does not
    undercount non-ASCII text (what a budget reserves); `output_tokens` is the caller's max_tokens.
    """

    kind: str  # chat | embed
    alias: str
    targets: tuple[Target, ...]
    tags: Tags
    started: float
    messages: tuple[dict[str, Any], ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict)
    prompt_tokens: int = 0
    dense_tokens: int = 0
    output_tokens: int | None = None
    cacheable: bool = False
    shortenable: bool = False  # a plain-text answer with no max_tokens: a budget may cap it

    def sent_params(self, output_tokens: int | None, *, key: str = "max_tokens") -> dict[str, Any]:
        """Return the parameters to send, with the output cap a budget granted (if any).

        The cap goes in the parameter the caller used, else in `key` (the provider's).
        """
        if output_tokens is None or output_tokens == self.output_tokens:
            return dict(self.params)
        key = next((k for k in _OUTPUT_KEYS if k in self.params), key)
        return {**self.params, key: output_tokens}


def chat_request(
    settings: LLMSettings,
    model: str,
    messages: Sequence[Mapping[str, Any]],
    *,
    tags: Tags,
    options: ChatOptions,
    started: float,
) -> Request:
    """Build the request of a chat call.

    Raises:
        Invalid: no messages, or an unknown alias or provider.
    """
    if not messages:
        raise Invalid("a chat call needs at least one message")
    targets = resolve(settings, model)
    params: dict[str, Any] = {}
    if options.temperature is not None:
        params["temperature"] = options.temperature
    if options.max_tokens is not None:
        params["max_tokens"] = options.max_tokens
    if options.tools:
        params["tools"] = list(options.tools)
    if options.tool_choice is not None:
        params["tool_choice"] = options.tool_choice
    if options.json_mode:
        params["response_format"] = {"type": "json_object"}
    params.update(options.params or {})
    msgs = tuple(dict(m) for m in messages)
    prompt = estimate_prompt_tokens(msgs)
    dense = dense_prompt_estimate(msgs)
    if options.tools:
        schema = orjson.dumps(list(options.tools)).decode()
        prompt += estimate_tokens(schema)
        dense += dense_estimate(schema)
    asked = next((params[k] for k in _OUTPUT_KEYS if isinstance(params.get(k), int)), None)
    return Request(
        kind="chat",
        alias=model,
        targets=targets,
        tags=tags,
        started=started,
        messages=msgs,
        params=params,
        prompt_tokens=prompt,
        dense_tokens=dense,
        output_tokens=asked,
        cacheable=options.cache if options.cache is not None else options.temperature == 0,
        # A cut JSON document or tool call is worth nothing: only plain text is shortened.
        shortenable=asked is None and not options.tools and not options.json_mode,
    )


def embed_request(
    model: str,
    targets: tuple[Target, ...],
    missing: Sequence[str],
    *,
    tags: Tags,
    dimensions: int | None,
    started: float,
) -> Request:
    """Build the request of an embedding call for the texts the cache did not have."""
    return Request(
        kind="embed",
        alias=model,
        targets=targets,
        tags=tags,
        started=started,
        params={"dimensions": dimensions} if dimensions else {},
        prompt_tokens=sum(map(estimate_tokens, missing)),
        dense_tokens=sum(map(dense_estimate, missing)),
        output_tokens=0,
    )
