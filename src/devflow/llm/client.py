"""The one LLM client: a small facade over routing, providers and the ledger.

- `_request.py`: the frozen `Request` each call is built into (chain, messages, options, tags);
- `_routing.py`: alias chains, retries, fallback and the per-provider circuit breakers;
- `_providers.py`: one `openai` SDK client per provider, on the guarded outbound transport;
- `_ledger.py`: the answer cache, budget reservations and settlements, usage rows (and the
  transactions they are written in).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import openai
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from devflow.core.errors import DevflowError, Invalid
from devflow.core.outbound import OutboundError
from devflow.llm import cache as caching
from devflow.llm._ledger import NO_RESERVATION, Admitted, Ledger
from devflow.llm._providers import Providers
from devflow.llm._request import ChatOptions, Request, chat_request, embed_request
from devflow.llm._routing import Attempts, Router, Target, describe, resolve
from devflow.llm.errors import StreamBroken
from devflow.llm.keys import ReferenceResolver
from devflow.llm.results import ChatResult, EmbedResult, Tags
from devflow.llm.settings import LLMSettings
from devflow.llm.stream import ChatStream, StreamAccumulator
from devflow.llm.writer import CacheWrite

T = TypeVar("T")


class LLMClient:
    """Calls OpenAI-compatible providers for DevFlow (transactions: see `_ledger.py`).

    Args:
        settings: the `llm` settings section.
        sessions: where usage, cache and budget rows go (None: no persistence).
        sleep, monotonic, rand: injectable for tests of retry timing and breakers.
        environ, dotenv: where `env:NAME` API keys are read.
        resolve_reference: resolves `secret://NAME` and `op://…` API keys (the process's
            services hand in `devflow.secrets.resolve_setting`); None refuses such keys.
        budget_refresh: seconds a snapshot of the budgets set through the API is reused; a
            budget created or changed elsewhere applies to this client's calls within that time.
        write_behind: seconds the usage rows of unbudgeted calls wait to be written in a batch.
    """

    def __init__(
        self,
        settings: LLMSettings,
        *,
        sessions: async_sessionmaker[AsyncSession] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
        environ: Mapping[str, str] | None = None,
        dotenv: Path = Path(".env"),
        resolve_reference: ReferenceResolver | None = None,
        budget_refresh: float = 5.0,
        write_behind: float = 0.05,
    ) -> None:
        self.settings = settings
        self._monotonic = monotonic
        self._router = Router(settings, sleep=sleep, monotonic=monotonic, rand=rand)
        self._providers = Providers(
            settings, environ=environ, dotenv=dotenv, resolve_reference=resolve_reference
        )
        self._ledger = Ledger(
            settings,
            sessions,
            monotonic=monotonic,
            budget_refresh=budget_refresh,
            write_behind=write_behind,
        )
        self.breakers = self._router.breakers
        self.prices = self._ledger.prices

    async def flush(self) -> None:
        """Write the queued usage rows and cache entries now (they follow within ~50 ms)."""
        await self._ledger.flush()

    async def aclose(self) -> None:
        """Write what is queued and close the HTTP connections."""
        await self._ledger.aclose()
        await self._providers.aclose()

    def resolve(self, model: str) -> list[Target]:
        """Return the fallback chain of an alias, or the one target of `provider/model`.

        Raises:
            Invalid: an unknown alias or provider, or an empty chain.
        """
        return list(resolve(self.settings, model))

    async def sdk(self, provider: str) -> openai.AsyncOpenAI:
        """Return the SDK client of a provider (its own retries off: ours do not stack on them),
        resolving its API key on first use.

        Raises:
            Invalid, NotFound, Unavailable: the key is missing or cannot be read.
        """
        return await self._providers.sdk(provider)

    # -- chat --------------------------------------------------------------------------------------

    async def chat(
        self,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        *,
        tags: Tags,
        temperature: float | None = None,
        max_tokens: int | None = None,
        tools: Sequence[Mapping[str, Any]] | None = None,
        tool_choice: str | Mapping[str, Any] | None = None,
        json_mode: bool = False,
        cache: bool | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> ChatResult:
        """Send a chat completion through the alias's fallback chain.

        `cache=None` caches when `temperature` is 0; True or False forces it on or off. A call
        that counts against a budget goes out with the max_tokens its reservation pays for.

        Raises:
            Invalid: unknown alias or provider, missing key, a budgeted model without a price.
            BudgetExceeded: a budget cannot take the call.
            ProviderRejected: the provider refused the request or its address (not retried).
            BadProviderResponse: the provider's answer is not a chat completion.
            ProvidersUnavailable: every model of the chain failed or was skipped.
        """
        options = ChatOptions(temperature, max_tokens, tools, tool_choice, json_mode, cache, params)
        request = chat_request(
            self.settings,
            model,
            messages,
            tags=tags,
            options=options,
            started=self._monotonic(),
        )
        admitted = await self._ledger.admit(request)
        if isinstance(admitted, ChatResult):
            return admitted
        attempts = Attempts()

        async def send(target: Target) -> tuple[dict[str, Any], Mapping[str, str]]:
            return await self._providers.send_chat(
                target,
                messages=list(request.messages),
                params=admitted.sent_params(self.settings.providers[target.provider]),
                tags=request.tags,
            )

        target, (body, headers) = await self._out(admitted, attempts, send)
        return await self._ledger.settle_chat(admitted, target, body, headers, attempts.count)

    def chat_stream(
        self,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        *,
        tags: Tags,
        temperature: float | None = None,
        max_tokens: int | None = None,
        tools: Sequence[Mapping[str, Any]] | None = None,
        tool_choice: str | Mapping[str, Any] | None = None,
        json_mode: bool = False,
        cache: bool | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> ChatStream:
        """Stream a chat completion: iterate for text pieces, then read `.result`.

        Failures before the first piece are retried and fall back like `chat`; a stream that
        breaks after it raises StreamBroken (the partial answer is not cached; usage is recorded).
        """
        options = ChatOptions(temperature, max_tokens, tools, tool_choice, json_mode, cache, params)
        request = chat_request(
            self.settings,
            model,
            messages,
            tags=tags,
            options=options,
            started=self._monotonic(),
        )
        stream = ChatStream()
        stream.bind(self._stream(request, stream))
        return stream

    async def _out(
        self, admitted: Admitted, attempts: Attempts, send: Callable[[Target], Awaitable[T]]
    ) -> tuple[Target, T]:
        """Send through the chain; a call that gets no answer is settled before it raises."""
        request = admitted.request
        try:
            return await self._router.call(request.alias, request.targets, send, attempts)
        except DevflowError as exc:
            await self._ledger.settle_failed(admitted, attempts, error=exc.message)
            raise
        except asyncio.CancelledError:
            await self._ledger.settle_cancelled(admitted, attempts)
            raise

    async def _stream(self, request: Request, out: ChatStream) -> AsyncIterator[str]:
        admitted = await self._ledger.admit(request)
        if isinstance(admitted, ChatResult):
            out.result = admitted
            if admitted.content:
                yield admitted.content
            return
        attempts = Attempts()

        async def open_stream(target: Target) -> tuple[Any, Any]:
            return await self._providers.open_stream(
                target,
                messages=list(request.messages),
                params=admitted.sent_params(self.settings.providers[target.provider]),
                tags=request.tags,
            )

        target, (sdk_stream, first) = await self._out(admitted, attempts, open_stream)
        acc = StreamAccumulator(provider=target.provider, model=target.model)
        finished = False
        try:
            text = acc.add(first)
            if text:
                yield text
            async for chunk in sdk_stream:
                text = acc.add(chunk)
                if text:
                    yield text
            finished = True
        except (openai.OpenAIError, OutboundError) as exc:
            self._router.broke(target)
            await self._ledger.settle_broken(
                admitted,
                target,
                received=acc.text,
                attempts=attempts.count,
                outcome="stream_broken",
                error=describe(exc),
            )
            finished = True
            raise StreamBroken(
                f"the answer streamed by {target} broke off after {len(acc.text)} characters "
                f"({describe(exc)}); nothing of it was cached",
                details={"provider": target.provider, "model": target.model},
            ) from None
        finally:
            await sdk_stream.close()
            if not finished:  # the consumer stopped reading: settle what was received
                await self._ledger.settle_broken(
                    admitted,
                    target,
                    received=acc.text,
                    attempts=attempts.count,
                    outcome="abandoned",
                    error="the caller stopped reading",
                )
        body = acc.completion()
        headers = sdk_stream.response.headers
        out.result = await self._ledger.settle_chat(admitted, target, body, headers, attempts.count)

    # -- embeddings --------------------------------------------------------------------------------

    async def embed(
        self,
        model: str,
        texts: Sequence[str],
        *,
        tags: Tags,
        dimensions: int | None = None,
        cache: bool = True,
    ) -> EmbedResult:
        """Embed `texts` in batches; cached per (model, text) within the cache's scope.

        Raises:
            Invalid: unknown alias, or a chain that mixes models (their vectors do not mix).
            BudgetExceeded, ProviderRejected, BadProviderResponse, ProvidersUnavailable: as `chat`.
        """
        started = self._monotonic()
        targets = resolve(self.settings, model)
        names = {t.model for t in targets}
        if len(names) > 1:
            raise Invalid(
                f"the embedding chain of {model!r} mixes models ({', '.join(sorted(names))}); "
                "vectors of different models cannot be mixed: list one model at several providers"
            )
        cache_model = targets[0].model + (f"@{dimensions}" if dimensions else "")
        scope = self._ledger.cache_scope(tags)
        hashes = [caching.text_hash(t, scope=scope) for t in texts]
        use_cache = cache and self._ledger.caching
        found: dict[str, list[float]] = {}
        if use_cache and texts:
            found = await self._ledger.lookup_embeddings(cache_model, hashes)
        missing = list(
            dict.fromkeys(t for t, h in zip(texts, hashes, strict=True) if h not in found)
        )
        request = embed_request(
            model, targets, missing, tags=tags, dimensions=dimensions, started=started
        )
        reservation = await self._ledger.reserve(request) if missing else NO_RESERVATION
        admitted = Admitted(request, {}, reservation)
        fresh, target, tokens, cost, attempts = await self._embed_missing(admitted, missing, scope)
        write = _embeddings_write(cache_model, fresh, self._ledger.ttl) if use_cache else None
        await self._ledger.settle_embed(
            admitted,
            target,
            tokens=tokens,
            cost=cost,
            attempts=attempts,
            all_cached=not missing,
            write=write,
        )
        vectors = {**found, **fresh}
        return EmbedResult(
            vectors=[vectors[h] for h in hashes],
            provider=target.provider,
            model=target.model,
            tokens_in=tokens,
            cost=cost,
            cached=len(texts) - sum(1 for h in hashes if h in fresh),
        )

    async def _embed_missing(
        self, admitted: Admitted, missing: list[str], scope: str | None
    ) -> tuple[dict[str, list[float]], Target, int, Decimal, int]:
        """Embed the texts the cache lacked, batch by batch, through the chain."""
        request = admitted.request
        attempts = Attempts()
        fresh: dict[str, list[float]] = {}
        tokens = 0
        cost = Decimal(0)
        target = request.targets[0]
        size = self.settings.embed_batch_size
        try:
            for start in range(0, len(missing), size):
                batch = missing[start : start + size]

                async def send(
                    to: Target, batch: list[str] = batch
                ) -> tuple[list[list[float]], int, str | None]:
                    return await self._providers.send_embed(
                        to, batch=batch, params=request.params, tags=request.tags
                    )

                target, (vectors, used, header) = await self._router.call(
                    request.alias, request.targets, send, attempts
                )
                fresh.update(
                    zip((caching.text_hash(t, scope=scope) for t in batch), vectors, strict=True)
                )
                tokens += used
                cost += self._ledger.cost(target, used, 0, header)
        except DevflowError as exc:
            await self._ledger.settle_failed(
                admitted, attempts, error=exc.message, tokens_in=tokens, spent=cost
            )
            raise
        except asyncio.CancelledError:
            await self._ledger.settle_cancelled(admitted, attempts)
            raise
        return fresh, target, tokens, cost, attempts.count


def _embeddings_write(
    model: str, vectors: dict[str, list[float]], ttl: timedelta
) -> CacheWrite | None:
    if not vectors:
        return None

    async def write(session: AsyncSession) -> None:
        await caching.store_embeddings(session, model=model, vectors=vectors, ttl=ttl)

    return write
