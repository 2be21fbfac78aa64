"""`devflow repo fork`: copy a repository into a project of yours."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

import typer

from devflow.core.cli import JsonOpt, TokenOpt, UrlOpt, client, console, emit_json


def fork(
    source: Annotated[str, typer.Argument(help="NAME (default project) or PROJECT/NAME.")],
    name: Annotated[str | None, typer.Option(help="The fork's name (default: the source's).")] = (
        None
    ),
    project: Annotated[
        str | None, typer.Option("--project", "-p", help="Fork into this project (default: its).")
    ] = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Fork a repository: its branches and tags are copied into a new repository that
    remembers its source; open pull requests from it into the source (devflow pr create
    --head-repo PROJECT/NAME).
    """
    source_project, _, source_name = source.rpartition("/")
    path = (
        f"/api/v1/projects/{quote(source_project or 'default', safe='')}/repos/"
        f"{quote(source_name.removesuffix('.git'), safe='')}/forks"
    )
    body: dict[str, Any] = {k: v for k, v in {"name": name, "project": project}.items() if v}
    made = client(url, token).post(path, json=body)
    if as_json:
        emit_json(made)
        return
    console.print(
        f"forked {made['forked_from']} into {made['project']}/{made['name']}", highlight=False
    )
    console.print(f"clone: git clone {made['clone_url']}", highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add `fork` to `devflow repo`."""
    app.command("fork")(fork)
