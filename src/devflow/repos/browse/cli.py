"""`devflow repo browse|log|show-file`: read a repository's files and history through the API."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from devflow.core.cli import JsonOpt, TokenOpt, UrlOpt, client, console, emit_json, table

RepoArg = Annotated[
    str, typer.Argument(help="NAME in the default project (or --project), or PROJECT/NAME.")
]
ProjectOpt = Annotated[
    str | None, typer.Option("--project", "-p", help="The project (default: default).")
]
RefOpt = Annotated[
    str | None,
    typer.Option("--ref", "-r", help="A branch, tag or commit (default: the default branch)."),
]


def _base(repo: str, project: str | None) -> str:
    from devflow.repos.cli import _path, _split

    return _path(*_split(repo, project))


def browse(
    repo: RepoArg,
    path: Annotated[str, typer.Argument(help="A folder (default: the root).")] = "",
    ref: RefOpt = None,
    project: ProjectOpt = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List a folder of a repository at a ref: folders first, with sizes.

    Example: devflow repo browse api src --ref v1.2
    """
    params = {"path": path} | ({"ref": ref} if ref else {})
    tree = client(url, token).get(f"{_base(repo, project)}/tree", params=params)
    if as_json:
        emit_json(tree)
        return
    console.print(f"{tree['ref']} ({tree['commit'][:12]}) /{tree['path']}", highlight=False)
    rows = [
        {
            "name": e["name"] + ("/" if e["type"] == "tree" else ""),
            "type": e["type"],
            "mode": e["mode"],
            "size": "" if e["size"] is None else e["size"],
        }
        for e in tree["entries"]
    ]
    table(rows, ["name", "type", "mode", "size"])


def log(
    repo: RepoArg,
    ref: RefOpt = None,
    path: Annotated[str | None, typer.Option("--path", help="Only commits touching it.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100, help="At most this many.")] = 30,
    offset: Annotated[int, typer.Option(min=0, help="Skip this many first.")] = 0,
    project: ProjectOpt = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a repository's history at a ref, newest first (optionally for one path)."""
    params: dict[str, Any] = {"limit": limit, "offset": offset}
    params |= ({"ref": ref} if ref else {}) | ({"path": path} if path else {})
    page = client(url, token).get(f"{_base(repo, project)}/commits", params=params)
    if as_json:
        emit_json(page)
        return
    rows = [
        {
            "commit": c["sha"][:12],
            "date": c["author"]["date"][:19],
            "author": c["author"]["name"],
            "subject": c["subject"],
        }
        for c in page["items"]
    ]
    table(rows, ["commit", "date", "author", "subject"])
    if page["total"] > offset + len(page["items"]):
        console.print(f"{page['total']} in all: --offset {offset + len(page['items'])} for more")


def show_file(
    repo: RepoArg,
    path: Annotated[str, typer.Argument(help="The file, from the repository's root.")],
    ref: RefOpt = None,
    raw: Annotated[
        bool, typer.Option("--raw", help="Write its bytes as they are (binary, any size).")
    ] = False,
    project: ProjectOpt = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print a file of a repository at a ref (`--raw` for binary or large files).

    Example: devflow repo show-file api src/app.py --ref main; devflow repo show-file api
    logo.png --raw > logo.png
    """
    api = client(url, token)
    params = {"path": path} | ({"ref": ref} if ref else {})
    base = _base(repo, project)
    if raw:
        # Streamed to stdout as it arrives; a refusal is asked again through `get`, which turns
        # the server's error into the CLI's message and exit code.
        with api._http.stream("GET", f"{base}/raw", params=params) as answer:  # noqa: SLF001
            if not answer.is_error:
                out = sys.stdout.buffer
                for chunk in answer.iter_bytes():
                    out.write(chunk)
                out.flush()
                return
        api.get(f"{base}/raw", params=params)
        return
    shown = api.get(f"{base}/file", params=params)
    if as_json:
        emit_json(shown)
    elif shown["text"] is None:
        why = "binary" if shown["binary"] else "too large to show"
        console.print(
            f"{shown['path']} is {why} ({shown['size']} bytes): use --raw to download it",
            highlight=False,
        )
        raise typer.Exit(1)
    else:
        sys.stdout.write(shown["text"])
        sys.stdout.flush()


def register(app: typer.Typer) -> None:
    """Add the browsing commands to `devflow repo`."""
    app.command("browse")(browse)
    app.command("log")(log)
    app.command("show-file")(show_file)
