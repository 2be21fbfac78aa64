"""Monthly budgets: where limits come from, how calls reserve and settle, how they are managed.

A limit comes from settings (`DEVFLOW_LLM__BUDGETS__…`, config as code) or from the API
(`llm_budget` rows, managed by project admins); an API budget replaces the settings' one for the
same project or workflow.

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
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from devflow.core import clock, events
from devflow.core.auth import Principal, Role, Scope
from devflow.core.errors import NotFound
from devflow.identity import Project, require_project, visible_project_ids
from devflow.llm.errors import BudgetExceeded
from devflow.llm.models import LLMBudget, LLMBudgetLedger
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
    workflow: str | None = None


def make_budget(project: str, workflow: str | None, limit: Decimal) -> Budget:
    """Return the budget of a project (`workflow=None`) or of one of its workflows."""
    if workflow is None:
        return Budget(f"project:{project}", f"project {project!r}", project, limit)
    key = f"{project}/{workflow}"
    return Budget(f"workflow:{key}", f"workflow {key!r}", project, limit, workflow)


def budgets_for(
    settings: LLMBudgetSettings,
    *,
    project: str | None,
    workflow: str | None,
    managed: dict[str, Budget] | None = None,
) -> list[Budget]:
    """Return the budgets a call for this project and workflow counts against.

    `managed` (scope -> budget, from `load_managed`) replaces the settings' limit of a scope.
    """
    if project is None:
        return []
    managed = managed or {}
    found: list[Budget] = []
    for wanted in (None, workflow) if workflow is not None else (None,):
        budget = managed.get(make_budget(project, wanted, Decimal(0)).scope)
        if budget is None:
            key = project if wanted is None else f"{project}/{wanted}"
            limits = settings.projects if wanted is None else settings.workflows
            if key not in limits:
                continue
            budget = make_budget(project, wanted, Decimal(str(limits[key])))
        found.append(budget)
    return found


async def load_managed(db: AsyncSession | AsyncConnection) -> dict[str, Budget]:
    """Return every budget set through the API, by ledger scope (a small table: read it whole)."""
    rows = await db.execute(
        select(Project.name, LLMBudget.workflow, LLMBudget.monthly_usd).join(
            Project, Project.id == LLMBudget.project_id
        )
    )
    budgets = (make_budget(name, workflow, limit) for name, workflow, limit in rows)
    return {b.scope: b for b in budgets}


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


# -- managing budgets (project admins) -------------------------------------------------------------


@dataclass(frozen=True)
class BudgetStatus:
    """A budget with this month's spending."""

    project: str
    workflow: str | None
    monthly_usd: Decimal
    source: str  # api | settings
    period: str
    spent: Decimal
    reserved: Decimal

    @property
    def used_pct(self) -> float:
        """Return the share of the limit spent, in percent (100 for a zero budget)."""
        if self.monthly_usd == 0:
            return 100.0
        return float(self.spent * 100 / self.monthly_usd)


async def list_budgets(
    session: AsyncSession,
    *,
    principal: Principal,
    settings: LLMBudgetSettings,
    project: str | None = None,
) -> list[BudgetStatus]:
    """Return the budgets of the projects the caller can read (API and settings ones).

    Raises:
        NotFound, PermissionDenied: `project` is not one the caller can read.
    """
    principal.require_scope(Scope.READ)
    query = select(Project.name)
    if project is not None:
        found = await require_project(session, principal=principal, name=project)
        query = query.where(Project.id == found.id)
    else:
        visible = visible_project_ids(principal)
        if visible is not None:
            query = query.where(Project.id.in_(visible))
    names = set(await session.scalars(query))
    managed = await load_managed(session)
    budgets = {b.scope: (b, "api") for b in managed.values() if b.project in names}
    for name in names:
        for budget in _settings_budgets(settings, name):
            budgets.setdefault(budget.scope, (budget, "settings"))
    return await _with_spending(session, sorted(budgets.values(), key=lambda b: b[0].scope))


async def get_budget(
    session: AsyncSession,
    *,
    principal: Principal,
    settings: LLMBudgetSettings,
    project: str,
    workflow: str | None = None,
) -> BudgetStatus:
    """Return one budget (set through the API or in settings) with this month's spending.

    Raises:
        NotFound: no such project for the caller, or no budget for it.
    """
    found = await require_project(session, principal=principal, name=project)
    wanted = make_budget(found.name, workflow, Decimal(0)).scope
    managed = (await load_managed(session)).get(wanted)
    if managed is not None:
        return (await _with_spending(session, [(managed, "api")]))[0]
    for budget in _settings_budgets(settings, found.name):
        if budget.scope == wanted:
            return (await _with_spending(session, [(budget, "settings")]))[0]
    raise NotFound(f"no LLM budget for {_label(found.name, workflow)}")


