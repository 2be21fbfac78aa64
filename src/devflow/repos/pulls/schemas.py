"""Input and output shapes of pull requests."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StringConstraints

from devflow.repos.schemas import Branch

MAX_BODY = 65_536
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Body = Annotated[str, StringConstraints(max_length=MAX_BODY)]
Sha = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{40}$")]


def _check_path(value: str) -> str:
    parts = value.split("/")
    if any(part in {"", ".", ".."} for part in parts) or any(c < " " for c in value):
        raise ValueError(
            "a path is relative to the repository's root, without '.', '..' or empty parts"
        )
    return value


# A path inside the repository as git names it: relative, no `.`, `..` or empty parts.
RepoPath = Annotated[
    str, StringConstraints(min_length=1, max_length=1000), AfterValidator(_check_path)
]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MergeMethod(StrEnum):
    """How a pull request lands on its base branch."""

    MERGE = "merge"  # a merge commit with both tips as parents
    SQUASH = "squash"  # one new commit with the head's changes, authored by the PR's author
    REBASE = "rebase"  # head's commits replayed onto the base, then fast-forwarded
    FF = "ff"  # fast-forward only: the base must be an ancestor of the head


class PullCreate(_Input):
    """A new pull request: merge `head` into `base` (the default branch when left out)."""

    head: Branch = Field(description="The branch with the changes.")
    base: Branch | None = Field(None, description="The branch to merge into (default branch).")
    title: Title
    body: Body = Field("", description="Markdown.")
    draft: StrictBool = Field(False, description="Not ready for review; cannot be merged yet.")
    head_repository: str | None = Field(
        None,
        max_length=201,
        description="PROJECT/NAME of a fork of this repository that holds `head` (default: "
        "this repository); its head is fetched into refs/pull/<n>/head here.",
    )


class PullUpdate(_Input):
    """Changes to a pull request (only the fields given change)."""

    title: Title | None = None
    body: Body | None = None
    draft: StrictBool | None = None


class PullRead(BaseModel):
    """A pull request, where its branches are, and whether it merges cleanly."""

    number: int
    project: str
    repository: str
    title: str
    body: str
    draft: bool
    state: Literal["open", "closed", "merged"]
    head: str
    head_repository: str | None = Field(
        description="PROJECT/NAME of the repository `head` is in: this one or a fork of it; "
        "None once that fork was deleted (its pull requests are closed then)."
    )
    base: str
    head_sha: str
    base_sha: str
    mergeable: bool | None = Field(description="None while not yet known.")
    merge_status: Literal["clean", "conflicts", "unrelated", "unknown"]
    conflicts: list[str] = Field(description="The paths that conflict, when they do.")
    author: str | None
    approvals: int = Field(description="Reviewers (never the author) whose latest review approves.")
    changes_requested: int = Field(
        description="Reviewers (never the author) whose latest review asks for changes."
    )
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    merged_at: datetime | None
    merged_by: str | None
    merge_method: MergeMethod | None
    merge_commit_sha: str | None


class ReviewCreate(_Input):
    """A review: a comment, an approval, or a request for changes (the last needs a body);
    the pull request's author may only comment."""

    event: Literal["comment", "approve", "request_changes"]
    body: Body = ""


class ReviewRead(BaseModel):
    """A review and the head commit it saw."""

    id: str
    author: str | None
    state: Literal["commented", "approved", "changes_requested"]
    body: str
    commit_sha: str
    created_at: datetime


class CommentCreate(_Input):
    """A comment on a line (1-based) of a file as the pull request's head has it."""

    path: RepoPath
    line: int = Field(ge=1, le=10_000_000)
    body: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_BODY)
    ]


class CommentRead(BaseModel):
    """A line comment; `outdated` once the head no longer has that line as it was."""

    id: str
    author: str | None
    body: str
    path: str
    line: int
    commit_sha: str
    line_text: str
    outdated: bool
    created_at: datetime


class MergeCreate(_Input):
    """Merge a pull request; `sha` is the head you saw (the merge is refused if it moved)."""

    sha: Sha = Field(description="The head commit the merge is for (409 if the head moved).")
    method: MergeMethod = MergeMethod.MERGE
    message: Body | None = Field(None, description="The merge or squash commit's message.")
    delete_branch: StrictBool = Field(False, description="Delete the head branch afterwards.")


class MergeRead(BaseModel):
    """A merged pull request, the commit the base branch is at now, tasks it closed."""

    pull: PullRead
    sha: str
    closed_tasks: list[int]
    branch_deleted: bool


class DiffFile(BaseModel):
    """One changed file and its line counts (None for binary files)."""

    path: str
    status: Literal["added", "modified", "deleted", "type_changed", "other"]
    additions: int | None
    deletions: int | None


class DiffRead(BaseModel):
    """What a pull request changes, from where its head left the base (three dots)."""

    base_sha: str
    head_sha: str
    merge_base: str | None
    files: list[DiffFile]
    total_files: int
    additions: int
    deletions: int
    files_truncated: bool = Field(description="More files changed than are listed.")
    patch: str
    patch_truncated: bool = Field(description="The patch is cut at the size limit.")


class CommitRead(BaseModel):
    """A commit of the pull request."""

    sha: str
    author_name: str
    author_email: str
    authored_at: datetime
    title: str


__all__ = [
    "CommentCreate",
    "CommentRead",
    "CommitRead",
    "DiffFile",
    "DiffRead",
    "MergeCreate",
    "MergeMethod",
    "MergeRead",
    "PullCreate",
    "PullRead",
    "PullUpdate",
    "ReviewCreate",
    "ReviewRead",
]
