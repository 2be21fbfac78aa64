"""Work input and output shapes: tasks, comments, history, the board."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

MAX_NUMBER = 2**31 - 1  # a task number or version: PostgreSQL's integer
TaskType = Literal["task", "bug", "feature", "epic"]
Priority = Literal["low", "medium", "high", "urgent"]
State = Literal["open", "in_progress", "review", "done"]
Gate = Literal["approval", "validation"]
PhaseId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,63}$")]
LinkKind = Literal["branch", "commit", "url", "pull_request"]
PRIORITIES: dict[str, int] = {"low": 1, "medium": 2, "high": 3, "urgent": 4}
PRIORITY_NAMES = {v: k for k, v in PRIORITIES.items()}

Number = Annotated[int, Field(ge=1, le=MAX_NUMBER, description="A task's number (`#12` is 12).")]
Title = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    Field(description="One line, 1 to 200 characters."),
]
Body = Annotated[str, Field(max_length=100_000, description="Markdown.")]
Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
Username = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
ColumnName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
    Field(description="A board column's name (any case) or id."),
]
Milestone = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)]

_COMMIT = re.compile(r"^[0-9a-f]{7,64}$")


def _no_nul(value: Any) -> Any:
    """Refuse a NUL character, which PostgreSQL's text cannot hold (the API's guard refuses it
    too; tools and services reach these shapes without it)."""
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("a NUL character cannot be stored: remove it")
    if isinstance(value, list):
        for item in value:
            _no_nul(item)
    if isinstance(value, dict):
        for key, item in value.items():
            _no_nul(key)
            _no_nul(item)
    return value


class StrictInput(BaseModel):
    """An input shape: unknown fields and NUL characters are refused."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _nul(cls, value: Any) -> Any:
        return _no_nul(value)


class Link(StrictInput):
    """A link from a task to a branch, a commit, a pull request or any URL."""

    kind: LinkKind
    ref: str = Field(min_length=1, max_length=500, description="Branch name, commit, or URL.")
    title: str = Field("", max_length=200)

    @field_validator("ref")
    @classmethod
    def _shape(cls, ref: str, info: Any) -> str:
        kind = info.data.get("kind")
        if kind in {"url", "pull_request"} and not ref.startswith(("http://", "https://")):
            raise ValueError(f"a {kind} link is an http(s) URL")
        if kind == "commit" and not _COMMIT.match(ref):
            raise ValueError("a commit link is 7 to 64 lower-case hexadecimal digits")
        return ref


Labels = Annotated[list[Label], Field(max_length=20, description="Up to 20 labels.")]
BlockedBy = Annotated[
    list[Number], Field(max_length=100, description="Numbers of the tasks that block it.")
]
Links = Annotated[list[Link], Field(max_length=50)]


class TaskCreate(StrictInput):
    """A new task (it starts in the board's first open column, unless `column` says)."""

    title: Title
    body: Body = ""
    done_definition: Body = Field("", description="When is it done (Markdown).")
    type: TaskType = "task"
    priority: Priority = "medium"
    labels: Labels = Field(default_factory=list)
    assignee: Username | None = Field(None, description="A user name.")
    parent: Number | None = None
    blocked_by: BlockedBy = Field(default_factory=list)
    milestone: Milestone | None = None
    column: ColumnName | None = None
    links: Links = Field(default_factory=list)
    run: Number | None = Field(None, description="The run it is part of (its number).")
    phase: PhaseId | None = Field(
        None, description="A phase of the run's workflow; default: the run's first phase."
    )


class TaskUpdate(StrictInput):
    """A change to a task: only the fields given change. `version` is the one you saw."""

    version: int = Field(ge=1, le=MAX_NUMBER, description="The task's version you last read.")
    title: Title | None = None
    body: Body | None = None
    done_definition: Body | None = None
    type: TaskType | None = None
    priority: Priority | None = None
    labels: Labels | None = None
    assignee: str | None = Field(None, max_length=64, description='A user name; "" unassigns.')
    parent: int | None = Field(
        None, ge=0, le=MAX_NUMBER, description="A task number; 0 removes the parent."
    )
    blocked_by: BlockedBy | None = None
    milestone: Milestone | None = None
    links: Links | None = None
    phase: PhaseId | None = Field(None, description="Move it to this phase of its run.")
    column: ColumnName | None = Field(None, description="Move it to this column.")
    before: Number | None = Field(None, description="Place it just before this task.")
    after: Number | None = Field(None, description="Place it just after this task.")


class TaskRead(BaseModel):
    """A task as listings and the board show it."""

    number: int
    title: str
    type: TaskType
    priority: Priority
    labels: list[str]
    state: State
    column: str
    assignee: str | None
    assignee_kind: str | None
    lease_expires_at: datetime | None
    parent: int | None
    blocked_by: list[int]
    blocked: bool = Field(description="Some task in `blocked_by` is not done yet.")
    milestone: str | None
    run: int | None = Field(description="The run it is part of (its number).")
    phase: str | None = Field(description="Its phase in that run's workflow.")
    gate: Gate | None = Field(
        description="Why it cannot be taken yet: `approval` (waiting for a human to let it "
        "into its phase) or `validation` (its work is being checked)."
    )
    duplicate_of: int | None = Field(
        description="Possibly a duplicate of this task: their texts are close in meaning."
    )
    duplicate_score: float | None = Field(description="How close, 0 to 1 (cosine).")
    version: int
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None


class TaskDetail(TaskRead):
    """A task with its text, links and sub-tasks."""

    body: str
    done_definition: str
    links: list[Link]
    children: list[int]
    created_by: str | None
    comment_count: int


class CommentCreate(StrictInput):
    """A comment or progress note."""

    body: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20_000)]


class CommentRead(BaseModel):
    """A comment."""

    id: int
    author: str | None
    body: str
    created_at: datetime


class ChangeRead(BaseModel):
    """One change in a task's history."""

    id: int
    at: datetime
    actor: str | None
    field: str
    old: Any
    new: Any
    note: str | None


class ColumnCreate(StrictInput):
    """A new board column (project admins)."""

    name: ColumnName
    state: State
    wip_limit: int | None = Field(None, ge=1, le=100_000, description="None: no limit.")
    position: int | None = Field(
        None, ge=0, le=1000, description="0 is first; default: after the last."
    )


class ColumnUpdate(StrictInput):
    """A change to a column; `wip_limit: 0` removes the limit."""

    name: ColumnName | None = None
    state: State | None = None
    wip_limit: int | None = Field(None, ge=0, le=100_000)
    position: int | None = Field(None, ge=0, le=1000)


class ColumnRead(BaseModel):
    """A board column with its task count."""

    id: uuid.UUID
    name: str
    state: State
    position: int
    wip_limit: int | None
    count: int


class BoardColumnRead(ColumnRead):
    """A column on the board with its first tasks, in order."""

    tasks: list[TaskRead]


class BoardRead(BaseModel):
    """A project's board: its columns in order, each with its first tasks."""

    project: str
    columns: list[BoardColumnRead]


class TaskFilter(BaseModel):
    """What a task listing keeps."""

    state: State | None = None
    column: str | None = None
    assignee: str | None = None
    label: str | None = None
    type: TaskType | None = None
    parent: int | None = None
    q: str | None = None
    blocked: bool | None = None
    run: int | None = None
    phase: str | None = None
    priority: Priority | None = None
