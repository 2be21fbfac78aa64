"""The one LLM client: aliases, retries, fallback, circuit breakers, cache, cost and budgets.

Transactions: the client never touches the caller's session. It is given a sessionmaker and writes
in short transactions of its own: one before a call (cache lookup, budget reservation) when needed,
and one after (usage row, budget settlement, cache write). A usage row therefore survives a caller
whose own transaction later rolls back, and a reservation is never held by a caller's open
transaction. Without a sessionmaker the client runs bare: no cache, no usage rows, no budgets.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, TypeVar

import openai
import orjson
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from devflow.core import clock as wall_clock
from devflow.core.errors import DevflowError, Invalid
from devflow.llm import budgets as budget_ledger
from devflow.llm import cache as caching
from devflow.llm.breaker import CircuitBreaker
from devflow.llm.errors import (
    BadProviderResponse,
    BudgetExceeded,
    ProviderRejected,
    ProvidersUnavailable,
    StreamBroken,
)
from devflow.llm.keys import resolve_api_key
from devflow.llm.models import LLMUsage
from devflow.llm.pricing import PriceTable
from devflow.llm.results import (
    ChatResult,
    EmbedResult,
    Tags,
    parse_completion,
    result_from_completion,
)
from devflow.llm.settings import LLMSettings
from devflow.llm.stream import ChatStream, StreamAccumulator
from devflow.llm.tokens import estimate_prompt_tokens, estimate_tokens
from devflow.llm.writer import CacheWrite, MemoryCache, WriteBehind

log = logging.getLogger(__name__)

T = TypeVar("T")
_RETRYABLE_STATUS = frozenset({408, 409, 425, 429})
_SERVER_ERROR = 500


@dataclass(frozen=True)
class Target:
    """One `provider/model` of a fallback chain."""

    provider: str
    model: str

    def __str__(self) -> str:
        return f"{self.provider}/{self.model}"


@dataclass
class _Tracker:
    """What a fallback loop did, for the usage row of a call that failed."""

    target: Target | None = None
    attempts: int = 0


@dataclass
class _Call:
    """A prepared request: its chain, parameters, cache keys and budget reservation."""

    kind: str
    alias: str
    targets: list[Target]
    tags: Tags
    params: dict[str, Any]
    cache_keys: dict[Target, str]
    budgets: list[budget_ledger.Budget]
    estimate: Decimal
    estimate_in: int
    started: float
    period: Any = None
    reserved: Decimal = Decimal(0)
    messages: list[dict[str, Any]] = field(default_factory=list)


class LLMClient:
    """Calls OpenAI-compatible providers for DevFlow (see the module docstring for transactions).

    Args:
        settings: the `llm` settings section.
        sessions: where usage, cache and budget rows go (None: no persistence).
        sleep, monotonic, rand: injectable for tests of retry timing and breakers.
        environ, dotenv: where `env:NAME` API keys are read.
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
        budget_refresh: float = 5.0,
        write_behind: float = 0.05,
    ) -> None:
        self.settings = settings
        self._sessions = sessions
        self._sleep = sleep
        self._monotonic = monotonic
        self._rand = rand
        self._environ = environ
        self._dotenv = dotenv
        self.prices = PriceTable(settings.prices)
        self._sdks: dict[str, openai.AsyncOpenAI] = {}
        self.breakers = {
            name: CircuitBreaker(
                threshold=settings.breaker_threshold,
                cooldown=settings.breaker_cooldown,
                clock=monotonic,
            )
            for name in settings.providers
        }
        self._unpriced: set[str] = set()
        self._writer = WriteBehind(sessions, delay=write_behind) if sessions is not None else None
        self._memory = MemoryCache()
        self._budget_refresh = budget_refresh
        self._managed: tuple[float, dict[str, budget_ledger.Budget]] | None = None
        # Cache reads need no transaction: in autocommit a lookup is one round trip, not three
        # (BEGIN, SELECT, COMMIT). A sessionmaker bound to something else falls back to a session.
        bind = sessions.kw.get("bind") if sessions is not None else None
        self._reader = (
            bind.execution_options(isolation_level="AUTOCOMMIT")
            if isinstance(bind, AsyncEngine)
            else None
        )

    @contextlib.asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncSession | AsyncConnection]:
        """Yield something to run one read on, outside any transaction when possible."""
        if self._reader is not None:
            async with self._reader.connect() as conn:
                yield conn
            return
        assert self._sessions is not None  # noqa: S101 - reads happen only with a database
        async with self._sessions.begin() as session:
            yield session

    async def flush(self) -> None:
        """Write the queued usage rows and cache entries now (they follow within ~50 ms)."""
        if self._writer is not None:
            await self._writer.flush()

    async def aclose(self) -> None:
        """Write what is queued and close the HTTP connections."""
        if self._writer is not None:
            await self._writer.close()
        for sdk in self._sdks.values():
            await sdk.close()
        self._sdks.clear()

    # -- configuration ---------------------------------------------------------------------------

    def resolve(self, model: str) -> list[Target]:
        """Return the fallback chain of an alias, or the one target of `provider/model`.

        Raises:
            Invalid: an unknown alias or provider, or an empty chain.
        """
        if model in self.settings.aliases:
            chain = self.settings.aliases[model]
        elif "/" in model:
            chain = [model]
        else:
            known = ", ".join(sorted(self.settings.aliases)) or "none"
            raise Invalid(
                f"unknown model alias {model!r} (known aliases: {known}); name a configured "
                "alias or `provider/model`"
            )
        if not chain:
            raise Invalid(f"model alias {model!r} has an empty fallback chain")
        targets = []
        for entry in chain:
            provider, _, name = entry.partition("/")
            if provider not in self.settings.providers:
                known = ", ".join(sorted(self.settings.providers)) or "none"
                raise Invalid(
                    f"{model!r} names provider {provider!r}, which is not configured "
                    f"(configured providers: {known})"
                )
            targets.append(Target(provider, name))
        return targets

    def sdk(self, provider: str) -> openai.AsyncOpenAI:
        """Return the SDK client of a provider (its own retries off: ours do not stack on them)."""
        sdk = self._sdks.get(provider)
        if sdk is None:
            conf = self.settings.providers[provider]
            key = resolve_api_key(provider, conf, environ=self._environ, dotenv=self._dotenv)
            sdk = openai.AsyncOpenAI(
                api_key=key or "unused",
                base_url=conf.base_url,
                timeout=openai.Timeout(conf.timeout, connect=conf.connect_timeout),
                max_retries=0,
                default_headers=conf.headers or None,
            )
            self._sdks[provider] = sdk
        return sdk

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

        `cache=None` caches when `temperature` is 0; True or False forces it on or off.

        Raises:
            Invalid: unknown alias or provider, missing key.
            BudgetExceeded: the call would cross a budget.
            ProviderRejected: the provider refused the request (not retried).
            BadProviderResponse: the provider's answer is not a chat completion.
            ProvidersUnavailable: every model of the chain failed or was skipped.
        """
        call = self._chat_call(
            model, messages, tags, temperature, max_tokens, tools, tool_choice, json_mode, cache
        )
        call.params.update(params or {})
        hit = await self._begin(call)
        if hit is not None:
            return hit
        tracker = _Tracker()
        try:
            target, (body, headers) = await self._with_fallback(
                call, lambda t: self._send_chat(t, call), tracker
            )
        except DevflowError as exc:
            await self._end_failed(call, tracker, exc)
            raise
        return await self._end_chat(call, target, body, headers, tracker.attempts)

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
        call = self._chat_call(
            model, messages, tags, temperature, max_tokens, tools, tool_choice, json_mode, cache
        )
        call.params.update(params or {})
        stream = ChatStream()
        stream.bind(self._stream(call, stream))
        return stream

    def _chat_call(
        self,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        tags: Tags,
        temperature: float | None,
        max_tokens: int | None,
        tools: Sequence[Mapping[str, Any]] | None,
        tool_choice: str | Mapping[str, Any] | None,
        json_mode: bool,
        use_cache: bool | None,
    ) -> _Call:
        if not messages:
            raise Invalid("a chat call needs at least one message")
        targets = self.resolve(model)
        params: dict[str, Any] = {}
        if temperature is not None:
            params["temperature"] = temperature
        if max_tokens is not None:
            params["max_tokens"] = max_tokens
        if tools:
            params["tools"] = list(tools)
        if tool_choice is not None:
            params["tool_choice"] = tool_choice
        if json_mode:
            params["response_format"] = {"type": "json_object"}
        cacheable = use_cache if use_cache is not None else temperature == 0
        msgs = [dict(m) for m in messages]
        keys = {}
        if cacheable and self.settings.cache_enabled and self._sessions is not None:
            keys = {t: caching.chat_cache_key(t.provider, t.model, msgs, params) for t in targets}
        tokens_in = estimate_prompt_tokens(msgs)
        if tools:
            tokens_in += estimate_tokens(orjson.dumps(list(tools)).decode())
        tokens_out = max_tokens or self.settings.budgets.default_output_tokens
        return self._prepare(
            "chat", model, targets, tags, params, keys, tokens_in, tokens_out, msgs
        )

    def _prepare(
        self,
        kind: str,
        alias: str,
        targets: list[Target],
        tags: Tags,
        params: dict[str, Any],
        keys: dict[Target, str],
        tokens_in: int,
        tokens_out: int,
        messages: list[dict[str, Any]],
    ) -> _Call:
        found = budget_ledger.budgets_for(
            self.settings.budgets, project=tags.project, workflow=tags.workflow
        )
        if found and self._sessions is None:
            raise Invalid(
                "budgets are configured but this LLM client has no database to track them"
            )
        # Reserve what the dearest model of the chain would cost, so a fallback cannot overshoot.
        estimate = max(
            (self.prices.cost(t.provider, t.model, tokens_in, tokens_out) or Decimal(0))
            for t in targets
        )
        return _Call(
            kind=kind,
            alias=alias,
            targets=targets,
            tags=tags,
            params=params,
            cache_keys=keys,
            budgets=found,
            estimate=estimate,
            estimate_in=tokens_in,
            started=self._monotonic(),
            messages=messages,
        )

    async def _send_chat(
        self, target: Target, call: _Call
    ) -> tuple[dict[str, Any], Mapping[str, str]]:
        raw = await self.sdk(target.provider).chat.completions.with_raw_response.create(
            model=target.model,
            messages=call.messages,  # type: ignore[arg-type]
            extra_headers=call.tags.headers(self.settings.metadata_header_prefix),
            **call.params,
        )
        try:
            body = orjson.loads(raw.http_response.content)
        except orjson.JSONDecodeError:
            raise BadProviderResponse(
                f"{target} returned a body that is not JSON "
                f"({raw.http_response.headers.get('content-type', 'no content type')}): "
                f"{raw.http_response.text[:200]!r}"
            ) from None
        parse_completion(body, provider=target.provider, model=target.model)
        return body, raw.http_response.headers

    async def _stream(self, call: _Call, out: ChatStream) -> AsyncIterator[str]:
        hit = await self._begin(call)
        if hit is not None:
            out.result = hit
            if hit.content:
                yield hit.content
            return
        tracker = _Tracker()
        try:
            target, (sdk_stream, first) = await self._with_fallback(
                call, lambda t: self._open_stream(t, call), tracker
            )
        except DevflowError as exc:
            await self._end_failed(call, tracker, exc)
            raise
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
        except openai.OpenAIError as exc:
            self.breakers[target.provider].record_failure()
            await self._end_broken(call, target, acc, tracker.attempts, "stream_broken", exc)
            finished = True
            raise StreamBroken(
                f"the answer streamed by {target} broke off after {len(acc.text)} characters "
                f"({_describe(exc)}); nothing of it was cached",
                details={"provider": target.provider, "model": target.model},
            ) from None
        finally:
            await sdk_stream.close()
            if not finished:  # the consumer stopped reading: settle what was received
                await self._end_broken(call, target, acc, tracker.attempts, "abandoned", None)
        body = acc.completion()
        headers = sdk_stream.response.headers
        out.result = await self._end_chat(call, target, body, headers, tracker.attempts)

    async def _open_stream(self, target: Target, call: _Call) -> tuple[Any, Any]:
        # The SDK's overloads cannot type a parameter dict; the request is built as JSON anyway.
        create: Any = self.sdk(target.provider).chat.completions.create
        sdk_stream = await create(
            model=target.model,
            messages=call.messages,
            stream=True,
            stream_options={"include_usage": True},
            extra_headers=call.tags.headers(self.settings.metadata_header_prefix),
            **call.params,
        )
        try:
            first = await sdk_stream.__anext__()
        except StopAsyncIteration:
            await sdk_stream.close()
            raise BadProviderResponse(f"{target} ended the stream without a chunk") from None
        except BaseException:
            await sdk_stream.close()
            raise
        return sdk_stream, first

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
        """Embed `texts` in batches; cached per (model, text).

        Raises:
            Invalid: unknown alias, or a chain that mixes models (their vectors do not mix).
            BudgetExceeded, ProviderRejected, BadProviderResponse, ProvidersUnavailable: as `chat`.
        """
        targets = self.resolve(model)
        names = {t.model for t in targets}
        if len(names) > 1:
            raise Invalid(
                f"the embedding chain of {model!r} mixes models ({', '.join(sorted(names))}); "
                "vectors of different models cannot be mixed: list one model at several providers"
            )
        cache_model = targets[0].model + (f"@{dimensions}" if dimensions else "")
        hashes = [caching.text_hash(t) for t in texts]
        use_cache = cache and self.settings.cache_enabled and self._sessions is not None
        params: dict[str, Any] = {"dimensions": dimensions} if dimensions else {}
        found: dict[str, list[float]] = {}
        if use_cache and self._sessions is not None and texts:
            async with self._read() as db:
                found = await caching.lookup_embeddings(db, model=cache_model, hashes=hashes)
        missing = list(
            dict.fromkeys(t for t, h in zip(texts, hashes, strict=True) if h not in found)
        )
        call = self._prepare(
            "embed", model, targets, tags, params, {}, sum(map(estimate_tokens, missing)), 0, []
        )
        if missing:
            await self._reserve(call)
        tracker = _Tracker()
        fresh: dict[str, list[float]] = {}
        tokens = 0
        cost = Decimal(0)
        target = targets[0]
        try:
            size = self.settings.embed_batch_size
            for start in range(0, len(missing), size):
                batch = missing[start : start + size]
                send = functools.partial(self._send_embed, batch=batch, params=params, tags=tags)
                target, (vectors, used, header_cost) = await self._with_fallback(
                    call, send, tracker
                )
                fresh.update(zip((caching.text_hash(t) for t in batch), vectors, strict=True))
                tokens += used
                cost += self._cost(target, used, 0, header_cost)
        except DevflowError as exc:
            await self._end_failed(call, tracker, exc, tokens_in=tokens, spent=cost)
            raise
        vectors_by_hash = {**found, **fresh}
        latency = (self._monotonic() - call.started) * 1000
        cached = len(texts) - sum(1 for h in hashes if h in fresh)
        usage = self._usage_row(call, target, tokens, 0, cost, latency, tracker.attempts, "ok")
        usage["cached"] = not missing
        await self._end(
            call,
            cost,
            usage,
            lambda s: (
                caching.store_embeddings(s, model=cache_model, vectors=fresh, ttl=self._ttl)
                if use_cache
                else _nothing()
            ),
            now=True,  # embedding batches are large and rare: no reason to defer their cache
        )
        return EmbedResult(
            vectors=[vectors_by_hash[h] for h in hashes],
            provider=target.provider,
            model=target.model,
            tokens_in=tokens,
            cost=cost,
            cached=cached,
        )

    async def _send_embed(
        self, target: Target, *, batch: list[str], params: dict[str, Any], tags: Tags
    ) -> tuple[list[list[float]], int, str | None]:
        raw = await self.sdk(target.provider).embeddings.with_raw_response.create(
            model=target.model,
            input=batch,
            extra_headers=tags.headers(self.settings.metadata_header_prefix),
            **params,
        )
        parsed: Any = raw.parse()
        data = getattr(parsed, "data", None)
        if not isinstance(data, list) or len(data) != len(batch):
            raise BadProviderResponse(
                f"{target} did not answer with {len(batch)} embeddings: {str(parsed)[:200]!r}"
            )
        vectors = [list(item.embedding) for item in sorted(data, key=lambda d: d.index)]
        usage = getattr(parsed, "usage", None)
        used = int(getattr(usage, "prompt_tokens", 0) or sum(map(estimate_tokens, batch)))
        conf = self.settings.providers[target.provider]
        return vectors, used, raw.headers.get(conf.cost_header)

    # -- retry, fallback and breakers ------------------------------------------------------------

    async def _with_fallback(
        self, call: _Call, send: Callable[[Target], Awaitable[T]], tracker: _Tracker
    ) -> tuple[Target, T]:
        failures: list[str] = []
        for target in call.targets:
            breaker = self.breakers[target.provider]
            if not breaker.allow():
                failures.append(f"{target}: skipped, circuit breaker open")
                continue
            retries = self.settings.providers[target.provider].max_retries
            for attempt in range(retries + 1):
                tracker.target = target
                tracker.attempts += 1
                try:
                    value = await send(target)
                except (openai.APIConnectionError, openai.APIStatusError) as exc:
                    if not _retryable(exc):
                        raise _rejected(target, exc) from None
                    breaker.record_failure()
                    failures.append(f"{target}: {_describe(exc)}")
                    delay = self._delay(attempt, _retry_after(exc))
                    if attempt == retries or delay is None or not breaker.allow():
                        break
                    await self._sleep(delay)
                    continue
                except BadProviderResponse:
                    breaker.record_failure()
                    raise
                breaker.record_success()
                return target, value
        raise ProvidersUnavailable(
            f"no model of {call.alias!r} answered: " + "; ".join(failures),
            details={"alias": call.alias, "failures": failures},
        )

    def _delay(self, attempt: int, retry_after: float | None) -> float | None:
        """Return the wait before the next try; None when Retry-After asks for too long."""
        if retry_after is not None:
            if retry_after > self.settings.backoff_max:
                return None  # the next model of the chain is the better bet
            return retry_after * (1 + 0.1 * self._rand())
        ceiling = min(self.settings.backoff_max, self.settings.backoff_base * 2.0**attempt)
        return ceiling / 2 + ceiling / 2 * self._rand()

    # -- bookkeeping -------------------------------------------------------------------------------

    @property
    def _ttl(self) -> timedelta:
        return timedelta(seconds=self.settings.cache_ttl_seconds)

    async def _begin(self, call: _Call) -> ChatResult | None:
        """Serve a cache hit (recorded at cost 0), or reserve the call's budget."""
        if not call.cache_keys:
            await self._reserve(call)
            return None
        hit = next(
            ((t, body) for t, key in call.cache_keys.items() if (body := self._memory.get(key))),
            None,
        )
        if hit is None:
            async with self._read() as db:
                rows = await caching.lookup_chat(db, list(call.cache_keys.values()))
            for target, key in call.cache_keys.items():
                if key in rows:
                    self._memory.put(key, rows[key][1], rows[key][0])
                    hit = (target, rows[key][0])
                    break
        if hit is None:
            await self._reserve(call)
            return None
        target, body = hit
        result = self._cached_result(target, body)
        latency = (self._monotonic() - call.started) * 1000
        usage = self._usage_row(
            call, target, result.tokens_in, result.tokens_out, Decimal(0), latency, 0, "ok"
        )
        usage["cached"] = True
        self._record(usage)
        return result

    def _record(self, usage: dict[str, Any], write: CacheWrite | None = None) -> None:
        if self._writer is not None:
            self._writer.add(usage, write)

    async def _managed_budgets(self) -> dict[str, budget_ledger.Budget]:
        """Return the budgets set through the API (a snapshot, see `budget_refresh`)."""
        now = self._monotonic()
        if self._managed is None or now - self._managed[0] >= self._budget_refresh:
            async with self._read() as db:
                self._managed = (now, await budget_ledger.load_managed(db))
        return self._managed[1]

    async def _reserve(self, call: _Call) -> None:
        if self._sessions is None or call.tags.project is None:
            return
        call.budgets = budget_ledger.budgets_for(
            self.settings.budgets,
            project=call.tags.project,
            workflow=call.tags.workflow,
            managed=await self._managed_budgets(),
        )
        if not call.budgets:
            return
        call.period = budget_ledger.current_period()
        try:
            async with self._sessions.begin() as session:
                await budget_ledger.reserve(
                    session, call.budgets, call.estimate, period=call.period
                )
        except BudgetExceeded as exc:
            usage = self._usage_row(
                call, call.targets[0], 0, 0, Decimal(0), 0.0, 0, "budget_exceeded"
            )
            usage["error"] = exc.message
            async with self._sessions.begin() as session:
                await session.execute(insert(LLMUsage).values(**usage))
            raise
        call.reserved = call.estimate

    def _cached_result(self, target: Target, body: dict[str, Any]) -> ChatResult:
        usage = body.get("usage") or {}
        tokens = (int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0)))
        return result_from_completion(
            body,
            provider=target.provider,
            model=target.model,
            cost=Decimal(0),
            cached=True,
            attempts=0,
            tokens=tokens,
        )

    def _cost(self, target: Target, tokens_in: int, tokens_out: int, header: str | None) -> Decimal:
        """Return the gateway's cost header when there is one, else tokens x the price table."""
        if header:
            try:
                return Decimal(header.strip())
            except InvalidOperation:
                log.warning(
                    "ignoring a cost header that is not a number", extra={"model": str(target)}
                )
        cost = self.prices.cost(target.provider, target.model, tokens_in, tokens_out)
        if cost is None:
            if str(target) not in self._unpriced:
                self._unpriced.add(str(target))
                log.warning("no price for %s: its calls are recorded at cost 0", target)
            return Decimal(0)
        return cost

    async def _end_chat(
        self,
        call: _Call,
        target: Target,
        body: dict[str, Any],
        headers: Mapping[str, str],
        attempts: int,
    ) -> ChatResult:
        usage = body.get("usage") or {}
        tokens_in = int(usage.get("prompt_tokens") or call.estimate_in)
        tokens_out = int(usage.get("completion_tokens") or 0)
        if not usage:  # a provider that sends no usage: estimate what was received
            _, message = parse_completion(body, provider=target.provider, model=target.model)
            text = (message.get("content") or "") + orjson.dumps(message.get("tool_calls")).decode()
            tokens_out = estimate_tokens(text)
        conf = self.settings.providers[target.provider]
        cost = self._cost(target, tokens_in, tokens_out, headers.get(conf.cost_header))
        result = result_from_completion(
            body,
            provider=target.provider,
            model=target.model,
            cost=cost,
            cached=False,
            attempts=attempts,
            tokens=(tokens_in, tokens_out),
        )
        latency = (self._monotonic() - call.started) * 1000
        row = self._usage_row(call, target, tokens_in, tokens_out, cost, latency, attempts, "ok")
        key = call.cache_keys.get(target)
        if key is not None:
            self._memory.put(key, wall_clock.now() + self._ttl, body)

        async def write_cache(session: AsyncSession) -> None:
            if key is not None:
                await caching.store_chat(
                    session,
                    key=key,
                    provider=target.provider,
                    model=target.model,
                    response=body,
                    ttl=self._ttl,
                )

        await self._end(call, cost, row, write_cache)
        return result

    async def _end_broken(
        self,
        call: _Call,
        target: Target,
        acc: StreamAccumulator,
        attempts: int,
        outcome: str,
        exc: BaseException | None,
    ) -> None:
        tokens_out = estimate_tokens(acc.text)
        cost = self._cost(target, call.estimate_in, tokens_out, None)
        latency = (self._monotonic() - call.started) * 1000
        row = self._usage_row(
            call, target, call.estimate_in, tokens_out, cost, latency, attempts, outcome
        )
        row["error"] = _describe(exc) if exc is not None else "the caller stopped reading"
        await self._end(call, cost, row, lambda _: _nothing())

    async def _end_failed(
        self,
        call: _Call,
        tracker: _Tracker,
        exc: DevflowError,
        *,
        tokens_in: int = 0,
        spent: Decimal = Decimal(0),
    ) -> None:
        target = tracker.target or call.targets[0]
        latency = (self._monotonic() - call.started) * 1000
        row = self._usage_row(call, target, tokens_in, 0, spent, latency, tracker.attempts, "error")
        row["error"] = exc.message[:2000]
        await self._end(call, spent, row, lambda _: _nothing())

    async def _end(
        self,
        call: _Call,
        cost: Decimal,
        usage: dict[str, Any],
        write_cache: Callable[[AsyncSession], Awaitable[None]],
        *,
        now: bool = False,
    ) -> None:
        """Settle the budget, write the cache and the usage row in one short transaction.

        Without a budget to settle, the rows are queued for the write-behind instead.
        """
        if self._sessions is None:
            return
        if not now and not (call.budgets and call.period is not None):
            self._record(usage, write_cache)
            return
        async with self._sessions.begin() as session:
            if call.budgets and call.period is not None:
                await budget_ledger.settle(
                    session, call.budgets, reserved=call.reserved, cost=cost, period=call.period
                )
                call.reserved = Decimal(0)
            await write_cache(session)
            await session.execute(insert(LLMUsage).values(**usage))

    def _usage_row(
        self,
        call: _Call,
        target: Target,
        tokens_in: int,
        tokens_out: int,
        cost: Decimal,
        latency_ms: float,
        attempts: int,
        outcome: str,
    ) -> dict[str, Any]:
        return {
            "created_at": wall_clock.now(),
            "project": call.tags.project,
            "workflow": call.tags.workflow,
            "feature": call.tags.feature,
            "kind": call.kind,
            "alias": call.alias,
            "provider": target.provider,
            "model": target.model,
            "tokens_in": tokens_in,
            "tokens_out": tokens_out,
            "cached": False,
            "cost": cost,
            "latency_ms": latency_ms,
            "attempts": attempts,
            "outcome": outcome,
            "error": None,
        }


