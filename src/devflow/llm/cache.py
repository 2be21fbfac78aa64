"""Exact-match caches in PostgreSQL: chat answers by request hash, embeddings by text hash.

Only successful answers are written; callers decide what is deterministic enough to cache.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import bindparam, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from devflow.core import clock
from devflow.llm.models import LLMCacheEntry, LLMEmbeddingCacheEntry

# Parameters that change how an answer is delivered, not what it is.
_DELIVERY_ONLY = frozenset({"stream", "stream_options", "timeout", "extra_headers", "user"})

# Built once: a cache hit is on the hot path, and building a statement costs more than running it.
_LOOKUP_CHAT = select(LLMCacheEntry.key, LLMCacheEntry.response, LLMCacheEntry.expires_at).where(
    LLMCacheEntry.key.in_(bindparam("keys", expanding=True)),
    LLMCacheEntry.expires_at > bindparam("now"),
)


def chat_cache_key(
    provider: str,
    model: str,
    messages: Sequence[Mapping[str, Any]],
    params: Mapping[str, Any],
    *,
    scope: str | None = None,
) -> str:
    """Return the cache key of a chat request (streamed or not: the same answer).

    `scope` (a project's) keeps the entry from serving calls outside it; None is the
    instance-wide scope.
    """
    relevant = {k: v for k, v in params.items() if k not in _DELIVERY_ONLY}
    key: list[Any] = [provider, model, list(messages), relevant]
    if scope is not None:
        key.append(scope)
    blob = orjson.dumps(key, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(blob).hexdigest()


def text_hash(text: str, *, scope: str | None = None) -> str:
    """Return the hash an embedding of `text` is cached under (in `scope`, as `chat_cache_key`)."""
    if scope is None:
        return hashlib.sha256(text.encode()).hexdigest()
    return hashlib.sha256(f"{scope}\0{text}".encode()).hexdigest()


async def lookup_chat(
    db: AsyncSession | AsyncConnection, keys: Sequence[str]
) -> dict[str, tuple[dict[str, Any], datetime]]:
    """Return the live cached answers among `keys`, with when each expires."""
    rows = await db.execute(_LOOKUP_CHAT, {"keys": list(keys), "now": clock.now()})
    return {key: (response, expires_at) for key, response, expires_at in rows}


async def store_chat(
    session: AsyncSession,
    *,
    key: str,
    provider: str,
    model: str,
    response: dict[str, Any],
    ttl: timedelta,
) -> None:
    """Write (or refresh) a cached answer."""
    now = clock.now()
    values = {"response": response, "created_at": now, "expires_at": now + ttl}
    await session.execute(
        insert(LLMCacheEntry)
        .values(key=key, provider=provider, model=model, **values)
        .on_conflict_do_update(index_elements=[LLMCacheEntry.key], set_=values)
    )


async def lookup_embeddings(
    db: AsyncSession | AsyncConnection, *, model: str, hashes: Sequence[str]
) -> dict[str, list[float]]:
    """Return the live cached embeddings among `hashes` for `model`."""
    rows = await db.execute(
        select(LLMEmbeddingCacheEntry.text_hash, LLMEmbeddingCacheEntry.embedding).where(
            LLMEmbeddingCacheEntry.model == model,
            LLMEmbeddingCacheEntry.text_hash.in_(hashes),
            LLMEmbeddingCacheEntry.expires_at > clock.now(),
        )
    )
    return {h: list(vector) for h, vector in rows}


async def store_embeddings(
    session: AsyncSession, *, model: str, vectors: Mapping[str, list[float]], ttl: timedelta
) -> None:
    """Write (or refresh) embeddings by text hash."""
    if not vectors:
        return
    now = clock.now()
    statement = insert(LLMEmbeddingCacheEntry).values(
        [
            {
                "model": model,
                "text_hash": h,
                "embedding": v,
                "created_at": now,
                "expires_at": now + ttl,
            }
            for h, v in vectors.items()
        ]
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[LLMEmbeddingCacheEntry.model, LLMEmbeddingCacheEntry.text_hash],
            set_={
                "embedding": statement.excluded.embedding,
                "created_at": statement.excluded.created_at,
                "expires_at": statement.excluded.expires_at,
            },
        )
    )
