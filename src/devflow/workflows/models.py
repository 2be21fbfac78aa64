"""Work tables: board columns, tasks, their dependencies, comments and history."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from pgvector.sqlalchemy import Vector
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Numeric,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    literal_column,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from devflow.core import clock
from devflow.core.db import Base

STATES = ("open", "in_progress", "review", "done")
"""What a column means for the tasks in it; claiming takes `open` tasks into `in_progress`."""

GATES = ("approval", "validation")
"""Why a task of a run waits: a human's approval to enter its phase, or the check of its work."""

RUN_STATES = (
    "pending",
    "running",
    "paused",
    "awaiting_approval",
    "succeeded",
    "failed",
    "cancelled",
)
"""A run's states; the last three are final."""


class BoardColumn(Base):
    """A column of a project's board, in `position` order, mapping to a state."""

    __tablename__ = "board_column"
    __table_args__ = (
        Index(
            "uq_board_column_project_name",
            "project_id",
            func.lower(literal_column("name")),
            unique=True,
        ),
        CheckConstraint("wip_limit IS NULL OR wip_limit > 0", name="wip_limit_positive"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    position: Mapped[int] = mapped_column(Integer)
    wip_limit: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class TaskCounter(Base):
    """The last task number of a project: its row lock makes numbers gapless under concurrency
    (a creation that rolls back gives its number back with it)."""

    __tablename__ = "task_counter"

    project_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), primary_key=True
    )
    last_number: Mapped[int] = mapped_column(Integer)


class Task(Base):
    """A unit of work on a project's board (`#number` within its project)."""

    __tablename__ = "task"
    __table_args__ = (
        UniqueConstraint("project_id", "number"),
        Index("ix_task_column_rank", "column_id", "rank"),
        # The claim's queue: open tasks by priority, then age.
        Index(
            "ix_task_queue",
            "project_id",
            text("priority DESC"),
            "number",
            postgresql_where=text("state = 'open'"),
        ),
        Index(
            "ix_task_lease",
            "lease_expires_at",
            postgresql_where=text("lease_expires_at IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    done_definition: Mapped[str] = mapped_column(Text, default="")
    type: Mapped[str] = mapped_column(String(16), default="task")
    priority: Mapped[int] = mapped_column(SmallInteger, default=2)
    labels: Mapped[list[str]] = mapped_column(ARRAY(String(50)), default=list)
    column_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("board_column.id"))
    state: Mapped[str] = mapped_column(String(16))  # its column's, kept with every move
    rank: Mapped[Decimal] = mapped_column(Numeric)
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user.id", ondelete="SET NULL"), index=True
    )
    assignee_kind: Mapped[str | None] = mapped_column(String(16))  # user (agent: next issue)
    lease_expires_at: Mapped[datetime | None]
    parent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("task.id", ondelete="SET NULL"), index=True
    )
    milestone: Mapped[str | None] = mapped_column(String(100))
    run_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("workflow_run.id", ondelete="SET NULL"), index=True
    )
    phase: Mapped[str | None] = mapped_column(String(64))  # an id of its run's definition
    phase_cap: Mapped[int | None] = mapped_column(SmallInteger)  # the phase's max_agents
    gate: Mapped[str | None] = mapped_column(String(16))  # GATES: not claimable until it clears
    links: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)
    closed_at: Mapped[datetime | None]
    # Set at creation by `similar.flag_duplicates`: the open task whose text is closest to this
    # one's when it passes `workflows.duplicate_threshold`, and that cosine similarity.
    duplicate_of: Mapped[int | None] = mapped_column(Integer)  # a task number of the project
    duplicate_score: Mapped[float | None] = mapped_column(Float)


class TaskDependency(Base):
    """`task_id` is blocked by `blocker_id` until the blocker is done."""

    __tablename__ = "task_dependency"

    task_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("task.id", ondelete="CASCADE"), primary_key=True
    )
    blocker_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("task.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class TaskComment(Base):
    """A comment or progress note on a task."""

    __tablename__ = "task_comment"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    task_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("task.id", ondelete="CASCADE"), index=True
    )
    author_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class TaskChange(Base):
    """One field of a task changed: who, when, old → new (the task's history)."""

    __tablename__ = "task_change"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    task_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("task.id", ondelete="CASCADE"), index=True
    )
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    at: Mapped[datetime] = mapped_column(default=clock.now)
    field: Mapped[str] = mapped_column(String(32))
    old: Mapped[Any] = mapped_column(JSONB, nullable=True)
    new: Mapped[Any] = mapped_column(JSONB, nullable=True)
    note: Mapped[str | None] = mapped_column(String(200))


