"""LLM routes: usage reports."""

from __future__ import annotations

from decimal import Decimal

from fastapi import APIRouter, Query

from devflow.core import clock
from devflow.core.http import PrincipalDep, SessionDep
from devflow.llm import service
from devflow.llm.schemas import UsageLineRead, UsageReport

router = APIRouter(prefix="/api/v1/llm", tags=["llm"])


@router.get("/usage", response_model=UsageReport)
async def usage(
    session: SessionDep,
    principal: PrincipalDep,
    project: str | None = Query(None, description="One project (default: every one you see)."),
    since: str = Query("7d", description="How far back: 30m, 12h, 7d or 4w."),
    by: service.GroupBy = Query("model", description="Group by model, feature, day or project."),
) -> UsageReport:
    """Sum LLM calls, tokens and cost over a period."""
    start = clock.now() - service.parse_since(since)
    lines = await service.usage_report(
        session, principal=principal, since=start, by=by, project=project
    )
    return UsageReport(
        since=start.isoformat(),
        by=by,
        project=project,
        lines=[UsageLineRead.model_validate(line, from_attributes=True) for line in lines],
        total_cost=sum((line.cost for line in lines), Decimal(0)),
    )
