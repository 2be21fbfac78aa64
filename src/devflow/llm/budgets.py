"""Monthly budgets: reserve an estimate before a call, settle the real cost after.

Each budget is one ledger row per month. A reservation is a single conditional UPDATE, which
PostgreSQL re-checks under the row lock, so concurrent calls can never reserve past the limit.
Settling moves the reservation to `spent` and announces each 50/80/100 % threshold once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core import clock, events
from devflow.identity import Project
from devflow.llm.errors import BudgetExceeded
from devflow.llm.models import LLMBudgetLedger
from devflow.llm.settings import LLMBudgetSettings

THRESHOLDS = (50, 80, 100)
EVENT_TYPE = "llm.budget.threshold"


@dataclass(frozen=True)
class Budget:
    """One monthly limit that applies to a call."""

    scope: str  # ledger key: `project:<name>` or `workflow:<project>/<workflow>`
    label: str  # what error messages and events call it
    project: str
    limit: Decimal


def budgets_for(
    settings: LLMBudgetSettings, *, project: str | None, workflow: str | None
) -> list[Budget]:
    """Return the budgets a call for this project and workflow counts against."""
    if project is None:
        return []
    found: list[Budget] = []
    if project in settings.projects:
        limit = Decimal(str(settings.projects[project]))
        found.append(Budget(f"project:{project}", f"project {project!r}", project, limit))
    key = f"{project}/{workflow}"
    if workflow is not None and key in settings.workflows:
        limit = Decimal(str(settings.workflows[key]))
        found.append(Budget(f"workflow:{key}", f"workflow {key!r}", project, limit))
    return found


def current_period() -> date:
    """Return the first day of the current month (UTC): budgets are monthly."""
    return clock.now().date().replace(day=1)


async def reserve(
    session: AsyncSession, budgets: list[Budget], amount: Decimal, *, period: date
) -> None:
    """Reserve `amount` in every budget, or none of them (the caller's transaction rolls back).

    Raises:
        BudgetExceeded: naming the first budget that cannot take `amount`.
    """
    for budget in budgets:
        await session.execute(
            insert(LLMBudgetLedger)
            .values(
                scope=budget.scope,
                period=period,
                spent=Decimal(0),
                reserved=Decimal(0),
                notified_pct=0,
            )
            .on_conflict_do_nothing()
        )
        ledger = LLMBudgetLedger
        taken = await session.scalar(
            update(ledger)
            .where(
                ledger.scope == budget.scope,
                ledger.period == period,
                ledger.spent < budget.limit,
                ledger.spent + ledger.reserved + amount <= budget.limit,
            )
            .values(reserved=ledger.reserved + amount)
            .returning(ledger.spent)
        )
        if taken is None:
            row = (
                await session.execute(
                    select(ledger.spent, ledger.reserved).where(
                        ledger.scope == budget.scope, ledger.period == period
                    )
                )
            ).one()
            raise BudgetExceeded(
                f"the {budget.label} LLM budget of ${budget.limit} for {period:%Y-%m} is spent: "
                f"${row.spent:.6f} spent and ${row.reserved:.6f} reserved by calls in flight; "
                f"this call needs up to ${amount:.6f}",
                details={
                    "budget": budget.scope,
                    "limit": str(budget.limit),
                    "spent": str(row.spent),
                    "reserved": str(row.reserved),
                    "needed": str(amount),
                    "period": f"{period:%Y-%m}",
                },
            )


async def settle(
    session: AsyncSession,
    budgets: list[Budget],
    *,
    reserved: Decimal,
    cost: Decimal,
    period: date,
) -> None:
    """Replace a reservation by the real cost and announce the thresholds it crosses."""
    for budget in budgets:
        ledger = LLMBudgetLedger
        row = (
            await session.execute(
                update(ledger)
                .where(ledger.scope == budget.scope, ledger.period == period)
                .values(
                    reserved=ledger.reserved - reserved,
                    spent=ledger.spent + cost,
                )
                .returning(ledger.spent, ledger.notified_pct)
            )
        ).one_or_none()
        if row is None:
            continue
        # The UPDATE holds the row lock until commit, so no other call announces these levels.
        crossed = [
            level
            for level in THRESHOLDS
            if level > row.notified_pct and row.spent * 100 >= budget.limit * level
        ]
        if not crossed:
            continue
        await session.execute(
            update(ledger)
            .where(ledger.scope == budget.scope, ledger.period == period)
            .values(notified_pct=max(crossed))
        )
        project_id = await session.scalar(select(Project.id).where(Project.name == budget.project))
        for level in crossed:
            await events.emit(
                session,
                type=EVENT_TYPE,
                project_id=project_id,
                payload={
                    "budget": budget.scope,
                    "label": budget.label,
                    "threshold_pct": level,
                    "limit": str(budget.limit),
                    "spent": str(row.spent),
                    "period": f"{period:%Y-%m}",
                },
            )
