"""Input and output shapes of branch rules and commit statuses (GitHub's, where it has one)."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, StrictBool, StringConstraints

# A branch glob: what a branch name may hold, plus `*` and `?`.
_PATTERN = re.compile(r"^(?!/)(?!.*//)(?!.*\.\.)[A-Za-z0-9._/*?-]{1,255}(?<!/)$")
_FILE_GLOB = re.compile(r"^[^\x00-\x1f\x7f]{1,500}$")
_CONTEXT = re.compile(r"^[^\x00-\x1f\x7f]{1,255}$")
SHA = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")


def check_pattern(value: str) -> str:
    if not _PATTERN.match(value):
        raise ValueError(
            "a branch pattern is a branch name that may hold '*' (any characters but '/'), "
            "'**' (any characters) and '?': letters, digits, '.', '_', '-', '/', without '..', "
            "'//' or a leading or trailing '/'"
        )
    return value


def _check_file_glob(value: str) -> str:
    if not _FILE_GLOB.match(value) or value.startswith("/"):
        raise ValueError("a file pattern is a path glob, relative to the repository's root")
    return value


def _check_context(value: str) -> str:
    if not _CONTEXT.match(value) or not value.strip():
        raise ValueError("a context is 1-255 printable characters")
    return value


BranchPattern = Annotated[str, StringConstraints(max_length=255), AfterValidator(check_pattern)]
FileGlob = Annotated[str, StringConstraints(max_length=500), AfterValidator(_check_file_glob)]
Context = Annotated[str, StringConstraints(max_length=255), AfterValidator(_check_context)]
Username = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f]+$")
]


class RuleSet(BaseModel):
    """A branch rule: the pattern is in the path; the rule is replaced whole by what is given."""

    no_force_push: StrictBool = Field(
        False, description="Refuse a push that rewrites history (the old tip is not kept)."
    )
    no_delete: StrictBool = Field(False, description="Refuse deleting a matching branch.")
    require_pull_request: StrictBool = Field(
        False, description="Refuse direct pushes: changes arrive by merging a pull request."
    )
    required_approvals: int = Field(
        0, ge=0, le=100, description="Approving reviews a pull request needs to be merged."
    )
    required_checks: list[Context] = Field(
        [], max_length=50, description="Status contexts that must be `success` on the commit."
    )
    push_allow: list[Username] = Field(
        [], max_length=100, description="Only these users may push (empty: every writer)."
    )
    protected_files: list[FileGlob] = Field(
        [], max_length=100, description="Globs of files no push or merge may change."
    )


class RuleRead(RuleSet):
    """A branch rule of a repository."""

    pattern: str
    created_at: datetime
    updated_at: datetime


class StatusState(StrEnum):
    """What a status says of a commit."""

    PENDING = "pending"
    SUCCESS = "success"
    FAILURE = "failure"
    ERROR = "error"


def _check_url(value: str | None) -> str | None:
    if value is not None and not re.match(r"^https?://[^\s\x00-\x1f]+$", value):
        raise ValueError("target_url is an http or https URL")
    return value


class StatusCreate(BaseModel):
    """A report about a commit (GitHub's `POST /repos/{owner}/{repo}/statuses/{sha}` body)."""

    state: StatusState
    context: Context = Field("default", description="Which check this is (e.g. `ci/test`).")
    target_url: Annotated[str | None, AfterValidator(_check_url)] = Field(
        None, max_length=2000, description="Where the check's details are."
    )
    description: str | None = Field(
        None, max_length=140, pattern=r"^[^\x00]*$", description="A short summary."
    )


class StatusCreator(BaseModel):
    """Who reported a status (GitHub's `creator`, reduced to its login)."""

    login: str


class StatusRead(BaseModel):
    """One status, shaped like GitHub's."""

    id: int
    state: StatusState
    context: str
    target_url: str | None
    description: str | None
    creator: StatusCreator | None
    created_at: datetime
    updated_at: datetime


class CombinedStatus(BaseModel):
    """The latest status per context of a commit, and their combined state (GitHub's shape):
    `failure` if any is failure or error, `pending` if there are none or any is pending,
    else `success`."""

    state: StatusState
    sha: str
    total_count: int
    statuses: list[StatusRead]


__all__ = [
    "SHA",
    "BranchPattern",
    "CombinedStatus",
    "RuleRead",
    "RuleSet",
    "StatusCreate",
    "StatusRead",
    "StatusState",
    "check_pattern",
]
