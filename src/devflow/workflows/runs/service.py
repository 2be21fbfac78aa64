"""Runs for people and agents: start, list, show, pause, resume, cancel, submit the result,
decide an approval. Each checks the caller's role in the project (read to read, write for
the rest) and acts in the caller's transaction; the engine carries out what follows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core import clock
from devflow.core.auth import Principal, Role
from devflow.core.errors import Conflict, Invalid, NotFound
from devflow.identity import Project, User
from devflow.repos import get_repository
from devflow.workflows.access import project_for
from devflow.workflows.definitions.service import ensure_definition
from devflow.workflows.definitions.spec import Approval, Parameter, WorkflowSpec
from devflow.workflows.models import RunApproval, RunCounter, RunStep, Task, WorkflowDefinition
from devflow.workflows.models import WorkflowRun as Run
from devflow.workflows.runs import decisions, gates
from devflow.workflows.runs.place import ACTIVE, find_run, spec_of
from devflow.workflows.runs.queue import enqueue
from devflow.workflows.runs.schemas import (
    ApprovalRead,
    Decision,
    PhaseRead,
    ResultSubmit,
    RunCreate,
    RunDetail,
    RunFilter,
    RunRead,
)

_FINAL = ("succeeded", "failed", "cancelled")


async def start_run(
    session: AsyncSession, *, principal: Principal, project: str | None, data: RunCreate
) -> RunDetail:
    """Start a run (write role): it is `pending` until the engine gives it its first task.

    Raises:
        NotFound: no such workflow (or version) or repository.
        Invalid: a parameter is missing, unknown or of the wrong type.
    """
    found = await project_for(session, principal=principal, project=project, role=Role.WRITE)
    definition = await _definition(session, found, data.workflow, data.version)
    spec = WorkflowSpec.model_validate(definition.spec)
    params = check_params(spec, data.params)
    if data.repository is not None and (
        await get_repository(session, project=found.name, name=data.repository) is None
    ):
        raise NotFound(
            f"project {found.name!r} has no repository {data.repository!r}; "
            "`devflow repo list` shows them",
            details={"repository": data.repository},
        )
    now = clock.now()
    run = Run(
        project_id=found.id,
        number=await _next_number(session, found),
        definition_id=definition.id,
        goal=data.goal,
        params=params,
        repository=data.repository,
        base_branch=data.base_branch,
        state="pending",
        version=1,
        created_by=principal.user_id,
        created_at=now,
        updated_at=now,
    )
    session.add(run)
    await session.flush()
    await enqueue(session, run, "start")
    await gates.emit_run(
        session, run, "run.created", principal, {"workflow": spec.name, "goal": data.goal[:200]}
    )
    return await run_detail(session, found, run)


async def _definition(
    session: AsyncSession, project: Project, name: str, version: int | None
) -> WorkflowDefinition:
    if version is None:
        return await ensure_definition(session, project, name)
    row = await session.scalar(
        select(WorkflowDefinition).where(
            WorkflowDefinition.project_id == project.id,
            WorkflowDefinition.name == name,
            WorkflowDefinition.version == version,
        )
    )
    if row is None:
        raise NotFound(
            f"workflow {name!r} has no version {version} in project {project.name!r}; "
            f"`devflow workflow show {name}` shows the latest",
            details={"workflow": name, "version": version},
        )
    return row


_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "text": (str,),
    "choice": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}


def check_params(spec: WorkflowSpec, given: dict[str, Any]) -> dict[str, Any]:
    """Return the launch parameters with defaults filled in.

    Raises:
        Invalid: naming each unknown, missing or mistyped parameter.
    """
    known = {p.name: p for p in spec.parameters}
    problems = [f"unknown parameter {name!r}" for name in given if name not in known]
    values: dict[str, Any] = {}
    for param in spec.parameters:
        value = given.get(param.name, param.default)
        if value is None:
            if param.required:
                problems.append(f"parameter {param.name!r} is required ({param.description})")
            continue
        problem = _param_problem(param, value)
        if problem:
            problems.append(problem)
        values[param.name] = value
    if problems:
        names = ", ".join(known) or "none"
        raise Invalid(
            f"{'; '.join(problems)} — {spec.name}'s parameters are: {names}",
            details={"problems": problems},
        )
    return values


def _param_problem(param: Parameter, value: Any) -> str | None:
    wanted = _TYPES[param.type]
    if isinstance(value, bool) and bool not in wanted:
        return f"parameter {param.name!r} is a {param.type}, not true/false"
    if not isinstance(value, wanted):
        return f"parameter {param.name!r} is a {param.type}, not {type(value).__name__}"
    if param.choices is not None and value not in param.choices:
        return f"parameter {param.name!r} is one of {', '.join(param.choices)}, not {value!r}"
    return None


async def _next_number(session: AsyncSession, project: Project) -> int:
    """The project's next run number (the counter row is locked until commit: no gaps)."""
    statement = (
        insert(RunCounter)
        .values(project_id=project.id, last_number=1)
        .on_conflict_do_update(
            index_elements=[RunCounter.project_id],
            set_={"last_number": RunCounter.last_number + 1},
        )
        .returning(RunCounter.last_number)
    )
    return int((await session.execute(statement)).scalar_one())


