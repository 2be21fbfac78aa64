"""The client's books: the answer cache, budget reservations and settlements, and usage rows.

Transactions: the client never touches the caller's session. It is given a sessionmaker and writes
in short transactions of its own: one before a call (cache lookup, budget reservation) when needed,
and one after (usage row, budget settlement, cache write). A usage row therefore survives a caller
whose own transaction later rolls back, and a reservation is never held by a caller's open
transaction. Calls without a budget queue their rows for the write-behind (`writer.py`). Without a
sessionmaker the ledger keeps nothing: no cache, no usage rows, no budgets.

Budgets: a call reserves what it may cost at the dearest model of its chain (its prompt, counted
generously, plus its max_tokens) and goes out with exactly that max_tokens (`budgets.py`).
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from devflow.core import clock as wall_clock
from devflow.core.errors import Invalid
from devflow.llm import budgets as budget_ledger
from devflow.llm import cache as caching
from devflow.llm._request import Request
from devflow.llm._routing import Attempts, Target
from devflow.llm.errors import BudgetExceeded
from devflow.llm.models import LLMUsage
from devflow.llm.pricing import PriceTable
from devflow.llm.results import ChatResult, Tags, parse_completion, result_from_completion
from devflow.llm.settings import LLMProviderSettings, LLMSettings
from devflow.llm.tokens import estimate_tokens
from devflow.llm.writer import CacheWrite, MemoryCache, WriteBehind

log = logging.getLogger(__name__)

_PER_MILLION = Decimal(1_000_000)


@dataclass(frozen=True)
class Reservation:
    """What a call holds in its budgets (nothing for a call without one)."""

    budgets: tuple[budget_ledger.Budget, ...] = ()
    period: date | None = None
    amount: Decimal = Decimal(0)
    output_tokens: int | None = None  # the max_tokens the call goes out with (None: as asked)


NO_RESERVATION = Reservation()


@dataclass(frozen=True)
class Admitted:
    """A call that missed the cache: its request, its cache keys and its reservation."""

    request: Request
    cache_keys: Mapping[Target, str]
    reservation: Reservation

    def sent_params(self, conf: LLMProviderSettings) -> dict[str, Any]:
        """Return the parameters to send to a provider (with the cap the budget granted)."""
        return self.request.sent_params(self.reservation.output_tokens, key=conf.max_tokens_param)

    @property
    def capped(self) -> bool:
        """Whether the budget, not the caller, chose this call's max_tokens."""
        return self.request.output_tokens is None and self.reservation.output_tokens is not None


