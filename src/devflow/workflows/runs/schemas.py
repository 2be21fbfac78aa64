"""Run input and output shapes: starting a run, its phases, approvals and result."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

from devflow.workflows.schemas import MAX_NUMBER, PhaseId, StrictInput

RunState = Literal[
    "pending", "running", "paused", "awaiting_approval", "succeeded", "failed", "cancelled"
]
ApprovalState = Literal["pending", "approved", "rejected", "cancelled"]
ApprovalKind = Literal["phase", "review", "result"]
WorkflowName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,63}$")]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20_000)]
ParamValue = str | int | float | bool | None


class RunCreate(StrictInput):
    """Start a run of a workflow towards a goal."""

    workflow: WorkflowName = Field(description="A definition's name (`devflow workflow list`).")
    version: int | None = Field(
        None, ge=1, le=MAX_NUMBER, description="A version of it; default: the latest."
    )
    goal: Text = Field(description="What the run is for (Markdown); its first task says it.")
    params: Annotated[dict[str, ParamValue], Field(max_length=50)] = Field(
        default_factory=dict, description="The definition's launch parameters, by name."
    )
    repository: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = Field(
        None, description="A repository of the project the run works on."
    )
    base_branch: Annotated[str, StringConstraints(min_length=1, max_length=255)] | None = Field(
        None, description="Its branch the work starts from; default: its default branch."
    )


class ResultSubmit(StrictInput):
    """The run's result: a Markdown summary with evidence (links, commands and their output)."""

    summary: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100_000)
    ]


class Decision(StrictInput):
    """A human's answer to an approval."""

    decision: Literal["approve", "reject"]
    comment: Annotated[str, StringConstraints(strip_whitespace=True, max_length=20_000)] = ""


class ApprovalRead(BaseModel):
    """An approval a run waits for, or one decided."""

    id: int
    kind: ApprovalKind = Field(
        description="`phase`: a task entering a gated phase; `review`: a task's work, checked "
        "by a reviewer; `result`: the run's result."
    )
    phase: str | None
    task: int | None
    state: ApprovalState
    requested_at: datetime
    due_at: datetime | None
    on_timeout: Literal["approve", "reject"]
    decided_by: str | None
    decided_at: datetime | None
    comment: str | None


class PhaseRead(BaseModel):
    """A phase of the run's definition, with how many of its tasks are in each state."""

    id: PhaseId
    name: str
    description: str
    instructions: str
    done_definition: str
    max_agents: int | None
    approval: bool
    validation: Literal["none", "command", "reviewer"]
    next: list[str]
    tasks: dict[str, int] = Field(description="Its tasks by state (open, in_progress, …).")


class RunRead(BaseModel):
    """A run as listings show it."""

    number: int
    workflow: str
    workflow_version: int
    goal: str
    state: RunState
    created_by: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    version: int


class RunDetail(RunRead):
    """A run with its parameters, phases, approvals and result."""

    params: dict[str, Any]
    repository: str | None
    base_branch: str | None
    result: str | None
    outcome: str | None
    phases: list[PhaseRead]
    approvals: list[ApprovalRead]


class RunFilter(BaseModel):
    """What a run listing keeps."""

    state: RunState | None = None
    workflow: str | None = None


__all__ = [
    "ApprovalRead",
    "Decision",
    "PhaseRead",
    "ResultSubmit",
    "RunCreate",
    "RunDetail",
    "RunFilter",
    "RunRead",
    "RunState",
]