# -- reading --------------------------------------------------------------------------------------

_ROWS = (
    select(
        Run,
        WorkflowDefinition.name,
        WorkflowDefinition.version,
        User.username,
    )
    .join(WorkflowDefinition, WorkflowDefinition.id == Run.definition_id)
    .outerjoin(User, User.id == Run.created_by)
)


def _read(run: Run, workflow: str, version: int, creator: str | None) -> RunRead:
    return RunRead(
        number=run.number,
        workflow=workflow,
        workflow_version=version,
        goal=run.goal,
        state=run.state,
        created_by=creator,
        created_at=run.created_at,
        updated_at=run.updated_at,
        finished_at=run.finished_at,
        version=run.version,
    )


async def list_runs(
    session: AsyncSession,
    *,
    principal: Principal,
    project: str | None,
    filters: RunFilter,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[RunRead], int]:
    """A page of the project's runs, newest first, and how many pass the filters (read role)."""
    found = await project_for(session, principal=principal, project=project)
    query = _ROWS.where(Run.project_id == found.id)
    if filters.state is not None:
        query = query.where(Run.state == filters.state)
    if filters.workflow is not None:
        query = query.where(WorkflowDefinition.name == filters.workflow)
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await session.execute(query.order_by(Run.number.desc()).offset(offset).limit(limit))
    return [_read(*row) for row in rows], total


async def get_run(
    session: AsyncSession, *, principal: Principal, project: str | None, number: int
) -> RunDetail:
    """A run with its phases, approvals and result (read role)."""
    found = await project_for(session, principal=principal, project=project)
    return await run_detail(session, found, await find_run(session, found, number))


async def run_detail(session: AsyncSession, project: Project, run: Run) -> RunDetail:
    """Shape a run of `project` for reading."""
    del project
    row = (await session.execute(_ROWS.where(Run.id == run.id))).one()
    spec = await spec_of(session, run)
    counts = await gates.tasks_by_phase(session, run)
    phases = [
        PhaseRead(
            id=p.id,
            name=p.name,
            description=p.description,
            instructions=p.instructions,
            done_definition=p.done_definition,
            max_agents=p.max_agents,
            approval=p.approval is not None and p.approval.required,
            validation=p.validation.kind,
            next=list(p.next),
            tasks=counts.get(p.id, {}),
        )
        for p in spec.phases
    ]
    return RunDetail(
        **_read(*row).model_dump(),
        params=run.params,
        repository=run.repository,
        base_branch=run.base_branch,
        result=run.result,
        outcome=run.outcome,
        phases=phases,
        approvals=await _approvals(session, run),
    )


async def _approvals(session: AsyncSession, run: Run) -> list[ApprovalRead]:
    rows = await session.execute(
        select(RunApproval, Task.number, User.username)
        .outerjoin(Task, Task.id == RunApproval.task_id)
        .outerjoin(User, User.id == RunApproval.decided_by)
        .where(RunApproval.run_id == run.id)
        .order_by(RunApproval.id)
    )
    return [
        ApprovalRead(
            id=a.id,
            kind=a.kind,
            phase=a.phase,
            task=number,
            state=a.state,
            requested_at=a.requested_at,
            due_at=a.due_at,
            on_timeout=a.on_timeout,
            decided_by=decider,
            decided_at=a.decided_at,
            comment=a.comment,
        )
        for a, number, decider in rows
    ]


# -- changing -------------------------------------------------------------------------------------


async def _locked(
    session: AsyncSession, principal: Principal, project: str | None, number: int
) -> tuple[Project, Run]:
    found = await project_for(session, principal=principal, project=project, role=Role.WRITE)
    return found, await find_run(session, found, number, lock=True)


def _refuse(run: Run, action: str, allowed: tuple[str, ...]) -> None:
    if run.state not in allowed:
        raise Conflict(
            f"run {run.number} is {run.state}: it cannot {action} (only when "
            f"{' or '.join(allowed)})",
            details={"run": run.number, "state": run.state},
        )


