"""Where a task of a run goes: which run (by number) and which phase of its definition."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core.errors import Conflict, Invalid, NotFound
from devflow.identity import Project
from devflow.workflows.definitions.spec import Phase, WorkflowSpec
from devflow.workflows.models import Task, WorkflowDefinition, WorkflowRun

ACTIVE = ("pending", "running", "paused", "awaiting_approval")
"""The states in which a run takes new tasks."""


@dataclass(frozen=True)
class Placement:
    """A run and one of its definition's phases, for a task about to join them."""

    run: WorkflowRun
    spec: WorkflowSpec
    phase: Phase

    @property
    def run_id(self) -> uuid.UUID:
        return self.run.id

    @property
    def cap(self) -> int | None:
        """The phase's limit on tasks in progress at once."""
        return self.phase.max_agents


async def find_run(
    session: AsyncSession, project: Project, number: int, *, lock: bool = False
) -> WorkflowRun:
    """Return run `number` of the project (locked for update when `lock`).

    Raises:
        NotFound: no such run.
    """
    query = select(WorkflowRun).where(
        WorkflowRun.project_id == project.id, WorkflowRun.number == number
    )
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    run = await session.scalar(query)
    if run is None:
        raise NotFound(
            f"no run {number} in project {project.name!r}; `devflow run list` shows them",
            details={"run": number},
        )
    return run


async def find_run_of(session: AsyncSession, task: Task) -> WorkflowRun:
    """Return the run a task is part of (locked for update: its state may change)."""
    return await session.get_one(
        WorkflowRun, task.run_id, with_for_update=True, populate_existing=True
    )


async def spec_of(session: AsyncSession, run: WorkflowRun) -> WorkflowSpec:
    """The definition version the run started with (later versions never change a run)."""
    spec = await session.scalar(
        select(WorkflowDefinition.spec).where(WorkflowDefinition.id == run.definition_id)
    )
    return WorkflowSpec.model_validate(spec)


def phase_of(spec: WorkflowSpec, run: WorkflowRun, phase_id: str) -> Phase:
    """Return the phase `phase_id` of the run's definition.

    Raises:
        Invalid: the definition has no such phase (the message lists those it has).
    """
    phase = spec.phase(phase_id)
    if phase is None:
        known = ", ".join(p.id for p in spec.phases)
        raise Invalid(
            f"run {run.number} ({spec.name}) has no phase {phase_id!r}; its phases are {known}",
            details={"phase": phase_id, "phases": [p.id for p in spec.phases]},
        )
    return phase


async def runs_place(
    session: AsyncSession, project: Project, run_number: int, phase_id: str | None
) -> Placement:
    """Find the run and phase a new task joins (the run's first phase when none is named).

    Raises:
        NotFound: no such run.
        Invalid: no such phase in the run's definition.
        Conflict: the run has finished and takes no more tasks.
    """
    run = await find_run(session, project, run_number)
    if run.state not in ACTIVE:
        raise Conflict(
            f"run {run.number} has {run.state}: it takes no new tasks; start another run",
            details={"run": run.number, "state": run.state},
        )
    spec = await spec_of(session, run)
    phase = phase_of(spec, run, phase_id) if phase_id else spec.first
    return Placement(run=run, spec=spec, phase=phase)


__all__ = [
    "ACTIVE",
    "Placement",
    "find_run",
    "find_run_of",
    "phase_of",
    "runs_place",
    "spec_of",
]