class WorkflowDefinition(Base):
    """One version of a project's workflow definition; a run keeps the version it started with."""

    __tablename__ = "workflow_definition"
    __table_args__ = (UniqueConstraint("project_id", "name", "version"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(Text)  # the YAML as given
    spec: Mapped[dict[str, Any]] = mapped_column(JSONB)  # WorkflowSpec, normalised
    origin: Mapped[str] = mapped_column(String(16))  # upload, repository, builtin
    origin_ref: Mapped[str | None] = mapped_column(String(400))  # repo@commit:path
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class RunCounter(Base):
    """The last run number of a project (gapless, like `TaskCounter`)."""

    __tablename__ = "run_counter"

    project_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), primary_key=True
    )
    last_number: Mapped[int] = mapped_column(Integer)


class WorkflowRun(Base):
    """A run of a definition version towards a goal (`run 3` within its project)."""

    __tablename__ = "workflow_run"
    __table_args__ = (UniqueConstraint("project_id", "number"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    definition_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workflow_definition.id"))
    goal: Mapped[str] = mapped_column(Text)
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    repository: Mapped[str | None] = mapped_column(String(100))
    base_branch: Mapped[str | None] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(20), index=True)
    paused_from: Mapped[str | None] = mapped_column(String(20))
    result: Mapped[str | None] = mapped_column(Text)  # Markdown summary with evidence
    outcome: Mapped[str | None] = mapped_column(Text)  # why it failed or was cancelled
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)
    finished_at: Mapped[datetime | None]


class RunApproval(Base):
    """A human decision a run waits for: a task entering a gated phase, a review, the result."""

    __tablename__ = "run_approval"
    __table_args__ = (
        Index("ix_run_approval_pending", "run_id", postgresql_where=text("state = 'pending'")),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workflow_run.id", ondelete="CASCADE"))
    task_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("task.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # phase, review, result
    phase: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default="pending")  # approved, rejected
    requested_at: Mapped[datetime] = mapped_column(default=clock.now)
    due_at: Mapped[datetime | None]
    on_timeout: Mapped[str] = mapped_column(String(16), default="reject")
    decided_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None]
    comment: Mapped[str | None] = mapped_column(Text)


class RunStep(Base):
    """A transition of a run the engine carries out exactly once (its row is the proof)."""

    __tablename__ = "run_step"
    __table_args__ = (
        Index("ix_run_step_pending", "not_before", postgresql_where=text("state = 'pending'")),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    run_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workflow_run.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(32))
    args: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    state: Mapped[str] = mapped_column(String(16), default="pending")  # done, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[datetime] = mapped_column(default=clock.now)
    output: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    done_at: Mapped[datetime | None]


class TaskEmbedding(Base):
    """The vector of a task's text (title, body, done definition) under one embedding model.

    `text_hash` is the SHA-256 of the text embedded, so an update that leaves the text as it was
    embeds nothing. No vector index: every read is filtered to one project, whose tasks are few
    enough to compare exactly (see `workflows.similar`).
    """

    __tablename__ = "task_embedding"

    task_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("task.id", ondelete="CASCADE"), primary_key=True
    )
    model: Mapped[str] = mapped_column(String(200))
    dimension: Mapped[int] = mapped_column(Integer)
    text_hash: Mapped[str] = mapped_column(String(64))
    vector: Mapped[Any] = mapped_column(Vector())
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)


class TaskCommentEmbedding(Base):
    """The vector of one comment: comments are never edited, so it is made once (and replaced by
    `similar.embed_missing` when the configured model changes)."""

    __tablename__ = "task_comment_embedding"

    comment_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("task_comment.id", ondelete="CASCADE"), primary_key=True
    )
    task_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("task.id", ondelete="CASCADE"), index=True
    )
    model: Mapped[str] = mapped_column(String(200))
    dimension: Mapped[int] = mapped_column(Integer)
    vector: Mapped[Any] = mapped_column(Vector())
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


# Full-text indexes for `similar.search` (the planner matches these expressions in its queries):
# a keyword search reads the matching rows instead of parsing every task and comment of the
# project. The task's title weighs most ('A'); its text and done definition are unweighted.
# (`text` constants: a literal column first would keep the index from finding its table.)
_task = Task.__table__.c
_ENGLISH = text("'english'")
TASK_DOCUMENT = func.setweight(func.to_tsvector(_ENGLISH, _task.title), text("'A'")).op("||")(
    func.to_tsvector(_ENGLISH, _task.body.op("||")(text("' '")).op("||")(_task.done_definition))
)
Index("ix_task_document", TASK_DOCUMENT, postgresql_using="gin")
Index(
    "ix_task_comment_document",
    func.to_tsvector(_ENGLISH, TaskComment.__table__.c.body),
    postgresql_using="gin",
)


__all__ = [
    "GATES",
    "RUN_STATES",
    "STATES",
    "TASK_DOCUMENT",
    "BoardColumn",
    "RunApproval",
    "RunCounter",
    "RunStep",
    "Task",
    "TaskChange",
    "TaskComment",
    "TaskCommentEmbedding",
    "TaskCounter",
    "TaskDependency",
    "TaskEmbedding",
    "WorkflowDefinition",
    "WorkflowRun",
]
