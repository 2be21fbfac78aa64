"""`devflow repo`: git repositories, through the server's API."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

import typer

from devflow.core.cli import JsonOpt, TokenOpt, UrlOpt, client, console, emit_json, table

app = typer.Typer(
    help="Git repositories: create one, then `git clone` the URL it prints (your DevFlow token "
    "is the password, any user name will do).",
    no_args_is_help=True,
)

RepoArg = Annotated[
    str, typer.Argument(help="NAME in the default project (or --project), or PROJECT/NAME.")
]
ProjectOpt = Annotated[
    str | None, typer.Option("--project", "-p", help="The project (default: default).")
]


def _split(repo: str, project: str | None) -> tuple[str, str]:
    if "/" in repo:
        first, _, name = repo.partition("/")
        return first, name.removesuffix(".git")
    return project or "default", repo.removesuffix(".git")


def _path(project: str, name: str | None = None) -> str:
    base = f"/api/v1/projects/{quote(project, safe='')}/repos"
    return base if name is None else f"{base}/{quote(name, safe='')}"


def _print(repo: dict[str, Any], verb: str | None = None) -> None:
    if verb:
        console.print(f"{verb} {repo['project']}/{repo['name']}", highlight=False)
    pushed = repo["last_pushed_at"] or "never"
    state = ", archived (read-only)" if repo["archived"] else ""
    state += ", pull mirror (read-only)" if repo.get("mirror") else ""
    console.print(
        f"{repo['visibility']}{state}, default branch {repo['default_branch']}, "
        f"{repo['size_bytes']} bytes, last push {pushed}",
        highlight=False,
    )
    # The URL alone on its line: a terminal must not wrap it mid-way for copying.
    console.print(f"clone: git clone {repo['clone_url']}", highlight=False, soft_wrap=True)
    if repo.get("ssh_url"):
        console.print(f"ssh:   git clone {repo['ssh_url']}", highlight=False, soft_wrap=True)


@app.command("create")
def create(
    repo: RepoArg,
    project: ProjectOpt = None,
    visibility: Annotated[
        str, typer.Option(help="public (anyone), internal (signed-in users) or private (members).")
    ] = "private",
    description: Annotated[str, typer.Option(help="One line about it.")] = "",
    default_branch: Annotated[str, typer.Option(help="The branch clones check out.")] = "main",
    readme: Annotated[
        bool, typer.Option("--readme", help="Start with a commit holding README.md.")
    ] = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a repository (empty, or with a README) and print its clone URL.

    Example: devflow repo create api --readme, then git clone the printed URL; git asks for a
    password: give a DevFlow token (devflow token create).
    """
    project_name, name = _split(repo, project)
    body = {
        "name": name,
        "visibility": visibility,
        "description": description,
        "default_branch": default_branch,
        "readme": readme,
    }
    made = client(url, token).post(_path(project_name), json=body)
    if as_json:
        emit_json(made)
    else:
        _print(made, "created")


@app.command("list")
def list_(
    project: ProjectOpt = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="At most this many.")] = 50,
    offset: Annotated[int, typer.Option(min=0, help="Skip this many first.")] = 0,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List a project's repositories with their clone URLs."""
    page = client(url, token).get(
        _path(project or "default"), params={"limit": limit, "offset": offset}
    )
    if as_json:
        emit_json(page)
        return
    table(page["items"], ["name", "visibility", "archived", "size_bytes", "last_pushed_at",
                          "clone_url"])  # fmt: skip
    if page["total"] > offset + len(page["items"]):
        console.print(f"{page['total']} in all: --offset {offset + len(page['items'])} for more")


@app.command("show")
def show(
    repo: RepoArg,
    project: ProjectOpt = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a repository: visibility, default branch, size, last push, clone URL."""
    found = client(url, token).get(_path(*_split(repo, project)))
    if as_json:
        emit_json(found)
    else:
        _print(found, "repository")


def _patch(repo: str, project: str | None, url: str | None, token: str | None, **body: Any) -> Any:
    return client(url, token).request("PATCH", _path(*_split(repo, project)), json=body)


@app.command("rename")
def rename(
    repo: RepoArg,
    new_name: Annotated[str, typer.Argument(help="The new name (the clone URL changes).")],
    project: ProjectOpt = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Rename a repository (project admins); clones must change their remote URL."""
    changed = _patch(repo, project, url, token, name=new_name)
    if as_json:
        emit_json(changed)
    else:
        _print(changed, "renamed to")


@app.command("archive")
def archive(
    repo: RepoArg,
    project: ProjectOpt = None,
    undo: Annotated[bool, typer.Option("--undo", help="Unarchive: accept pushes again.")] = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Archive a repository: it stays readable, pushes are refused (project admins)."""
    changed = _patch(repo, project, url, token, archived=not undo)
    if as_json:
        emit_json(changed)
    else:
        _print(changed, "unarchived" if undo else "archived")


@app.command("edit")
def edit(
    repo: RepoArg,
    project: ProjectOpt = None,
    visibility: Annotated[str | None, typer.Option(help="public, internal or private.")] = None,
    description: Annotated[str | None, typer.Option(help="One line about it.")] = None,
    default_branch: Annotated[str | None, typer.Option(help="The branch clones check out.")] = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Change a repository's visibility, description or default branch (project admins)."""
    body = {
        k: v
        for k, v in {
            "visibility": visibility,
            "description": description,
            "default_branch": default_branch,
        }.items()
        if v is not None
    }
    changed = _patch(repo, project, url, token, **body)
    if as_json:
        emit_json(changed)
    else:
        _print(changed, "changed")


@app.command("delete")
def delete(
    repo: RepoArg,
    project: ProjectOpt = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Delete a repository and all its history (project admins). There is no undo."""
    project_name, name = _split(repo, project)
    if not yes:
        typer.confirm(f"delete {project_name}/{name} and all its history?", abort=True)
    client(url, token).request("DELETE", _path(project_name, name))
    console.print(f"deleted {project_name}/{name}", highlight=False)


def register(root: typer.Typer) -> None:
    """Add this domain's commands to the root `devflow` command."""
    from devflow.repos.browse.cli import register as browse

    browse(app)
    from devflow.repos.mirrors.cli import register as mirrors

    mirrors(app)
    from devflow.repos.forks.cli import register as forks

    forks(app)
    from devflow.repos.protection.cli import register as protection

    protection(app)
    root.add_typer(app, name="repo")
    from devflow.repos.webhooks.cli import register as webhooks

    webhooks(root)
    from devflow.repos.pulls.cli import register as pulls

    pulls(root)
    from devflow.repos.ssh.cli import register as ssh_keys

    ssh_keys(root)
