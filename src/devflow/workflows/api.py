"""HTTP routes of the workflows domain: tasks and the board, under /api/v1/projects/{project}."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from devflow.core.http import PrincipalDep, ServicesDep, SessionDep
from devflow.core.schemas import MAX_OFFSET, Page
from devflow.knowledge import EMBEDDER, KnowledgeSettings
from devflow.workflows import board, claims, reads, service, similar
from devflow.workflows.definitions import api as definitions_api
from devflow.workflows.runs import api as runs_api
from devflow.workflows.schemas import (
    MAX_NUMBER,
    BoardRead,
    ChangeRead,
    ColumnCreate,
    ColumnRead,
    ColumnUpdate,
    CommentCreate,
    CommentRead,
    Priority,
    State,
    TaskCreate,
    TaskDetail,
    TaskFilter,
    TaskRead,
    TaskType,
    TaskUpdate,
)
from devflow.workflows.settings import WorkflowsSettings
from devflow.workflows.similar import MAX_QUERY_CHARS, TaskHit

router = APIRouter(prefix="/api/v1/projects/{project}", tags=["workflows"])

ProjectPath = Annotated[str, Path(max_length=64, description="Project name.")]
NumberPath = Annotated[int, Path(ge=1, le=MAX_NUMBER, description="Task number (12 for #12).")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]
Limit = Annotated[int, Query(ge=1, le=500)]


def _settings(services: ServicesDep) -> WorkflowsSettings:
    return services.settings.section(WorkflowsSettings)


@router.get("/tasks", response_model=Page[TaskRead])
async def list_tasks(
    project: ProjectPath,
    session: SessionDep,
    principal: PrincipalDep,
    state: Annotated[State | None, Query()] = None,
    column: Annotated[str | None, Query(max_length=64)] = None,
    assignee: Annotated[str | None, Query(max_length=64, description="'none': no one.")] = None,
    label: Annotated[str | None, Query(max_length=50)] = None,
    type: Annotated[TaskType | None, Query()] = None,  # noqa: A002 - the filter's public name
    parent: Annotated[int | None, Query(ge=1, le=MAX_NUMBER)] = None,
    blocked: Annotated[bool | None, Query()] = None,
    q: Annotated[str | None, Query(max_length=500, description="Keywords, or #12.")] = None,
    run: Annotated[int | None, Query(ge=1, le=MAX_NUMBER, description="A run's number.")] = None,
    phase: Annotated[str | None, Query(max_length=64, description="A phase id.")] = None,
    priority: Annotated[Priority | None, Query()] = None,
    offset: Offset = 0,
    limit: Limit = 50,
) -> Page[TaskRead]:
    """List tasks, newest first (in board order when filtered by column); `q` searches titles,
    text and comments."""
    filters = TaskFilter(
        state=state,
        column=column,
        assignee=assignee,
        label=label,
        type=type,
        parent=parent,
        blocked=blocked,
        q=q,
        run=run,
        phase=phase,
        priority=priority,
    )
    items, total = await reads.list_tasks(
        session, principal=principal, project=project, filters=filters, offset=offset, limit=limit
    )
    return Page(items=items, total=total)


@router.post("/tasks", response_model=TaskDetail, status_code=status.HTTP_201_CREATED)
async def create_task(
    project: ProjectPath,
    data: TaskCreate,
    session: SessionDep,
    principal: PrincipalDep,
    services: ServicesDep,
) -> TaskDetail:
    """Create a task (write role); it gets the project's next number, and `duplicate_of` when
    its text is close in meaning to a task that is not done."""
    return await service.create_task(
        session,
        principal=principal,
        project=project,
        data=data,
        embedder=services.get(EMBEDDER),
        duplicate_threshold=_settings(services).duplicate_threshold,
    )


@router.get("/tasks/search", response_model=list[TaskHit])
async def search_tasks(
    project: ProjectPath,
    session: SessionDep,
    principal: PrincipalDep,
    services: ServicesDep,
    q: Annotated[str, Query(min_length=1, max_length=MAX_QUERY_CHARS, description="Words.")],
    state: Annotated[State | None, Query()] = None,
    run: Annotated[int | None, Query(ge=1, le=MAX_NUMBER, description="A run's number.")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> list[TaskHit]:
    """Search tasks and their comments by words and by meaning (read role), best first; a hit
    found through a comment says which."""
    return await similar.search_tasks(
        session,
        principal=principal,
        project=project,
        query=q,
        embedder=services.get(EMBEDDER),
        settings=services.settings.section(KnowledgeSettings),
        limit=limit,
        state=state,
        run=run,
    )


@router.post(
    "/tasks/next",
    response_model=TaskDetail,
    responses={204: {"description": "No task is free to claim."}},
)
async def claim_next(
    project: ProjectPath, session: SessionDep, principal: PrincipalDep, services: ServicesDep
) -> TaskDetail | Response:
    """Claim your next task (write role): the highest-priority open, unblocked task, assigned
    to you alone and moved to the first in-progress column with a lease; 204 when none is free."""
    claimed = await claims.claim_next(
        session, principal=principal, project=project, lease=_settings(services).lease
    )
    return claimed if claimed is not None else Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/tasks/{number}", response_model=TaskDetail)
async def show_task(
    project: ProjectPath, number: NumberPath, session: SessionDep, principal: PrincipalDep
) -> TaskDetail:
    """Show a task with its text, links, blockers and sub-tasks."""
    return await reads.get_task(session, principal=principal, project=project, number=number)


@router.patch("/tasks/{number}", response_model=TaskDetail)
async def update_task(
    project: ProjectPath,
    number: NumberPath,
    data: TaskUpdate,
    session: SessionDep,
    principal: PrincipalDep,
    services: ServicesDep,
) -> TaskDetail:
    """Change a task (write role), moving it with `column`/`before`/`after`; send the `version`
    you read: a stale one gets 409 with the current version."""
    return await service.update_task(
        session,
        principal=principal,
        project=project,
        number=number,
        data=data,
        lease=_settings(services).lease,
        embedder=services.get(EMBEDDER),
    )


@router.get("/tasks/{number}/comments", response_model=Page[CommentRead])
async def list_comments(
    project: ProjectPath,
    number: NumberPath,
    session: SessionDep,
    principal: PrincipalDep,
    offset: Offset = 0,
    limit: Limit = 50,
) -> Page[CommentRead]:
    """List a task's comments, oldest first."""
    items, total = await reads.list_comments(
        session, principal=principal, project=project, number=number, offset=offset, limit=limit
    )
    return Page(items=items, total=total)


