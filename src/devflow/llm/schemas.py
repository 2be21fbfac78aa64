"""LLM API shapes."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, Field


class UsageLineRead(BaseModel):
    """Usage summed over one group (a model, feature, day, project or workflow)."""

    key: str = Field(
        description="The group: `provider/model`, a feature, a day, a project or a workflow "
        "(`(none)`: calls without one)."
    )
    bucket: datetime | None = Field(
        None, description="Start of the hour or day (UTC) of a time series; None without `bucket`."
    )
    calls: int
    cache_hits: int
    errors: int
    tokens_in: int
    tokens_out: int
    cost: Decimal = Field(description="USD.")
    avg_latency_ms: float


class UsageReport(BaseModel):
    """LLM usage for a period."""

    since: str = Field(description="Start of the period (ISO 8601, UTC).")
    until: str | None = Field(None, description="End of the period: when it was computed (UTC).")
    by: str
    bucket: str | None = Field(
        None, description="`hour` or `day`: each line is one group in one bucket; None: totals."
    )
    project: str | None
    lines: list[UsageLineRead]
    total_cost: Decimal


class BudgetSet(BaseModel):
    """A monthly LLM budget to create or change."""

    monthly_usd: Decimal = Field(
        ge=0,
        lt=1_000_000_000,  # the column holds nine digits before the point
        decimal_places=9,
        description="Monthly limit in USD; 0 stops every priced call of the project or workflow.",
    )


class BudgetRead(BaseModel):
    """A monthly LLM budget with this month's spending."""

    project: str
    workflow: str | None = Field(description="None: the budget of the whole project.")
    monthly_usd: Decimal
    source: str = Field(description="`api` (set here) or `settings` (DEVFLOW_LLM__BUDGETS__…).")
    period: str = Field(description="The month the spending is for (YYYY-MM, UTC).")
    spent: Decimal = Field(description="USD spent this month.")
    reserved: Decimal = Field(description="USD reserved by calls in flight.")
    used_pct: float = Field(description="Spent, in percent of the limit.")


class PingRequest(BaseModel):
    """Which model aliases to try."""

    aliases: list[Annotated[str, Field(min_length=1, max_length=200)]] | None = Field(
        None,
        max_length=50,
        description="Aliases to call (default, or empty: every configured one).",
    )


class AliasPingRead(BaseModel):
    """How one model alias answered."""

    alias: str
    kind: Literal["chat", "embed"] = Field(
        description="`embed` when the alias or its models are named for embeddings."
    )
    ok: bool
    latency_ms: float = Field(description="The whole call, retries and fallbacks included.")
    provider: str | None = Field(description="The provider that answered (None: none did).")
    model: str | None = Field(description="The model that answered.")
    error: str | None = Field(description="Why the alias failed, naming provider and model.")


class PingReport(BaseModel):
    """Each alias the server's LLM client called, with its outcome."""

    results: list[AliasPingRead]
