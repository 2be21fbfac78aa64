"""LLM routes: usage reports, budgets and a check of the configured models."""

from __future__ import annotations

from decimal import Decimal

from fastapi import APIRouter, Query, Response, status

from devflow.core import clock
from devflow.core.http import PrincipalDep, ServicesDep, SessionDep
from devflow.core.schemas import Page
from devflow.llm import LLM_CLIENT, budgets, service
from devflow.llm.schemas import (
    AliasPingRead,
    BudgetRead,
    BudgetSet,
    PingReport,
    PingRequest,
    UsageLineRead,
    UsageReport,
)
from devflow.llm.settings import LLMSettings

router = APIRouter(prefix="/api/v1/llm", tags=["llm"])


@router.get("/usage", response_model=UsageReport)
async def usage(
    session: SessionDep,
    principal: PrincipalDep,
    project: str | None = Query(None, description="One project (default: every one you see)."),
    since: str = Query("7d", description="How far back: 30m, 12h, 7d or 4w."),
    by: service.GroupBy = Query(
        "model", description="Group by model, feature, day, project or workflow."
    ),
    bucket: service.Bucket | None = Query(
        None,
        description="Sum each group per `hour` (periods up to 31 days) or `day` (UTC): a time "
        "series, one line per group and bucket with calls.",
    ),
) -> UsageReport:
    """Sum LLM calls, tokens and cost over a period, or per hour or day of it."""
    until = clock.now()
    start = until - service.parse_since(since)
    lines = await service.usage_report(
        session, principal=principal, since=start, by=by, project=project, bucket=bucket
    )
    return UsageReport(
        since=start.isoformat(),
        until=until.isoformat(),
        by=by,
        bucket=bucket,
        project=project,
        lines=[UsageLineRead.model_validate(line, from_attributes=True) for line in lines],
        total_cost=sum((line.cost for line in lines), Decimal(0)),
    )


WorkflowQuery = Query(
    None,
    min_length=1,
    max_length=200,
    description="A workflow of the project (default: the whole project).",
)


def _read(budget: budgets.BudgetStatus) -> BudgetRead:
    return BudgetRead(**vars(budget), used_pct=round(budget.used_pct, 2))


@router.get("/budgets", response_model=Page[BudgetRead])
async def list_budgets(
    session: SessionDep,
    principal: PrincipalDep,
    services: ServicesDep,
    project: str | None = Query(None, description="One project (default: every one you see)."),
) -> Page[BudgetRead]:
    """List monthly LLM budgets with this month's spending."""
    found = await budgets.list_budgets(
        session,
        principal=principal,
        settings=services.settings.section(LLMSettings).budgets,
        project=project,
    )
    return Page(items=[_read(b) for b in found], total=len(found))


@router.get("/budgets/{project}", response_model=BudgetRead)
async def show_budget(
    project: str,
    session: SessionDep,
    principal: PrincipalDep,
    services: ServicesDep,
    workflow: str | None = WorkflowQuery,
) -> BudgetRead:
    """Show the budget of a project, or of one of its workflows."""
    return _read(
        await budgets.get_budget(
            session,
            principal=principal,
            settings=services.settings.section(LLMSettings).budgets,
            project=project,
            workflow=workflow,
        )
    )


@router.put(
    "/budgets/{project}",
    response_model=BudgetRead,
    responses={201: {"model": BudgetRead, "description": "Created."}},
)
async def set_budget(
    project: str,
    data: BudgetSet,
    response: Response,
    session: SessionDep,
    principal: PrincipalDep,
    workflow: str | None = WorkflowQuery,
) -> BudgetRead:
    """Create or change a monthly budget (project admins); running clients apply it within 5 s."""
    budget, created = await budgets.set_budget(
        session,
        principal=principal,
        project=project,
        workflow=workflow,
        monthly_usd=data.monthly_usd,
    )
    if created:
        response.status_code = status.HTTP_201_CREATED
    return _read(budget)


@router.delete("/budgets/{project}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_budget(
    project: str,
    session: SessionDep,
    principal: PrincipalDep,
    workflow: str | None = WorkflowQuery,
) -> None:
    """Remove a budget set through the API (project admins); its spending history is kept."""
    await budgets.delete_budget(session, principal=principal, project=project, workflow=workflow)


@router.post("/ping", response_model=PingReport)
async def ping(
    principal: PrincipalDep, services: ServicesDep, data: PingRequest | None = None
) -> PingReport:
    """Call each model alias once through the server's LLM client and say what works, how fast,
    and why not (instance admins: the calls cost money and show the configuration)."""
    results = await service.ping_aliases(
        principal=principal,
        client=services.get(LLM_CLIENT),
        aliases=data.aliases if data else None,
    )
    return PingReport(results=[AliasPingRead(**vars(r)) for r in results])


ROUTERS = (router,)
"""The routers this module serves (the domain manifest names them)."""