async def pause_run(
    session: AsyncSession, *, principal: Principal, project: str | None, number: int
) -> RunDetail:
    """Pause a run: its tasks cannot be claimed until it resumes (checks under way finish)."""
    found, run = await _locked(session, principal, project, number)
    _refuse(run, "pause", ("pending", "running", "awaiting_approval"))
    run.paused_from = run.state
    await gates.set_state(session, run, "paused", principal)
    return await run_detail(session, found, run)


async def resume_run(
    session: AsyncSession, *, principal: Principal, project: str | None, number: int
) -> RunDetail:
    """Resume a paused run where it was."""
    found, run = await _locked(session, principal, project, number)
    _refuse(run, "resume", ("paused",))
    await gates.set_state(session, run, run.paused_from or "running", principal)
    run.paused_from = None
    await gates.settle(session, run, principal)
    return await run_detail(session, found, run)


async def cancel_run(
    session: AsyncSession,
    *,
    principal: Principal,
    project: str | None,
    number: int,
    reason: str = "",
) -> RunDetail:
    """Cancel a run: its waiting approvals and steps are dropped, its tasks stay as they are
    but can no longer be claimed."""
    found, run = await _locked(session, principal, project, number)
    _refuse(run, "be cancelled", ACTIVE)
    await session.execute(
        update(RunApproval)
        .where(RunApproval.run_id == run.id, RunApproval.state == "pending")
        .values(state="cancelled", decided_by=principal.user_id, decided_at=clock.now())
    )
    await session.execute(
        update(RunStep)
        .where(RunStep.run_id == run.id, RunStep.state == "pending")
        .values(state="cancelled", done_at=clock.now())
    )
    run.outcome = reason or f"cancelled by {principal.username}"
    await gates.set_state(session, run, "cancelled", principal)
    return await run_detail(session, found, run)


async def submit_result(
    session: AsyncSession,
    *,
    principal: Principal,
    project: str | None,
    number: int,
    data: ResultSubmit,
) -> RunDetail:
    """Record the run's result; its check (if the definition has one) decides whether it
    succeeds, then its approval (if any)."""
    found, run = await _locked(session, principal, project, number)
    _refuse(run, "take a result", ("running",))
    spec = await spec_of(session, run)
    run.result = data.summary
    run.outcome = None
    run.version += 1
    await gates.emit_run(session, run, "run.result_submitted", principal)
    check = spec.result.validation
    if check.kind == "command":
        await enqueue(session, run, "validate_result")
    elif check.kind == "reviewer":
        await gates.request_approval(
            session,
            run,
            kind="result",
            gate=Approval(),
            actor=principal,
            note="a reviewer checks the result against the goal",
        )
    else:
        await decisions.after_result_check(session, run, spec, principal, None)
    return await run_detail(session, found, run)


async def decide(
    session: AsyncSession,
    *,
    principal: Principal,
    project: str | None,
    number: int,
    approval_id: int,
    data: Decision,
) -> RunDetail:
    """Approve or reject what the run waits for (write role; not one's own work under review).

    Raises:
        NotFound: no such run or approval of it.
        Conflict: it is decided already; the run has ended; the caller did the work.
    """
    found, run = await _locked(session, principal, project, number)
    approval = await session.get(RunApproval, approval_id, with_for_update=True)
    if approval is None or approval.run_id != run.id:
        raise NotFound(
            f"run {run.number} has no approval {approval_id}; `devflow run show "
            f"{run.number}` lists them",
            details={"approval": approval_id},
        )
    if approval.state != "pending":
        raise Conflict(
            f"approval {approval_id} is {approval.state} already",
            details={"approval": approval_id, "state": approval.state},
        )
    _refuse(run, "be decided on", ("running", "awaiting_approval", "paused"))
    if approval.kind == "review" and approval.task_id is not None:
        task = await session.get_one(Task, approval.task_id)
        if task.assignee_id == principal.user_id:
            raise Conflict(
                f"you did the work of task #{task.number}: someone else reviews it",
                details={"approval": approval_id},
            )
    await decisions.apply(
        session,
        found,
        run,
        approval,
        approve=data.decision == "approve",
        actor=principal,
        comment=data.comment,
    )
    return await run_detail(session, found, run)


__all__ = [
    "cancel_run",
    "check_params",
    "decide",
    "get_run",
    "list_runs",
    "pause_run",
    "resume_run",
    "start_run",
    "submit_result",
]
