"""LLM services for the surfaces: usage reports and provider checks."""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import case, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from devflow.core.auth import Principal, Role, Scope
from devflow.core.errors import DevflowError, Invalid
from devflow.identity import Project, require_project, visible_project_ids
from devflow.llm.models import LLMUsage
from devflow.llm.settings import LLMSettings

if TYPE_CHECKING:
    # The client imports the `openai` SDK (~0.5 s): the server and the CLI load it on first use.
    from devflow.llm.client import LLMClient

GroupBy = Literal["model", "feature", "day", "project"]
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


async def usage_report(
    session: AsyncSession,
    *,
    principal: Principal,
    since: datetime,
    by: GroupBy,
    project: str | None = None,
) -> list[UsageLine]:
    """Sum LLM usage since `since`, grouped `by`, over the projects the caller can see.

    Raises:
        NotFound, PermissionDenied: `project` is not one the caller can read.
    """
    principal.require_scope(Scope.READ)
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
    }[by]
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
        )
        .where(*query_filter)
        .group_by(key)
        .order_by(key)
    )
    return [
        UsageLine(str(k), int(n), int(h), int(e), int(ti), int(to), Decimal(c), float(lat))
        for k, n, h, e, ti, to, c, lat in rows
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
        page = await client.sdk(name).models.list()
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
