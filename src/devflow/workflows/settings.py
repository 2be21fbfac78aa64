"""Settings of the workflows domain (`DEVFLOW_WORKFLOWS__…`)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, Field

DUPLICATE_THRESHOLD = 0.63
"""Chosen by bench/task_duplicates.py for the built-in local embedder (bench/RESULTS.md)."""


class WorkflowsSettings(BaseModel):
    """Tasks, the board and claiming work."""

    lease_minutes: float = Field(
        15,
        gt=0,
        le=24 * 60,
        description="How long a claim (`devflow task next`) holds a task without news from its "
        "claimant; any update of the task by the claimant renews it. A task whose lease ran "
        "out goes back to the queue.",
    )
    board_tasks: int = Field(
        50, ge=1, le=1000, description="Tasks shown per column by the board (the rest page)."
    )
    run_commands: bool = Field(
        False,
        description="Run the `command` checks of workflow definitions on the worker's machine "
        "(as DevFlow's user, in a scratch folder with a scrubbed environment). Any project "
        "writer can apply a definition, so turn this on only where every writer may run code "
        "there; while it is off, a reviewer decides those checks instead.",
    )
    # Chosen by bench/task_duplicates.py on bench/data/task_duplicates.jsonl with the built-in
    # local embedder (bench/RESULTS.md); another embedding model wants its own threshold.
    duplicate_threshold: float = Field(
        DUPLICATE_THRESHOLD,
        ge=0,
        le=1,
        description="Cosine similarity from which a new task is flagged `possible duplicate of "
        "#N`: the closest task of the project (of the same run phase, for a task of a run) that "
        "is not done. 1 flags only identical texts.",
    )
    definition_max_bytes: int = Field(
        256 * 1024,
        ge=1024,
        le=16 * 1024 * 1024,
        description="Largest workflow definition (YAML) accepted by upload, validation or "
        "import from a repository; a larger one is refused naming its file.",
    )

    @property
    def lease(self) -> timedelta:
        """The lease as a duration."""
        return timedelta(minutes=self.lease_minutes)


__all__ = ["WorkflowsSettings"]
