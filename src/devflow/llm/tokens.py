"""Token estimates used to reserve budget before a call (1 token ~ 4 characters)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson

_CHARS_PER_TOKEN = 4


def estimate_tokens(text: str) -> int:
    """Return a rough token count of `text` (characters / 4, rounded up)."""
    return -(-len(text) // _CHARS_PER_TOKEN)


def message_text(message: Mapping[str, Any]) -> str:
    """Return the text a message contributes to the prompt."""
    content = message.get("content")
    text = content if isinstance(content, str) else ""
    if content is not None and not isinstance(content, str):
        text = orjson.dumps(content).decode()
    if message.get("tool_calls"):
        text += orjson.dumps(message["tool_calls"]).decode()
    return text


def estimate_prompt_tokens(messages: Iterable[Mapping[str, Any]]) -> int:
    """Return a rough token count of a conversation."""
    return estimate_tokens("".join(message_text(m) for m in messages))


def dense_estimate(text: str) -> int:
    """Return a token count that does not undercount non-ASCII text (for budget reservations).

    ASCII counts 4 characters a token, as `estimate_tokens`; every other character counts as a
    token of its own (Chinese or Japanese text is about one a character, not a quarter).
    """
    if text.isascii():
        return estimate_tokens(text)
    ascii_chars = len(text.encode("ascii", "ignore"))
    return -(-ascii_chars // _CHARS_PER_TOKEN) + len(text) - ascii_chars


def dense_prompt_estimate(messages: Iterable[Mapping[str, Any]]) -> int:
    """Return `dense_estimate` of a conversation."""
    return dense_estimate("".join(message_text(m) for m in messages))
