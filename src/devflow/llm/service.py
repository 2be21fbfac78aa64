"""LLM services for the surfaces: usage reports and provider checks."""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import case, func, literal, literal_column, null, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from devflow.core import clock
from devflow.core.auth import Principal, Role, Scope
from devflow.core.errors import DevflowError, Invalid
from devflow.identity import Project, require_project, visible_project_ids
from devflow.llm.models import LLMUsage
from devflow.llm.settings import LLMSettings

if TYPE_CHECKING:
    # The client imports the `openai` SDK (~0.5 s): the server and the CLI load it on first use.
    from devflow.llm.client import LLMClient

GroupBy = Literal["model", "feature", "day", "project", "workflow"]
Bucket = Literal["hour", "day"]
_BUCKETS: dict[str, str] = {"hour": "hour", "day": "day"}  # what date_trunc is given, verbatim
MAX_HOURLY = timedelta(days=31)
"""The longest period a report in hourly buckets covers (744 buckets a group)."""
_SINCE = re.compile(r"^(\d{1,9})([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(value: str) -> timedelta:
    """Parse `30m`, `12h`, `7d` or `4w`.

    Raises:
        Invalid: anything else.
    """
    match = _SINCE.match(value.strip())
    if match is None:
        raise Invalid(f"--since must look like 30m, 12h, 7d or 4w, not {value!r}")
    try:
        since = timedelta(**{_UNITS[match[2]]: int(match[1])})
    except OverflowError:
        since = timedelta.max
    # Before the epoch nothing was recorded: a longer look back is the whole history.
    return min(since, timedelta(days=365 * 100))


@dataclass(frozen=True)
class UsageLine:
    """Usage summed over one group."""

    key: str
    calls: int
    cache_hits: int
    errors: int
    tokens_in: int
    tokens_out: int
    cost: Decimal
    avg_latency_ms: float
    bucket: datetime | None = None  # start of the hour or day (UTC), when asked for a series


async def usage_report(
    session: AsyncSession,
    *,
    principal: Principal,
    since: datetime,
    by: GroupBy,
    project: str | None = None,
    bucket: Bucket | None = None,
) -> list[UsageLine]:
    """Sum LLM usage since `since`, grouped `by`, over the projects the caller can see.

    With `bucket`, each group is summed per hour or day (UTC) instead: a time series, ordered
    by bucket then group, with no line for a bucket without calls.

    Raises:
        NotFound, PermissionDenied: `project` is not one the caller can read.
        Invalid: hourly buckets over more than `MAX_HOURLY`.
    """
    principal.require_scope(Scope.READ)
    # A minute's grace: `since=31d` was computed a moment before this line.
    if bucket == "hour" and clock.now() - since > MAX_HOURLY + timedelta(minutes=1):
        raise Invalid(
            f"hourly buckets cover at most {MAX_HOURLY.days} days; ask for bucket=day, "
            "or a shorter since"
        )
    query_filter: list[ColumnElement[bool]] = [LLMUsage.created_at >= since]
    if project is not None:
        await require_project(session, principal=principal, name=project, role=Role.READ)
        query_filter.append(LLMUsage.project == project)
    elif (visible := visible_project_ids(principal)) is not None:
        names = select(Project.name).where(Project.id.in_(visible))
        query_filter.append(LLMUsage.project.in_(names))
    key: Any = {
        "model": LLMUsage.provider + literal("/") + LLMUsage.model,
        "feature": LLMUsage.feature,
        "day": func.to_char(func.timezone("UTC", LLMUsage.created_at), "YYYY-MM-DD"),
        "project": func.coalesce(LLMUsage.project, "(none)"),
        "workflow": func.coalesce(LLMUsage.workflow, "(none)"),
    }[by]
    # PostgreSQL's date_trunc with a zone: buckets are UTC hours and days, whatever the session's
    # TimeZone, and come back as aware timestamps. Constants inlined, not bound: GROUP BY must see
    # the same expression as the select list.
    start: Any = (
        func.date_trunc(
            literal_column(f"'{_BUCKETS[bucket]}'"), LLMUsage.created_at, literal_column("'UTC'")
        )
        if bucket
        else null()
    )
    groups = (start, key) if bucket else (key,)
    rows = await session.execute(
        select(
            key.label("key"),
            func.count(),
            func.count().filter(LLMUsage.cached),
            func.sum(case((LLMUsage.outcome == "ok", 0), else_=1)),
            func.coalesce(func.sum(LLMUsage.tokens_in), 0),
            func.coalesce(func.sum(LLMUsage.tokens_out), 0),
            func.coalesce(func.sum(LLMUsage.cost), 0),
            func.coalesce(func.avg(LLMUsage.latency_ms), 0.0),
            start.label("bucket"),
        )
        .where(*query_filter)
        .group_by(*groups)
        .order_by(*groups)
    )
    return [
        UsageLine(str(k), int(n), int(h), int(e), int(ti), int(to), Decimal(c), float(lat), b)
        for k, n, h, e, ti, to, c, lat, b in rows
    ]


@dataclass(frozen=True)
class PingResult:
    """Whether one provider answered `GET /models`."""

    provider: str
    base_url: str
    ok: bool
    latency_ms: float
    models: list[str]
    error: str | None


async def ping_providers(settings: LLMSettings) -> list[PingResult]:
    """Ask every configured provider for its models, concurrently."""
    from devflow.llm.client import LLMClient

    client = LLMClient(settings)
    try:
        return list(await asyncio.gather(*(_ping(client, name) for name in settings.providers)))
    finally:
        await client.aclose()


async def _ping(client: LLMClient, name: str) -> PingResult:
    from devflow.core.outbound import OutboundError
    from devflow.llm._routing import Target, transport_refused

    conf = client.settings.providers[name]
    started = time.perf_counter()
    try:
        page = await (await client.sdk(name)).models.list()
        models = sorted(m.id for m in page.data)
    except OutboundError as exc:  # before DevflowError: its own message speaks of knowledge
        error: str | None = transport_refused(Target(name, "models"), exc).message
        models = []
    except DevflowError as exc:
        error = exc.message
        models = []
    except Exception as exc:  # noqa: BLE001 - every failure is reported, none stops the others
        error = f"{type(exc).__name__}: {str(exc)[:200]}"
        models = []
    else:
        error = None
    return PingResult(
        provider=name,
        base_url=conf.base_url,
        ok=error is None,
        latency_ms=(time.perf_counter() - started) * 1000,
        models=models,
        error=error,
    )


PING_FEATURE = "llm.ping"
"""The feature a ping's calls are attributed to in the usage report."""
_PING_MESSAGES = [{"role": "user", "content": "ping"}]


@dataclass(frozen=True)
class AliasPing:
    """How one model alias answered a one-token call through the LLM client."""

    alias: str
    kind: Literal["chat", "embed"]
    ok: bool
    latency_ms: float
    provider: str | None = None
    model: str | None = None
    error: str | None = None


def alias_kind(alias: str, chain: list[str]) -> Literal["chat", "embed"]:
    """Return `embed` for an alias of embedding models (by its name or its models'), else `chat`."""
    named = [alias, *(entry.partition("/")[2] for entry in chain)]
    return "embed" if any("embed" in name.lower() for name in named) else "chat"


async def ping_aliases(
    *, principal: Principal, client: LLMClient, aliases: list[str] | None = None
) -> list[AliasPing]:
    """Call each alias (default: every configured one) once through `client`, concurrently: a
    chat of one short message capped at a few tokens, or one embedding.

    The calls are real, cost money and show the instance's configuration, hence instance admins
    only. A failing alias is reported with its error; it stops none of the others.

    Raises:
        PermissionDenied: the caller is not an instance admin with an unrestricted admin token.
        Invalid: an alias is not configured.
    """
    principal.require_instance_admin()
    configured = client.settings.aliases
    names = list(dict.fromkeys(aliases)) if aliases else list(configured)
    unknown = [name for name in names if name not in configured]
    if unknown:
        raise Invalid(
            f"no LLM alias named {', '.join(repr(n[:80]) for n in unknown[:5])}; the server "
            f"has {', '.join(sorted(configured)) or 'none'} (DEVFLOW_LLM__ALIASES)",
            details={"unknown": unknown[:5], "configured": sorted(configured)},
        )
    return list(await asyncio.gather(*(_ping_alias(client, name) for name in names)))


async def _ping_alias(client: LLMClient, alias: str) -> AliasPing:
    from devflow.llm.results import Tags

    kind = alias_kind(alias, client.settings.aliases[alias])
    tags = Tags(PING_FEATURE)
    started = time.perf_counter()
    error: str | None
    try:
        if kind == "embed":
            embedded = await client.embed(alias, ["ping"], tags=tags, cache=False)
            answered = (embedded.provider, embedded.model)
        else:
            chat = await client.chat(alias, _PING_MESSAGES, tags=tags, max_tokens=8, cache=False)
            answered = (chat.provider, chat.model)
    except DevflowError as exc:
        error = exc.message
    except Exception as exc:  # noqa: BLE001 - every failure is reported, none stops the others
        error = f"{type(exc).__name__}: {str(exc)[:200]}"
    else:
        error = None
    latency_ms = (time.perf_counter() - started) * 1000
    if error is not None:
        return AliasPing(alias, kind, ok=False, latency_ms=latency_ms, error=error)
    provider, model = answered
    return AliasPing(alias, kind, ok=True, latency_ms=latency_ms, provider=provider, model=model)
