"""The shape of a workflow definition (what `.devflow/workflows/*.yml` holds).

`WorkflowSpec` is the one source of truth: the published JSON Schema is generated from it
(`devflow workflow schema`, `GET /api/v1/workflows/schema`), uploads and repository files are
checked against that schema first (so errors name the file, line and field) and then parsed
into it, and a run reads its pinned definition's `spec` back through it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

Ident = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,63}$"),
    Field(description="Lower-case letters, digits, `-` and `_`, starting with a letter."),
]
ShortText = Annotated[str, StringConstraints(max_length=200)]
LongText = Annotated[str, StringConstraints(max_length=20_000)]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Parameter(_Spec):
    """A launch parameter: one typed field of the form that starts a run."""

    name: Ident
    type: Literal["string", "text", "integer", "number", "boolean", "choice"] = "string"
    description: ShortText = ""
    required: bool = False
    default: str | int | float | bool | None = None
    choices: Annotated[list[str], Field(max_length=100)] | None = Field(
        None, description="The allowed values of a `choice` parameter."
    )

    @model_validator(mode="after")
    def _choices(self) -> Parameter:
        if self.type == "choice" and not self.choices:
            raise ValueError("a `choice` parameter needs `choices`")
        if self.type != "choice" and self.choices is not None:
            raise ValueError("only a `choice` parameter has `choices`")
        return self


class Constraints(_Spec):
    """What whoever works on the phase may touch (agents are held to it by the Guardian)."""

    allowed_paths: Annotated[list[ShortText], Field(max_length=100)] = Field(
        default_factory=list, description="Glob patterns; empty: any path."
    )
    forbidden_commands: Annotated[list[ShortText], Field(max_length=100)] = Field(
        default_factory=list, description="Command prefixes that must not be run."
    )


class Agent(_Spec):
    """The agent profile and model a phase's tasks are given to (the agent issue uses it)."""

    profile: Ident | None = None
    model: ShortText | None = None


class Validation(_Spec):
    """How a task's work (or the run's result) is checked before it counts as done."""

    kind: Literal["none", "command", "reviewer"] = "none"
    command: Annotated[str, StringConstraints(min_length=1, max_length=4000)] | None = Field(
        None, description="A shell command; exit status 0 passes (kind `command`)."
    )
    timeout_seconds: int = Field(600, ge=1, le=24 * 3600)

    @model_validator(mode="after")
    def _command(self) -> Validation:
        if (self.kind == "command") != (self.command is not None):
            raise ValueError("`command` is required with kind `command` and only with it")
        return self


class Approval(_Spec):
    """A human decision before the phase's tasks may be worked on (or the run succeeds)."""

    required: bool = True
    timeout_minutes: int | None = Field(
        None, ge=1, le=60 * 24 * 90, description="None: wait as long as it takes."
    )
    on_timeout: Literal["approve", "reject"] = "reject"


class Phase(_Spec):
    """One phase of a workflow: its tasks, how they are checked and where work goes next."""

    id: Ident
    name: ShortText
    description: LongText = ""
    instructions: LongText = ""
    done_definition: LongText = ""
    constraints: Constraints = Field(default_factory=Constraints)
    agent: Agent = Field(default_factory=Agent)
    max_agents: int | None = Field(
        None, ge=1, le=1000, description="At most this many of its tasks in progress at once."
    )
    validation: Validation = Field(default_factory=Validation)
    approval: Approval | None = Field(
        None, description="Tasks entering this phase wait for a human's approval."
    )
    next: Annotated[list[Ident], Field(max_length=50)] = Field(
        default_factory=list, description="The phases its work may lead to."
    )


class Result(_Spec):
    """What a run's result must pass before the run succeeds."""

    validation: Validation = Field(default_factory=Validation)
    approval: Approval | None = None


class WorkflowSpec(_Spec):
    """A workflow definition."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        title="DevFlow workflow definition",
        json_schema_extra={
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "https://devflow.dev/schemas/workflow.json",
        },
    )

    name: Ident
    description: LongText = ""
    parameters: Annotated[list[Parameter], Field(max_length=50)] = Field(default_factory=list)
    phases: Annotated[list[Phase], Field(min_length=1, max_length=50)]
    result: Result = Field(default_factory=Result)

    @model_validator(mode="after")
    def _references(self) -> WorkflowSpec:
        seen: set[str] = set()
        for phase in self.phases:
            if phase.id in seen:
                raise ValueError(f"phase id {phase.id!r} is used twice")
            seen.add(phase.id)
        for phase in self.phases:
            unknown = [n for n in phase.next if n not in seen]
            if unknown:
                raise ValueError(f"phase {phase.id!r} leads to unknown phase(s) {unknown}")
        names = [p.name for p in self.parameters]
        if len(set(names)) != len(names):
            raise ValueError("a parameter name is used twice")
        return self

    def phase(self, phase_id: str) -> Phase | None:
        """The phase with this id, or None."""
        return next((p for p in self.phases if p.id == phase_id), None)

    @property
    def first(self) -> Phase:
        """The phase a run starts in."""
        return self.phases[0]


def schema() -> dict[str, Any]:
    """The published JSON Schema of a definition."""
    return WorkflowSpec.model_json_schema()


__all__ = [
    "Agent",
    "Approval",
    "Constraints",
    "Parameter",
    "Phase",
    "Result",
    "Validation",
    "WorkflowSpec",
    "schema",
]
