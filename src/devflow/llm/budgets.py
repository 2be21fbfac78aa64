"""Monthly budgets: where limits come from, how calls reserve and settle, how they are managed.

A limit comes from settings (`DEVFLOW_LLM__BUDGETS__…`, config as code) or from the API
(`llm_budget` rows, managed by project admins); an API budget replaces the settings' one for the
same project or workflow.

Each budget is one ledger row per month. A reservation is a single conditional UPDATE, which
PostgreSQL re-checks under the row lock, so concurrent calls can never reserve past the limit.
When the whole amount does not fit and the call may be shortened (a plain-text answer without
max_tokens), the rows are locked and the call gets the longest answer every budget still affords.
The call is then sent with that max_tokens, so it cannot cost more than it reserved.

Settling moves the reservation to `spent` and announces each 50/80/100 % threshold once. A call
that cost more than it reserved (a gateway's cost header above the price table, a prompt the
estimate undercounted) is charged in full and *stops* its budgets: no call passes them until a
project admin sets the budget again or the month ends (the stop is `notified_pct = STOPPED`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_CEILING, Decimal

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

log = logging.getLogger(__name__)

THRESHOLDS = (50, 80, 100)
EVENT_TYPE = "llm.budget.threshold"
STOPPED_EVENT_TYPE = "llm.budget.stopped"
STOPPED = 1000  # `notified_pct` of a budget stopped by a call that cost more than it reserved
_CENT_BILLIONTHS = Decimal("0.000000001")  # the ledger's NUMERIC(18, 9) step


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


def money(amount: Decimal) -> Decimal:
    """Round `amount` up to the ledger's step, so a reservation never rounds below a cost."""
    return amount.quantize(_CENT_BILLIONTHS, rounding=ROUND_CEILING)


@dataclass(frozen=True)
class Ask:
    """What a call asks of its budgets, priced at every model of its chain.

    `prompt[i]` is the prompt's cost at model i; `per_output_token[i]` what one output token costs
    there. The call wants `output_tokens` and accepts as few as `min_output_tokens` (the same
    number when it cannot be shortened).
    """

    prompt: tuple[Decimal, ...]
    per_output_token: tuple[Decimal, ...]
    output_tokens: int
    min_output_tokens: int

    def cost(self, output_tokens: int) -> Decimal:
        """Return what the call may cost with `output_tokens`, at the dearest model."""
        return money(
            max(
                p + t * output_tokens
                for p, t in zip(self.prompt, self.per_output_token, strict=True)
            )
        )

    def fit(self, headroom: Decimal) -> int | None:
        """Return the most output tokens (at least the minimum) that `headroom` pays for."""
        if any(p > headroom for p in self.prompt):
            return None
        most = self.output_tokens
        for prompt, per_token in zip(self.prompt, self.per_output_token, strict=True):
            if per_token > 0:
                most = min(most, int((headroom - prompt) / per_token))
        while most >= self.min_output_tokens and self.cost(most) > headroom:
            most -= 1  # the rounding up to the ledger's step can take the last token
        return most if most >= self.min_output_tokens else None


@dataclass(frozen=True)
class Grant:
    """What a reservation took: the amount, and the output tokens it pays for."""

    amount: Decimal
    output_tokens: int


async def reserve(
    session: AsyncSession, budgets: Sequence[Budget], ask: Ask, *, period: date
) -> Grant:
    """Reserve the call's cost in every budget, or none of them (the transaction rolls back).

    The whole `ask.output_tokens` when every budget affords it; else, for a call that may be
    shortened, the most output tokens every budget still affords.

    Raises:
        BudgetExceeded: naming the first budget that cannot take even the shortest call, and
            saying why (spent, stopped, or held by calls in flight).
    """
    ledger = LLMBudgetLedger
    await session.execute(
        insert(ledger)
        .values(
            [
                {
                    "scope": b.scope,
                    "period": period,
                    "spent": Decimal(0),
                    "reserved": Decimal(0),
                    "notified_pct": 0,
                }
                for b in budgets
            ]
        )
        .on_conflict_do_nothing()
    )
    amount = ask.cost(ask.output_tokens)
    taken: list[Budget] = []
    for budget in budgets:
        took = await session.scalar(
            update(ledger)
            .where(
                ledger.scope == budget.scope,
                ledger.period == period,
                ledger.notified_pct < STOPPED,
                ledger.spent < budget.limit,
                ledger.spent + ledger.reserved + amount <= budget.limit,
            )
            .values(reserved=ledger.reserved + amount)
            .returning(ledger.spent)
        )
        if took is None:
            break
        taken.append(budget)
    else:
        return Grant(amount, ask.output_tokens)
    # Not the whole amount. Give back what was taken, lock every row (in scope order, as every
    # reservation and settlement does) and see what the call can still have.
    if taken:
        await session.execute(
            update(ledger)
            .where(ledger.scope.in_([b.scope for b in taken]), ledger.period == period)
            .values(reserved=ledger.reserved - amount)
        )
    rows = {
        row.scope: row
        for row in await session.execute(
            select(ledger.scope, ledger.spent, ledger.reserved, ledger.notified_pct)
            .where(ledger.scope.in_([b.scope for b in budgets]), ledger.period == period)
            .order_by(ledger.scope)
            .with_for_update()
        )
    }
    headroom = min(b.limit - rows[b.scope].spent - rows[b.scope].reserved for b in budgets)
    blocked = any(
        rows[b.scope].notified_pct >= STOPPED or rows[b.scope].spent >= b.limit for b in budgets
    )
    # Calls that finished meanwhile may have made room: `fit` also takes the whole amount.
    fits = None if blocked else ask.fit(headroom)
    if fits is not None:
        amount = ask.cost(fits)
        await session.execute(
            update(ledger)
            .where(ledger.scope.in_([b.scope for b in budgets]), ledger.period == period)
            .values(reserved=ledger.reserved + amount)
        )
        return Grant(amount, fits)
    shortest = ask.cost(ask.min_output_tokens)
    budget = next(
        b
        for b in budgets
        if rows[b.scope].notified_pct >= STOPPED
        or rows[b.scope].spent >= b.limit
        or rows[b.scope].spent + rows[b.scope].reserved + shortest > b.limit
    )
    row = rows[budget.scope]
    raise refusal(
        budget,
        spent=row.spent,
        reserved=row.reserved,
        stopped=row.notified_pct >= STOPPED,
        needed=shortest,
        period=period,
    )


