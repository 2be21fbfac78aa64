"""Input and output shapes of forks."""

from __future__ import annotations

from pydantic import BaseModel, Field

from devflow.repos.schemas import RepoName, RepoRead


class ForkCreate(BaseModel):
    """Where a fork goes: a project (the source's by default) and a name (the source's)."""

    project: str | None = Field(
        None, max_length=100, description="The project to fork into (default: the source's)."
    )
    name: RepoName | None = Field(None, description="The fork's name (default: the source's).")


class ForkRead(RepoRead):
    """A fork, and the repository it was copied from (`project/name`; None once deleted)."""

    forked_from: str | None


__all__ = ["ForkCreate", "ForkRead"]
