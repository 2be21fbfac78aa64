"""API shapes of workflow definitions: summaries, versions, checks and imports."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Origin = Literal["upload", "repository", "builtin"]
DefinitionName = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,63}$"),
    Field(description="A definition's name (its `name:` field)."),
]


class DefinitionSummary(BaseModel):
    """One version of a definition, without its text (a listing's item)."""

    id: uuid.UUID | None = Field(
        description="The stored version's id; None: a built-in not yet used."
    )
    name: str
    version: int | None = Field(description="1, 2, …; None: a built-in not yet stored.")
    description: str
    origin: Origin
    origin_ref: str | None = Field(None, description="`repo@commit:path` for a repository's.")
    builtin: bool = Field(description="Shipped with DevFlow (and not replaced by the project).")
    phases: list[str] = Field(description="Its phase ids, in order.")
    created_by: str | None = None
    created_at: datetime | None = None


class DefinitionRead(DefinitionSummary):
    """A definition version with its YAML as given and its normalised spec."""

    source: str
    spec: dict[str, Any] = Field(description="The definition as `WorkflowSpec` reads it.")


class DefinitionApplied(DefinitionRead):
    """The result of applying a definition."""

    created: bool = Field(description="False: the spec equals the latest version, kept as is.")
    file: str | None = None


class DefinitionCheck(BaseModel):
    """A definition that validates (a dry run, or `POST /api/v1/workflows/validate`)."""

    valid: Literal[True] = True
    file: str | None = None
    name: str
    description: str
    phases: list[str]
    parameters: list[str]
    changed: bool | None = Field(
        None, description="Whether applying it would store a new version (dry runs only)."
    )
    next_version: int | None = Field(
        None, description="The version applying it would store or keep (dry runs only)."
    )


class SourceBody(BaseModel):
    """A definition's YAML sent as JSON."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(description="The definition's YAML text.")
    file: Annotated[str, StringConstraints(max_length=200)] | None = Field(
        None, description="The name errors give (default: `<upload>`)."
    )


class ImportCreate(BaseModel):
    """Import `.devflow/workflows/*.yml` from a DevFlow-hosted repository."""

    model_config = ConfigDict(extra="forbid")

    repository: Annotated[
        str, StringConstraints(min_length=1, max_length=130, pattern=r"^[A-Za-z0-9._/-]+$")
    ] = Field(description="`name` (this project's) or `project/name`.")
    ref: Annotated[str, StringConstraints(min_length=1, max_length=255)] | None = Field(
        None, description="Branch, tag or commit (default: the repository's default branch)."
    )


class ImportRead(BaseModel):
    """What an import applied."""

    repository: str
    commit: str
    items: list[DefinitionApplied]


__all__ = [
    "DefinitionApplied",
    "DefinitionCheck",
    "DefinitionName",
    "DefinitionRead",
    "DefinitionSummary",
    "ImportCreate",
    "ImportRead",
    "Origin",
    "SourceBody",
]
