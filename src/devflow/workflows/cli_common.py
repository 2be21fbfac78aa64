"""What the workflows domain's commands share: `--project` and where it points, paging, checks
and printing.

`devflow task`, `devflow board`, `devflow workflow` and `devflow run` default to the project a
token is restricted to, else `default`, which other domains' commands (`default` only) do not:
so this lives here rather than in `devflow.core.cli`.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from devflow.core.cli import ApiClient, console
from devflow.core.errors import Invalid

ProjectOpt = Annotated[
    str | None,
    typer.Option("--project", "-p", help="Project (default: your token's, else default)."),
]
LimitOpt = Annotated[int, typer.Option(help="How many.", min=1, max=500)]
"""A list's page size, at most the API's (its `limit` query parameter)."""
OffsetOpt = Annotated[int, typer.Option(help="Skip this many.", min=0)]


def project_name(api: ApiClient, project: str | None) -> str:
    """Return `project`, else the project the token is restricted to, else `default`."""
    if project:
        return project
    restricted: str | None = api.get("/api/v1/session").get("project")
    return restricted or "default"


def project_path(api: ApiClient, project: str | None) -> str:
    """Return the API path of the project `project_name` picks: `/api/v1/projects/NAME`."""
    return f"/api/v1/projects/{project_name(api, project)}"


def check_choice(option: str, value: str, choices: tuple[str, ...]) -> None:
    """Refuse a `value` of `option` that is not one of `choices`, naming them.

    Raises:
        Invalid: `value` is not in `choices`.
    """
    if value not in choices:
        raise Invalid(f"{option} {value!r} is not one of {', '.join(choices)}")


def print_facts(facts: list[tuple[str, str]]) -> None:
    """Print `  name: value` for each fact that has a value, in order."""
    for name, value in facts:
        if value:
            console.print(f"  {name}: {escape(value)}", highlight=False)