class Ledger:
    """Cache, budgets and usage rows of one client (see the module docstring).

    Args:
        settings: the `llm` settings.
        sessions: where rows go (None: keep nothing).
        monotonic: the clock of latencies and of the budget snapshot's age.
        budget_refresh: seconds a snapshot of the budgets set through the API is reused.
        write_behind: seconds the rows of unbudgeted calls wait to be written in a batch.
    """

    def __init__(
        self,
        settings: LLMSettings,
        sessions: async_sessionmaker[AsyncSession] | None,
        *,
        monotonic: Callable[[], float],
        budget_refresh: float,
        write_behind: float,
    ) -> None:
        self._settings = settings
        self._sessions = sessions
        self._monotonic = monotonic
        self.prices = PriceTable(settings.prices)
        self._unpriced: set[str] = set()
        self.writer = WriteBehind(sessions, delay=write_behind) if sessions is not None else None
        self.memory = MemoryCache()
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

    @property
    def caching(self) -> bool:
        """Whether answers and embeddings are cached at all."""
        return self._settings.cache_enabled and self._sessions is not None

    @property
    def ttl(self) -> timedelta:
        """How long a cache entry is served."""
        return timedelta(seconds=self._settings.cache_ttl_seconds)

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession | AsyncConnection]:
        """Yield something to run one read on, outside any transaction when possible."""
        if self._reader is not None:
            async with self._reader.connect() as conn:
                yield conn
            return
        assert self._sessions is not None  # noqa: S101 - reads happen only with a database
        async with self._sessions.begin() as session:
            yield session

    async def flush(self) -> None:
        """Write the queued usage rows and cache entries now."""
        if self.writer is not None:
            await self.writer.flush()

    async def aclose(self) -> None:
        """Write what is queued and stop the write-behind."""
        if self.writer is not None:
            await self.writer.close()

    # -- cache -------------------------------------------------------------------------------------

    def cache_scope(self, tags: Tags) -> str | None:
        """Return the scope cache entries are keyed in (None: the instance-wide one)."""
        if self._settings.cache_scope == "shared" or tags.project is None:
            return None
        return f"project:{tags.project}"

    def cache_keys(self, request: Request) -> dict[Target, str]:
        """Return the cache key of the request at each target (none when it is not cached)."""
        if not (request.cacheable and self.caching):
            return {}
        scope = self.cache_scope(request.tags)
        return {
            t: caching.chat_cache_key(
                t.provider, t.model, request.messages, request.params, scope=scope
            )
            for t in request.targets
        }

    async def admit(self, request: Request) -> ChatResult | Admitted:
        """Serve a cache hit (recorded at cost 0), or reserve the call's budgets.

        Raises:
            BudgetExceeded: a budget cannot take the call.
            Invalid: budgets apply but there is no database, or a model has no price.
        """
        keys = self.cache_keys(request)
        if keys:
            hit = await self._hit(request, keys)
            if hit is not None:
                return hit
        return Admitted(request, keys, await self.reserve(request))

    async def _hit(self, request: Request, keys: dict[Target, str]) -> ChatResult | None:
        found = next(((t, body) for t, key in keys.items() if (body := self.memory.get(key))), None)
        if found is None:
            async with self.read() as db:
                rows = await caching.lookup_chat(db, list(keys.values()))
            for target, key in keys.items():
                if key in rows:
                    self.memory.put(key, rows[key][1], rows[key][0])
                    found = (target, rows[key][0])
                    break
        if found is None:
            return None
        target, body = found
        usage = body.get("usage") or {}
        tokens = (int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0)))
        result = result_from_completion(
            body,
            provider=target.provider,
            model=target.model,
            cost=Decimal(0),
            cached=True,
            attempts=0,
            tokens=tokens,
        )
        self._record(
            self._usage_row(request, target, tokens_in=tokens[0], tokens_out=tokens[1], cached=True)
        )
        return result

    def _record(self, usage: dict[str, Any], write: CacheWrite | None = None) -> None:
        if self.writer is not None:
            self.writer.add(usage, write)

    # -- budgets -----------------------------------------------------------------------------------

    async def _managed_budgets(self) -> dict[str, budget_ledger.Budget]:
        """Return the budgets set through the API (a snapshot, see `budget_refresh`)."""
        now = self._monotonic()
        if self._managed is None or now - self._managed[0] >= self._budget_refresh:
            async with self.read() as db:
                self._managed = (now, await budget_ledger.load_managed(db))
        return self._managed[1]

    async def reserve(self, request: Request) -> Reservation:
        """Reserve what the call may cost in each budget it counts against.

        Raises:
            BudgetExceeded: a budget cannot take even the shortest version of the call.
            Invalid: budgets apply but there is no database, or a model has no price.
        """
        tags = request.tags
        if tags.project is None:
            return NO_RESERVATION
        if self._sessions is None:
            if budget_ledger.budgets_for(
                self._settings.budgets, project=tags.project, workflow=tags.workflow
            ):
                raise Invalid(
                    "budgets are configured but this LLM client has no database to track them"
                )
            return NO_RESERVATION
        budgets = budget_ledger.budgets_for(
            self._settings.budgets,
            project=tags.project,
            workflow=tags.workflow,
            managed=await self._managed_budgets(),
        )
        if not budgets:
            return NO_RESERVATION
        ask = self._ask(request)
        period = budget_ledger.current_period()
        try:
            async with self._sessions.begin() as session:
                grant = await budget_ledger.reserve(session, budgets, ask, period=period)
        except BudgetExceeded as exc:
            usage = self._usage_row(
                request, request.targets[0], outcome="budget_exceeded", error=exc.message
            )
            usage["latency_ms"] = 0.0
            async with self._sessions.begin() as session:
                await session.execute(insert(LLMUsage).values(**usage))
            raise
        return Reservation(
            budgets=tuple(budgets),
            period=period,
            amount=grant.amount,
            output_tokens=grant.output_tokens if request.kind == "chat" else None,
        )

    def _ask(self, request: Request) -> budget_ledger.Ask:
        """Price the call at every model of its chain, for its budgets.

        Raises:
            Invalid: a model of the chain has no price (its cost could not be bounded).
        """
        prompt: list[Decimal] = []
        per_token: list[Decimal] = []
        for target in request.targets:
            price = self.prices.price(target.provider, target.model)
            if price is None:
                raise Invalid(
                    f"{target} has no price, so a call that counts against a budget cannot "
                    "reserve what it may cost: add it to DEVFLOW_LLM__PRICES (USD per million "
                    "tokens) or take the model out of the chain"
                )
            tokens = _reserved_prompt_tokens(request, self._settings.providers[target.provider])
            prompt.append(Decimal(str(price.input)) * tokens / _PER_MILLION)
            per_token.append(Decimal(str(price.output)) / _PER_MILLION)
        conf = self._settings.budgets
        wanted = request.output_tokens
        if wanted is None:
            wanted = conf.default_output_tokens
        least = min(conf.min_output_tokens, wanted) if request.shortenable else wanted
        return budget_ledger.Ask(tuple(prompt), tuple(per_token), wanted, least)

    def cost(self, target: Target, tokens_in: int, tokens_out: int, header: str | None) -> Decimal:
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

    # -- settling ----------------------------------------------------------------------------------

    async def settle_chat(
        self,
        call: Admitted,
        target: Target,
        body: dict[str, Any],
        headers: Mapping[str, str],
        attempts: int,
    ) -> ChatResult:
        """Record a complete answer: cost, usage row, budget settlement and cache entry."""
        usage = body.get("usage") or {}
        tokens_in = int(usage.get("prompt_tokens") or call.request.prompt_tokens)
        tokens_out = int(usage.get("completion_tokens") or 0)
        if not usage:  # a provider that sends no usage: estimate what was received
            _, message = parse_completion(body, provider=target.provider, model=target.model)
            text = (message.get("content") or "") + orjson.dumps(message.get("tool_calls")).decode()
            tokens_out = estimate_tokens(text)
        conf = self._settings.providers[target.provider]
        cost = self.cost(target, tokens_in, tokens_out, headers.get(conf.cost_header))
        result = result_from_completion(
            body,
            provider=target.provider,
            model=target.model,
            cost=cost,
            cached=False,
            attempts=attempts,
            tokens=(tokens_in, tokens_out),
        )
        row = self._usage_row(
            call.request,
            target,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            cost=cost,
            attempts=attempts,
        )
        key = call.cache_keys.get(target)
        if call.capped and result.finish_reason == "length":
            key = None  # the budget cut this answer short: it is not what the request asked for
        write: CacheWrite | None = None
        if key is not None:
            self.memory.put(key, wall_clock.now() + self.ttl, body)
            write = _chat_cache_write(key, target, body, self.ttl)
        await self._end(call, cost, row, write)
        return result

    async def settle_broken(
        self,
        call: Admitted,
        target: Target,
        *,
        received: str,
        attempts: int,
        outcome: str,
        error: str,
    ) -> None:
        """Record a stream that broke off or was abandoned: charged for what was received."""
        tokens_out = estimate_tokens(received)
        tokens_in = call.request.prompt_tokens
        cost = self.cost(target, tokens_in, tokens_out, None)
        row = self._usage_row(
            call.request,
            target,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            cost=cost,
            attempts=attempts,
            outcome=outcome,
            error=error,
        )
        await self._end(call, cost, row)

    async def settle_failed(
        self,
        call: Admitted,
        attempts: Attempts,
        *,
        error: str,
        tokens_in: int = 0,
        spent: Decimal = Decimal(0),
    ) -> None:
        """Record a call that got no answer (and release what it reserved)."""
        row = self._usage_row(
            call.request,
            attempts.target or call.request.targets[0],
            tokens_in=tokens_in,
            cost=spent,
            attempts=attempts.count,
            outcome="error",
            error=error[:2000],
        )
        await self._end(call, spent, row)

    async def settle_cancelled(self, call: Admitted, attempts: Attempts) -> None:
        """Record a call cancelled while out. It may have been billed: charge its reservation."""
        cost = call.reservation.amount
        row = self._usage_row(
            call.request,
            attempts.target or call.request.targets[0],
            cost=cost,
            attempts=attempts.count,
            outcome="abandoned",
            error="cancelled before the answer arrived; charged what it had reserved",
        )
        await self._end(call, cost, row)

    async def settle_embed(
        self,
        call: Admitted,
        target: Target,
        *,
        tokens: int,
        cost: Decimal,
        attempts: int,
        all_cached: bool,
        write: CacheWrite | None,
    ) -> None:
        """Record an embedding call; its cache is written at once (batches are large, rare)."""
        row = self._usage_row(
            call.request, target, tokens_in=tokens, cost=cost, attempts=attempts, cached=all_cached
        )
        await self._end(call, cost, row, write, now=True)

    async def lookup_embeddings(self, model: str, hashes: Sequence[str]) -> dict[str, list[float]]:
        """Return the live cached embeddings among `hashes`."""
        async with self.read() as db:
            return await caching.lookup_embeddings(db, model=model, hashes=hashes)

    async def _end(
        self,
        call: Admitted,
        cost: Decimal,
        usage: dict[str, Any],
        write: CacheWrite | None = None,
        *,
        now: bool = False,
    ) -> None:
        """Settle the budget, write the cache and the usage row in one short transaction.

        Without a budget to settle, the rows are queued for the write-behind instead.
        """
        if self._sessions is None:
            return
        held = call.reservation
        if not now and held.period is None:
            self._record(usage, write)
            return
        async with self._sessions.begin() as session:
            if held.budgets and held.period is not None:
                await budget_ledger.settle(
                    session, held.budgets, reserved=held.amount, cost=cost, period=held.period
                )
            if write is not None:
                await write(session)
            await session.execute(insert(LLMUsage).values(**usage))

    def _usage_row(
        self,
        request: Request,
        target: Target,
        *,
        tokens_in: int = 0,
        tokens_out: int = 0,
        cost: Decimal = Decimal(0),
        attempts: int = 0,
        outcome: str = "ok",
        cached: bool = False,
        error: str | None = None,
    ) -> dict[str, Any]:
        return {
            "created_at": wall_clock.now(),
            "project": request.tags.project,
            "workflow": request.tags.workflow,
            "feature": request.tags.feature,
            "kind": request.kind,
            "alias": request.alias,
            "provider": target.provider,
            "model": target.model,
            "tokens_in": tokens_in,
            "tokens_out": tokens_out,
            "cached": cached,
            "cost": cost,
            "latency_ms": (self._monotonic() - request.started) * 1000,
            "attempts": attempts,
            "outcome": outcome,
            "error": error,
        }


def _reserved_prompt_tokens(request: Request, conf: LLMProviderSettings) -> int:
    """Count the prompt generously for a reservation: dense text, chat framing, a margin."""
    framing = conf.tokens_per_message * (len(request.messages) + 1) if request.messages else 0
    return math.ceil((request.dense_tokens + framing) * (1 + conf.prompt_margin))


def _chat_cache_write(
    key: str, target: Target, body: dict[str, Any], ttl: timedelta
) -> Callable[[AsyncSession], Awaitable[None]]:
    async def write(session: AsyncSession) -> None:
        await caching.store_chat(
            session, key=key, provider=target.provider, model=target.model, response=body, ttl=ttl
        )

    return write