def refusal(
    budget: Budget,
    *,
    spent: Decimal,
    reserved: Decimal,
    stopped: bool,
    needed: Decimal,
    period: date,
) -> BudgetExceeded:
    """Return the refusal of a call, saying what is true: spent, stopped or held in flight."""
    renews = next_period(period)
    left = max(budget.limit - spent - reserved, Decimal(0))
    head = f"the {budget.label} LLM budget of ${budget.limit} for {period:%Y-%m}"
    if budget.limit == 0:
        state = "zero"
        message = f"{head} is $0: it refuses every call (a project admin can raise it)"
    elif stopped:
        state = "stopped"
        message = (
            f"{head} is stopped: a call cost more than it had reserved (the gateway's price is "
            f"above the price table, or the prompt was undercounted), so no call passes it "
            f"until a project admin sets the budget again (`devflow llm budget set`) or it "
            f"renews on {renews:%Y-%m-%d} (UTC); ${spent:.6f} spent"
        )
    elif spent >= budget.limit:
        state = "spent"
        message = f"{head} is spent (${spent:.6f}); it renews on {renews:%Y-%m-%d} (UTC)"
    elif reserved > 0 and spent + needed <= budget.limit:
        state = "held_in_flight"
        message = (
            f"{head} has ${left:.6f} free: ${spent:.6f} spent and ${reserved:.6f} reserved by "
            f"calls in flight, and this call needs up to ${needed:.6f}; what those calls do not "
            "spend frees up as they finish (each within its provider's timeout), so a retry "
            "shortly may pass"
        )
    else:
        state = "too_little_left"
        in_flight = f", ${reserved:.6f} reserved by calls in flight" if reserved > 0 else ""
        message = (
            f"{head} has ${left:.6f} left (${spent:.6f} spent{in_flight}), and this call needs "
            f"up to ${needed:.6f}; a shorter prompt or a smaller max_tokens may fit, or wait "
            f"until it renews on {renews:%Y-%m-%d} (UTC)"
        )
    return BudgetExceeded(
        message,
        details={
            "budget": budget.scope,
            "state": state,
            "limit": str(budget.limit),
            "spent": str(spent),
            "reserved": str(reserved),
            "available": str(left),
            "needed": str(needed),
            "period": f"{period:%Y-%m}",
            "renews": f"{renews:%Y-%m-%d}",
        },
    )


def next_period(period: date) -> date:
    """Return the first day of the month after `period`."""
    return date(period.year + period.month // 12, period.month % 12 + 1, 1)


async def settle(
    session: AsyncSession,
    budgets: Sequence[Budget],
    *,
    reserved: Decimal,
    cost: Decimal,
    period: date,
) -> None:
    """Replace a reservation by the real cost and announce the thresholds it crosses.

    A cost above the reservation is charged in full and stops the budgets (see the module
    docstring): the estimate that kept them from overshooting did not hold.
    """
    overrun = cost.quantize(_CENT_BILLIONTHS) > reserved
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
        stop = overrun and row.notified_pct < STOPPED
        if not crossed and not stop:
            continue
        await session.execute(
            update(ledger)
            .where(ledger.scope == budget.scope, ledger.period == period)
            .values(notified_pct=STOPPED if stop else max(crossed))
        )
        project_id = await session.scalar(select(Project.id).where(Project.name == budget.project))
        if stop:
            log.warning(
                "stopping the %s LLM budget: a call cost %s, more than the %s it reserved",
                budget.label,
                cost,
                reserved,
            )
            await events.emit(
                session,
                type=STOPPED_EVENT_TYPE,
                project_id=project_id,
                payload={
                    "budget": budget.scope,
                    "label": budget.label,
                    "limit": str(budget.limit),
                    "spent": str(row.spent),
                    "cost": str(cost),
                    "reserved": str(reserved),
                    "period": f"{period:%Y-%m}",
                },
            )
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
    budget = make_budget(found.name, workflow, monthly_usd)
    reopened = await _reopen(session, budget)
    await events.emit(
        session,
        type="llm.budget.set",
        project_id=found.id,
        actor_id=principal.user_id,
        payload={
            "workflow": workflow,
            "monthly_usd": str(monthly_usd),
            "created": created,
            "reopened": reopened,
        },
    )
    return (await _with_spending(session, [(budget, "api")]))[0], created


async def _reopen(session: AsyncSession, budget: Budget) -> bool:
    """Lift this month's stop of a budget (an admin set it again); return whether it had one.

    The thresholds already passed under the new limit are not announced again.
    """
    ledger = LLMBudgetLedger
    period = current_period()
    where = (ledger.scope == budget.scope, ledger.period == period)
    spent = await session.scalar(
        select(ledger.spent).where(*where, ledger.notified_pct >= STOPPED).with_for_update()
    )
    if spent is None:
        return False
    passed = [level for level in THRESHOLDS if spent * 100 >= budget.limit * level]
    await session.execute(update(ledger).where(*where).values(notified_pct=max([0, *passed])))
    return True


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
