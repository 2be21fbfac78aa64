"""LLM API shapes."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, Field


class UsageLineRead(BaseModel):
    """Usage summed over one group (a model, feature, day or project)."""

    key: str = Field(description="The group: `provider/model`, a feature, a day or a project.")
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
    by: str
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
