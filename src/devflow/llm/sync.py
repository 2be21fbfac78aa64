"""A blocking face of `LLMClient` for code that is not async (scripts, notebooks, the CLI).

It runs one event loop in a background thread; the async client and its database engine live on
that loop, so both faces share one implementation.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator, Mapping, Sequence
from typing import Any, Self, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from devflow.core.config import DatabaseSettings
from devflow.core.db import create_engine, session_factory
from devflow.llm.client import LLMClient
from devflow.llm.results import ChatResult, EmbedResult, Tags
from devflow.llm.settings import LLMSettings
from devflow.llm.stream import ChatStream

T = TypeVar("T")


class SyncLLMClient:
    """Blocking LLM client; `database_url` enables usage rows, the cache and budgets."""

    def __init__(
        self, settings: LLMSettings, *, database_url: str | None = None, **options: Any
    ) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="llm-sync", daemon=True)
        self._thread.start()
        self._engine: AsyncEngine | None = None

        async def build() -> LLMClient:
            sessions = None
            if database_url is not None:
                self._engine = create_engine(database_url, DatabaseSettings(pool_size=2))
                sessions = session_factory(self._engine)
            return LLMClient(settings, sessions=sessions, **options)

        self.client = self._run(build())

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def chat(self, model: str, messages: Sequence[Mapping[str, Any]], **kwargs: Any) -> ChatResult:
        """Blocking `LLMClient.chat`."""
        return self._run(self.client.chat(model, messages, **kwargs))

    def chat_stream(
        self, model: str, messages: Sequence[Mapping[str, Any]], **kwargs: Any
    ) -> SyncChatStream:
        """Blocking `LLMClient.chat_stream`: iterate for text pieces, then read `.result`."""
        return SyncChatStream(self, self.client.chat_stream(model, messages, **kwargs))

    def embed(self, model: str, texts: Sequence[str], *, tags: Tags, **kwargs: Any) -> EmbedResult:
        """Blocking `LLMClient.embed`."""
        return self._run(self.client.embed(model, texts, tags=tags, **kwargs))

    def close(self) -> None:
        """Close connections and stop the background loop."""

        async def shutdown() -> None:
            await self.client.aclose()
            if self._engine is not None:
                await self._engine.dispose()

        self._run(shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SyncChatStream:
    """A streamed answer read from blocking code."""

    def __init__(self, owner: SyncLLMClient, stream: ChatStream) -> None:
        self._owner = owner
        self._stream = stream

    @property
    def result(self) -> ChatResult | None:
        """Return the whole answer once the stream has been read."""
        return self._stream.result

    def __iter__(self) -> Iterator[str]:
        iterator = aiter(self._stream)
        while True:
            try:
                yield self._owner._run(_next(iterator))  # noqa: SLF001 - one object split in two
            except StopAsyncIteration:
                return


async def _next(iterator: AsyncIterator[str]) -> str:
    return await anext(iterator)