async def _nothing() -> None:
    return None


def _retryable(exc: openai.APIConnectionError | openai.APIStatusError) -> bool:
    if isinstance(exc, openai.APIConnectionError):  # includes timeouts
        return True
    return exc.status_code in _RETRYABLE_STATUS or exc.status_code >= _SERVER_ERROR


def _retry_after(exc: Exception) -> float | None:
    """Return the wait the provider asked for (Retry-After, in seconds or as a date)."""
    if not isinstance(exc, openai.APIStatusError):
        return None
    headers = exc.response.headers
    value = headers.get("retry-after-ms")
    if value:
        try:
            return max(0.0, float(value) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - wall_clock.now()).total_seconds())


def _describe(exc: BaseException) -> str:
    if isinstance(exc, openai.APITimeoutError):
        return "timed out"
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc.__context__
        return f"connection failed ({type(cause).__name__ if cause else 'no detail'})"
    if isinstance(exc, openai.APIStatusError):
        return f"HTTP {exc.status_code}: {_provider_message(exc)}"
    return f"{type(exc).__name__}: {exc}"


def _provider_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        message = body.get("message") or (body.get("error") or {}).get("message")
        if message:
            return str(message)[:300]
    return exc.message[:300]


def _rejected(
    target: Target, exc: openai.APIStatusError | openai.APIConnectionError
) -> DevflowError:
    assert isinstance(exc, openai.APIStatusError)  # noqa: S101 - connection errors are retryable
    hint = ""
    if exc.status_code in {401, 403}:
        hint = f" (check the API key of provider {target.provider!r})"
    elif exc.status_code == 404:  # noqa: PLR2004
        hint = f" (does provider {target.provider!r} serve model {target.model!r}?)"
    return ProviderRejected(
        f"{target} refused the request: HTTP {exc.status_code}: {_provider_message(exc)}{hint}",
        details={"provider": target.provider, "model": target.model, "status": exc.status_code},
    )
