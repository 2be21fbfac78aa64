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
