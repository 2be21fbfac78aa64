"""Workflows tools for agents: take the next task, read one, update it, create one, search;
read the run a task is part of, and submit a run's result.

The caller is the token's principal: a claim is the caller's, never an argument's.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from devflow.core import render
from devflow.core.errors import Invalid
from devflow.core.tools import Call, Contribution, ProjectArg, ToolDef
from devflow.knowledge import EMBEDDER, KnowledgeSettings
from devflow.workflows import claims, reads, service, similar
from devflow.workflows.definitions.service import get_definition
from devflow.workflows.definitions.spec import Phase, WorkflowSpec
from devflow.workflows.runs import service as runs
from devflow.workflows.runs.schemas import ResultSubmit, RunDetail
from devflow.workflows.schemas import (
    MAX_NUMBER,
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
from devflow.workflows.similar import TaskHit

NumberArg = Annotated[int, Field(ge=1, le=MAX_NUMBER, description="Task number (12 for #12).")]
RunArg = Annotated[int, Field(ge=1, le=MAX_NUMBER, description="Run number.")]
_BODY_CHARS = 4000


def _line(task: TaskRead) -> str:
    who = f" @{task.assignee}" if task.assignee else ""
    blocked = " blocked" if task.blocked else ""
    return f"#{task.number} [{task.column}, {task.priority}{blocked}]{who} {task.title}"


def _detail(task: TaskDetail) -> str:
    body = task.body if len(task.body) <= _BODY_CHARS else task.body[:_BODY_CHARS] + " …"
    head = render.fields(
        [
            ("task", f"#{task.number} {task.title}"),
            ("type", task.type),
            ("column", f"{task.column} ({task.state})"),
            ("priority", task.priority),
            ("assignee", task.assignee),
            ("lease until", render.when(task.lease_expires_at) if task.lease_expires_at else ""),
            ("labels", ", ".join(task.labels)),
            ("parent", f"#{task.parent}" if task.parent else ""),
            ("blocked by", " ".join(f"#{n}" for n in task.blocked_by)),
            ("sub-tasks", " ".join(f"#{n}" for n in task.children)),
            ("run", f"{task.run}, phase {task.phase}" if task.run else ""),
            (
                "held",
                {"approval": "until approved", "validation": "while checked"}.get(
                    task.gate or "", ""
                ),
            ),
            ("links", " ".join(f"{link.kind}:{link.ref}" for link in task.links)),
            ("comments", task.comment_count),
            ("version", task.version),
        ]
    )
    done = f"\n\nDone when:\n{task.done_definition}" if task.done_definition else ""
    return f"{head}\n\n{body}{done}".rstrip()


async def task_next(call: Call, project: ProjectArg = None) -> str:
    """Claim your next task and show it (it stays yours while you update it)."""
    lease = call.settings.section(WorkflowsSettings).lease
    task = await claims.claim_next(
        call.session, principal=call.principal, project=project, lease=lease
    )
    return _detail(task) if task else "No task is free to claim."


async def task_get(call: Call, number: NumberArg, project: ProjectArg = None) -> str:
    """Read a task."""
    task = await reads.get_task(
        call.session, principal=call.principal, project=project, number=number
    )
    return _detail(task)


async def task_update(
    call: Call,
    number: NumberArg,
    version: Annotated[
        int | None, Field(ge=1, description="From task_get; needed to change.")
    ] = None,
    column: Annotated[str | None, Field(max_length=64, description="e.g. In review.")] = None,
    comment: Annotated[str | None, Field(max_length=20_000, description="Progress note.")] = None,
    summary: Annotated[str | None, Field(max_length=200, description="New title.")] = None,
    body: Annotated[str | None, Field(max_length=100_000)] = None,
    project: ProjectArg = None,
) -> str:
    """Move a task, change its text, and/or add a progress note."""
    changes = {k: v for k, v in {"column": column, "title": summary, "body": body}.items() if v}
    if not changes and not comment:
        raise Invalid("nothing to do: give column, summary, body or comment")
    lease = call.settings.section(WorkflowsSettings).lease
    args = {"principal": call.principal, "project": project, "number": number, "lease": lease}
    if comment:
        await service.add_comment(call.session, body=comment, **args)  # type: ignore[arg-type]
    if changes:
        if version is None:
            raise Invalid("give the task's version (task_get shows it) to change it")
        data = TaskUpdate(version=version, **changes)
        task = await service.update_task(call.session, data=data, **args)  # type: ignore[arg-type]
    else:
        task = await reads.get_task(
            call.session, principal=call.principal, project=project, number=number
        )
    return _detail(task)


async def task_create(
    call: Call,
    summary: Annotated[str, Field(min_length=1, max_length=200, description="Its title.")],
    body: Annotated[str, Field(max_length=100_000, description="Markdown.")] = "",
    done_definition: Annotated[str, Field(max_length=100_000)] = "",
    type: TaskType = "task",  # noqa: A002 - the task's public field name
    priority: Priority = "medium",
    parent: Annotated[int | None, Field(ge=1, le=MAX_NUMBER)] = None,
    blocked_by: Annotated[list[int], Field(max_length=100)] | None = None,
    labels: Annotated[list[str], Field(max_length=20)] | None = None,
    run: RunArg | None = None,
    phase: Annotated[
        str | None, Field(max_length=64, description="Of the run; default: its first.")
    ] = None,
    project: ProjectArg = None,
) -> str:
    """Create a task for work you found (in a run's phase with `run`)."""
    data = TaskCreate(
        title=summary,
        body=body,
        done_definition=done_definition,
        type=type,
        priority=priority,
        parent=parent,
        blocked_by=blocked_by or [],
        labels=labels or [],
        run=run,
        phase=phase,
    )
    task = await service.create_task(
        call.session,
        principal=call.principal,
        project=project,
        data=data,
        embedder=call.services.get(EMBEDDER),
        duplicate_threshold=call.settings.section(WorkflowsSettings).duplicate_threshold,
    )
    flag = (
        f" Possible duplicate of #{task.duplicate_of} (similarity {task.duplicate_score:.2f}):"
        " read it before you start."
        if task.duplicate_of is not None and task.duplicate_score is not None
        else ""
    )
    return f"Created #{task.number} (version {task.version}).{flag}\n\n{_detail(task)}"


async def task_search(
    call: Call,
    query: Annotated[str, Field(max_length=500, description="Keywords, or #12.")] = "",
    state: State | None = None,
    mine: Annotated[bool, Field(description="Only tasks assigned to you.")] = False,
    project: ProjectArg = None,
    cursor: Annotated[str | None, Field(description="From the previous answer.")] = None,
) -> str:
    """Search tasks and their comments by words and meaning; or list them by state."""
    if query and not mine:
        hits = await similar.search_tasks(
            call.session,
            principal=call.principal,
            project=project,
            query=query,
            embedder=call.services.get(EMBEDDER),
            settings=call.settings.section(KnowledgeSettings),
            limit=call.page_size,
            state=state,
        )
        if not hits:
            return "No tasks match."
        return "\n".join(_hit(h) for h in hits)
    offset = render.decode_cursor(cursor)
    filters = TaskFilter(
        q=query or None, state=state, assignee=call.principal.username if mine else None
    )
    items, total = await reads.list_tasks(
        call.session,
        principal=call.principal,
        project=project,
        filters=filters,
        offset=offset,
        limit=call.page_size,
    )
    if not items:
        return "No tasks match."
    nxt = offset + len(items) if total > offset + len(items) else None
    return "\n".join(_line(t) for t in items) + render.more(nxt)


def _hit(hit: TaskHit) -> str:
    via = f" — comment: {hit.comment}" if hit.comment else ""
    return f"#{hit.number} [{hit.state}] {hit.title}{via}"


def _phase_text(phase: Phase, spec: WorkflowSpec) -> str:
    limits = phase.constraints
    check = phase.validation
    names = {p.id: p.name for p in spec.phases}
    return render.fields(
        [
            ("phase", f"{phase.id} ({phase.name})"),
            ("instructions", phase.instructions.strip()),
            ("done when", phase.done_definition.strip()),
            ("allowed paths", ", ".join(limits.allowed_paths)),
            ("forbidden commands", ", ".join(limits.forbidden_commands)),
            (
                "checked by",
                {"command": f"`{check.command}`", "reviewer": "a reviewer"}.get(check.kind, ""),
            ),
            ("leads to", ", ".join(f"{n} ({names.get(n, n)})" for n in phase.next)),
        ]
    )


def _run_text(run: RunDetail) -> str:
    goal = run.goal if len(run.goal) <= _BODY_CHARS else run.goal[:_BODY_CHARS] + " …"
    waiting = [
        f"approval {a.id}: {a.kind} {a.phase or ''} {f'task #{a.task}' if a.task else ''}".rstrip()
        for a in run.approvals
        if a.state == "pending"
    ]
    phases = [
        f"{p.id}: " + (", ".join(f"{s} {n}" for s, n in p.tasks.items()) or "no tasks")
        for p in run.phases
    ]
    result = "submitted" if run.result else "none yet (run_result when the goal is met)"
    head = render.fields(
        [
            ("run", f"{run.number} ({run.workflow} v{run.workflow_version}, {run.state})"),
            ("repository", f"{run.repository} {run.base_branch or ''}".strip()),
            ("params", ", ".join(f"{k}={v}" for k, v in run.params.items())),
            ("phases", "; ".join(phases)),
            ("waiting for a person", "; ".join(waiting)),
            ("result", result),
            ("outcome", run.outcome),
        ]
    )
    return f"{head}\n\nGoal:\n{goal}"


async def run_info(
    call: Call,
    task: Annotated[
        int | None, Field(ge=1, le=MAX_NUMBER, description="A task: read its run and phase.")
    ] = None,
    run: RunArg | None = None,
    project: ProjectArg = None,
) -> str:
    """Read a run: goal, approvals waiting; with `task`, its phase's instructions too."""
    who, session = call.principal, call.session
    phase_id = None
    if task is not None:
        found = await reads.get_task(session, principal=who, project=project, number=task)
        if found.run is None:
            raise Invalid(f"task #{task} is not part of a run")
        run, phase_id = found.run, found.phase
    if run is None:
        raise Invalid("give task (a task of a run) or run (a run's number)")
    detail = await runs.get_run(session, principal=who, project=project, number=run)
    text = _run_text(detail)
    if phase_id is None:
        return text
    definition = await get_definition(
        session, who, project, detail.workflow, detail.workflow_version
    )
    spec = WorkflowSpec.model_validate(definition.spec)
    phase = spec.phase(phase_id)
    return f"{_phase_text(phase, spec)}\n\n{text}" if phase else text


async def run_result(
    call: Call,
    run: RunArg,
    summary: Annotated[
        str, Field(min_length=1, max_length=100_000, description="Markdown, with evidence.")
    ],
    project: ProjectArg = None,
) -> str:
    """Submit a run's result when its goal is met."""
    detail = await runs.submit_result(
        call.session,
        principal=call.principal,
        project=project,
        number=run,
        data=ResultSubmit(summary=summary),
    )
    follows = {
        "running": "its check runs now; run_info tells the outcome",
        "awaiting_approval": "a person decides whether it is accepted",
    }.get(detail.state, "")
    return f"Result of run {run} submitted; the run is {detail.state}. {follows}".strip()


TOOLS = Contribution(
    tools=[
        ToolDef("task_next", "Claim your next task on the board.", task_next, read_only=False),
        ToolDef("task_get", "Read a task (text, blockers, version).", task_get),
        ToolDef("task_update", "Move a task, edit it, or add a progress note.", task_update, False),
        ToolDef("task_create", "Create a task.", task_create, read_only=False),
        ToolDef("task_search", "Search or list tasks.", task_search),
        ToolDef("run_info", "Read the run (and phase) of a task, or a run.", run_info),
        ToolDef("run_result", "Submit a run's result.", run_result, read_only=False),
    ]
)
"""The workflows domain's tools for agents."""
