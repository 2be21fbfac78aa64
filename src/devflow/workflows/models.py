"""Work tables: board columns, tasks, their dependencies, comments and history."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
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
    phase_id: Mapped[uuid.UUID | None]
    run_id: Mapped[uuid.UUID | None]
    links: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)
    closed_at: Mapped[datetime | None]


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


__all__ = [
    "STATES",
    "BoardColumn",
    "Task",
    "TaskChange",
    "TaskComment",
    "TaskCounter",
    "TaskDependency",
]