async def set_budget(
    session: AsyncSession,
    *,
    principal: Principal,
    project: str,
    workflow: str | None,
    monthly_usd: Decimal,
) -> tuple[BudgetStatus, bool]:
    """Create or change the monthly budget of a project or workflow (project admins).

    Returns the budget and whether it was created.

    Raises:
        NotFound: no such project for the caller.
        PermissionDenied: the caller is not an admin of the project (or the token lacks `write`).
    """
    found = await require_project(session, principal=principal, name=project, role=Role.ADMIN)
    row = await session.scalar(
        select(LLMBudget).where(
            LLMBudget.project_id == found.id,
            LLMBudget.workflow.is_(None) if workflow is None else LLMBudget.workflow == workflow,
        )
    )
    created = row is None
    if row is None:
        row = LLMBudget(project_id=found.id, workflow=workflow, monthly_usd=monthly_usd)
        session.add(row)
    row.monthly_usd = monthly_usd
    row.updated_at = clock.now()
    row.updated_by = principal.user_id
    await session.flush()
    await events.emit(
        session,
        type="llm.budget.set",
        project_id=found.id,
        actor_id=principal.user_id,
        payload={"workflow": workflow, "monthly_usd": str(monthly_usd), "created": created},
    )
    budget = make_budget(found.name, workflow, monthly_usd)
    return (await _with_spending(session, [(budget, "api")]))[0], created


async def delete_budget(
    session: AsyncSession, *, principal: Principal, project: str, workflow: str | None
) -> None:
    """Remove a budget set through the API (project admins). Spending history is kept.

    Raises:
        NotFound: no such project for the caller, or no API budget for it.
        PermissionDenied: the caller is not an admin of the project.
    """
    found = await require_project(session, principal=principal, name=project, role=Role.ADMIN)
    row = await session.scalar(
        select(LLMBudget).where(
            LLMBudget.project_id == found.id,
            LLMBudget.workflow.is_(None) if workflow is None else LLMBudget.workflow == workflow,
        )
    )
    if row is None:
        raise NotFound(
            f"no LLM budget set through the API for {_label(found.name, workflow)} "
            "(budgets from settings are changed in settings)"
        )
    await session.delete(row)
    await session.flush()
    await events.emit(
        session,
        type="llm.budget.deleted",
        project_id=found.id,
        actor_id=principal.user_id,
        payload={"workflow": workflow},
    )


def _tidy(amount: Decimal) -> Decimal:
    """Drop the column's trailing zeros (10.000000000 -> 10) without going to 1E+1."""
    return amount.quantize(Decimal(1)) if amount == amount.to_integral() else amount.normalize()


def _label(project: str, workflow: str | None) -> str:
    return f"project {project!r}" if workflow is None else f"workflow {project}/{workflow!r}"


def _settings_budgets(settings: LLMBudgetSettings, project: str) -> list[Budget]:
    found = []
    if project in settings.projects:
        found.append(make_budget(project, None, Decimal(str(settings.projects[project]))))
    prefix = f"{project}/"
    for key, limit in settings.workflows.items():
        if key.startswith(prefix):
            found.append(make_budget(project, key[len(prefix) :], Decimal(str(limit))))
    return found


async def _with_spending(
    session: AsyncSession, budgets: list[tuple[Budget, str]]
) -> list[BudgetStatus]:
    period = current_period()
    ledger = LLMBudgetLedger
    rows = await session.execute(
        select(ledger.scope, ledger.spent, ledger.reserved).where(
            ledger.period == period, ledger.scope.in_([b.scope for b, _ in budgets])
        )
    )
    spending = {scope: (spent, reserved) for scope, spent, reserved in rows}
    statuses = []
    for budget, source in budgets:
        spent, reserved = spending.get(budget.scope, (Decimal(0), Decimal(0)))
        statuses.append(
            BudgetStatus(
                project=budget.project,
                workflow=budget.workflow,
                monthly_usd=_tidy(budget.limit),
                source=source,
                period=f"{period:%Y-%m}",
                spent=_tidy(spent),
                reserved=_tidy(reserved),
            )
        )
    return statuses
