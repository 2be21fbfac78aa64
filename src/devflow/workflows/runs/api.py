"""HTTP routes of workflow runs, under /api/v1/projects/{project}/runs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from devflow.core.http import PrincipalDep, SessionDep
from devflow.core.schemas import MAX_ID, MAX_OFFSET, Page
from devflow.workflows.runs import service
from devflow.workflows.runs.schemas import (
    Decision,
    ResultSubmit,
    RunCreate,
    RunDetail,
    RunFilter,
    RunRead,
    RunState,
)
from devflow.workflows.schemas import MAX_NUMBER

router = APIRouter(prefix="/api/v1/projects/{project}/runs", tags=["workflows"])

ProjectPath = Annotated[str, Path(max_length=64, description="Project name.")]
RunPath = Annotated[int, Path(ge=1, le=MAX_NUMBER, description="Run number.")]


@router.get("", response_model=Page[RunRead])
async def list_runs(
    project: ProjectPath,
    session: SessionDep,
    principal: PrincipalDep,
    state: Annotated[RunState | None, Query()] = None,
    workflow: Annotated[str | None, Query(max_length=64)] = None,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Page[RunRead]:
    """List the project's runs, newest first (read role)."""
    items, total = await service.list_runs(
        session,
        principal=principal,
        project=project,
        filters=RunFilter(state=state, workflow=workflow),
        offset=offset,
        limit=limit,
    )
    return Page(items=items, total=total)


@router.post("", response_model=RunDetail, status_code=status.HTTP_201_CREATED)
async def start_run(
    project: ProjectPath, data: RunCreate, session: SessionDep, principal: PrincipalDep
) -> RunDetail:
    """Start a run of a workflow (write role). It is `pending` until the engine gives it its
    first task, in the workflow's first phase (a moment, with a worker running)."""
    return await service.start_run(session, principal=principal, project=project, data=data)


@router.get("/{number}", response_model=RunDetail)
async def show_run(
    project: ProjectPath, number: RunPath, session: SessionDep, principal: PrincipalDep
) -> RunDetail:
    """Show a run: its phases with their tasks by state, approvals, result (read role)."""
    return await service.get_run(session, principal=principal, project=project, number=number)


@router.post("/{number}/pause", response_model=RunDetail)
async def pause_run(
    project: ProjectPath, number: RunPath, session: SessionDep, principal: PrincipalDep
) -> RunDetail:
    """Pause a run: no task of it can be claimed until it resumes (write role)."""
    return await service.pause_run(session, principal=principal, project=project, number=number)


@router.post("/{number}/resume", response_model=RunDetail)
async def resume_run(
    project: ProjectPath, number: RunPath, session: SessionDep, principal: PrincipalDep
) -> RunDetail:
    """Resume a paused run where it was (write role)."""
    return await service.resume_run(session, principal=principal, project=project, number=number)


@router.post("/{number}/cancel", response_model=RunDetail)
async def cancel_run(
    project: ProjectPath, number: RunPath, session: SessionDep, principal: PrincipalDep
) -> RunDetail:
    """Cancel a run: its approvals and steps waiting are dropped (write role)."""
    return await service.cancel_run(session, principal=principal, project=project, number=number)


@router.post("/{number}/result", response_model=RunDetail)
async def submit_result(
    project: ProjectPath,
    number: RunPath,
    data: ResultSubmit,
    session: SessionDep,
    principal: PrincipalDep,
) -> RunDetail:
    """Submit the run's result, a Markdown summary with evidence (write role); its check and
    approval, if the workflow has them, decide whether it succeeds."""
    return await service.submit_result(
        session, principal=principal, project=project, number=number, data=data
    )


@router.post("/{number}/approvals/{approval}", response_model=RunDetail)
async def decide(
    project: ProjectPath,
    number: RunPath,
    approval: Annotated[int, Path(ge=1, le=MAX_ID, description="The approval's id.")],
    data: Decision,
    session: SessionDep,
    principal: PrincipalDep,
) -> RunDetail:
    """Approve or reject what the run waits for (write role; someone other than who did the
    work decides a review)."""
    return await service.decide(
        session,
        principal=principal,
        project=project,
        number=number,
        approval_id=approval,
        data=data,
    )


ROUTERS = (router,)