@router.post(
    "/tasks/{number}/comments", response_model=CommentRead, status_code=status.HTTP_201_CREATED
)
async def add_comment(
    project: ProjectPath,
    number: NumberPath,
    data: CommentCreate,
    session: SessionDep,
    principal: PrincipalDep,
    services: ServicesDep,
) -> CommentRead:
    """Comment on a task, or note progress (write role)."""
    return await service.add_comment(
        session,
        principal=principal,
        project=project,
        number=number,
        body=data.body,
        lease=_settings(services).lease,
        embedder=services.get(EMBEDDER),
    )


@router.get("/tasks/{number}/history", response_model=Page[ChangeRead])
async def task_history(
    project: ProjectPath,
    number: NumberPath,
    session: SessionDep,
    principal: PrincipalDep,
    offset: Offset = 0,
    limit: Limit = 100,
) -> Page[ChangeRead]:
    """List a task's changes, oldest first: who, when, which field, old and new value."""
    items, total = await reads.history(
        session, principal=principal, project=project, number=number, offset=offset, limit=limit
    )
    return Page(items=items, total=total)


@router.get("/board", response_model=BoardRead)
async def show_board(
    project: ProjectPath,
    session: SessionDep,
    principal: PrincipalDep,
    services: ServicesDep,
    limit: Annotated[int | None, Query(ge=1, le=1000, description="Tasks per column.")] = None,
) -> Response:
    """Show the board: its columns in order, each with its count, WIP limit and first tasks."""
    shown = await reads.show_board(
        session,
        principal=principal,
        project=project,
        limit=limit or _settings(services).board_tasks,
    )
    # Serialised once, here: FastAPI would validate the board's hundreds of tasks again.
    return Response(shown.model_dump_json(), media_type="application/json")


@router.post("/board/columns", response_model=ColumnRead, status_code=status.HTTP_201_CREATED)
async def create_column(
    project: ProjectPath, data: ColumnCreate, session: SessionDep, principal: PrincipalDep
) -> ColumnRead:
    """Add a column to the board (project admins)."""
    return await board.create_column(session, principal=principal, project=project, data=data)


@router.patch("/board/columns/{column}", response_model=ColumnRead)
async def update_column(
    project: ProjectPath,
    column: Annotated[str, Path(max_length=64, description="Column name or id.")],
    data: ColumnUpdate,
    session: SessionDep,
    principal: PrincipalDep,
) -> ColumnRead:
    """Rename a column, change its state, WIP limit (0: none) or position (project admins)."""
    return await board.update_column(
        session, principal=principal, project=project, ref=column, data=data
    )


@router.delete("/board/columns/{column}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_column(
    project: ProjectPath,
    column: Annotated[str, Path(max_length=64, description="Column name or id.")],
    session: SessionDep,
    principal: PrincipalDep,
) -> None:
    """Remove an empty column (project admins)."""
    await board.delete_column(session, principal=principal, project=project, ref=column)


ROUTERS = (router, *definitions_api.ROUTERS, *runs_api.ROUTERS)
"""The routers this module serves (the domain manifest names them)."""
