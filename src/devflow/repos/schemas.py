"""Input and output shapes of the git-hosting API and CLI."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StringConstraints

from devflow.core.auth import Visibility

NAME_PATTERN = r"^[a-z0-9](?:[a-z0-9._-]{0,98}[a-z0-9])?$"
"""A repository's name: what the URL `/<project>/<name>.git` and every command show."""
_NAME = re.compile(NAME_PATTERN)
# A branch name git accepts and a URL and a shell show unchanged; `git check-ref-format` has the
# last word when the branch is used.
_BRANCH = re.compile(
    r"^(?!/)(?!.*//)(?!.*\.\.)(?!.*@\{)(?!.*\.lock$)[A-Za-z0-9._/-]{1,200}(?<![/.])$"
)


def name_problem(name: str) -> str | None:
    """Say why `name` cannot name a repository; None when it can."""
    if not _NAME.match(name):
        return (
            "a repository name is 1-100 lower-case letters, digits, '.', '_' or '-', "
            "starting and ending with a letter or digit"
        )
    if ".." in name:
        return "a repository name may not hold '..'"
    if name.endswith(".git"):
        return "leave '.git' off the name: the clone URL adds it"
    return None


def _check_name(value: str) -> str:
    problem = name_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _check_branch(value: str) -> str:
    if not _BRANCH.match(value):
        raise ValueError(
            "a branch name is letters, digits, '.', '_', '-' and '/', without '..', '//', "
            "a leading '/' or a trailing '/', '.' or '.lock'"
        )
    return value


RepoName = Annotated[str, StringConstraints(max_length=100), AfterValidator(_check_name)]
Branch = Annotated[str, StringConstraints(max_length=200), AfterValidator(_check_branch)]


class RepoCreate(BaseModel):
    """A new repository: empty, or with a first commit holding a README."""

    name: RepoName = Field(description="Unique in its project; the clone URL's last part.")
    description: str = Field("", max_length=2000)
    visibility: Visibility = Visibility.PRIVATE
    default_branch: Branch = Field("main", description="The branch clones check out.")
    readme: StrictBool = Field(
        False, description="Start with one commit on the default branch holding README.md."
    )


class RepoUpdate(BaseModel):
    """Changes to a repository (only the fields given change)."""

    name: RepoName | None = Field(None, description="A new name: the clone URL changes with it.")
    description: str | None = Field(None, max_length=2000)
    visibility: Visibility | None = None
    default_branch: Branch | None = None
    archived: StrictBool | None = Field(
        None, description="An archived repository is read-only: pushes are refused."
    )


class RepoRead(BaseModel):
    """A repository, its clone URL, size and last push."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    project: str
    name: str
    description: str
    visibility: Visibility
    default_branch: str
    archived: bool
    size_bytes: int = Field(description="Bytes the repository takes on disk.")
    last_pushed_at: datetime | None
    created_at: datetime
    clone_url: str = Field(description="What `git clone` takes (Smart HTTP).")
    ssh_url: str | None = Field(
        None,
        description="What `git clone` takes over SSH (ssh://git@HOST:PORT/<project>/<repo>.git); "
        "None when the server's SSH is off (`repos.ssh_port` 0).",
    )
    mirror: bool = Field(False, description="A pull mirror: read-only, fetched from a source.")
    forked_from_id: uuid.UUID | None = Field(
        None, description="The repository this fork was copied from (None: not a fork)."
    )


class RefUpdate(BaseModel):
    """A ref a push moved: created (old is zeros), updated, or deleted (new is zeros)."""

    ref: str
    old: str
    new: str


__all__ = [
    "NAME_PATTERN",
    "Branch",
    "RefUpdate",
    "RepoCreate",
    "RepoName",
    "RepoRead",
    "RepoUpdate",
    "Visibility",
    "name_problem",
]
