"""`devflow registry`: repositories, packages and garbage collection, through the server's API."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from devflow.core.cli import JsonOpt, TokenOpt, UrlOpt, client, console, emit_json, table

app = typer.Typer(help="Package registries (PyPI, npm …).", no_args_is_help=True)


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Unique name; appears in client URLs.")],
    format: Annotated[str, typer.Option("--format", help="pypi, npm (more to come).")],  # noqa: A002
    project: Annotated[str | None, typer.Option(help="Owning project (default: default).")] = None,
    visibility: Annotated[
        str, typer.Option(help="public, internal (signed-in users) or private (members).")
    ] = "private",
    description: Annotated[str, typer.Option(help="One line about it.")] = "",
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a repository and print the URLs its clients install from and publish to."""
    body = {
        "name": name,
        "format": format,
        "project": project,
        "visibility": visibility,
        "description": description,
    }
    repo = client(url, token).post("/api/v1/registry/repositories", json=body)
    if as_json:
        emit_json(repo)
        return
    console.print(f"created {repo['format']} repository {repo['name']}", highlight=False)
    _print_urls(repo)


def _print_urls(repo: dict[str, Any]) -> None:
    # Whole URLs on lines of their own: a terminal must not wrap them mid-way for copying.
    upload = repo.get("upload_url", repo["url"])  # a server older than the field
    if upload == repo["url"]:
        console.print(f"install and publish: {repo['url']}", highlight=False, soft_wrap=True)
        return
    console.print(f"install from:        {repo['url']}", highlight=False, soft_wrap=True)
    console.print(f"publish to:          {upload}", highlight=False, soft_wrap=True)


@app.command("list")
def list_(
    format: Annotated[str | None, typer.Option("--format", help="Only this format.")] = None,  # noqa: A002
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List the repositories you can read."""
    params = {"format": format} if format else {}
    page = client(url, token).get("/api/v1/registry/repositories", params=params)
    if as_json:
        emit_json(page["items"])
    else:
        table(page["items"], ["name", "format", "visibility", "project", "url"])


@app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="Repository name.")],
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a repository with its statistics."""
    api = client(url, token)
    repo = api.get(f"/api/v1/registry/repositories/{name}")
    stats = api.get("/api/v1/registry/stats", params={"repository": name})["repositories"]
    repo["stats"] = stats[0] if stats else {}
    if as_json:
        emit_json(repo)
        return
    console.print(
        f"[bold]{repo['name']}[/]  {repo['format']}, {repo['visibility']}, "
        f"project {repo['project']}",
        highlight=False,
    )
    _print_urls(repo)
    s = repo["stats"]
    if s:
        console.print(
            f"{s['packages']} packages, {s['versions']} versions, {s['files']} files, "
            f"{s['bytes']} bytes, {s['downloads']} downloads",
            highlight=False,
        )


@app.command("delete")
def delete(
    name: Annotated[str, typer.Argument(help="Repository name.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Delete a repository and every package in it (project admins)."""
    if not yes:
        typer.confirm(f"delete repository {name} and all its packages?", abort=True)
    client(url, token).request("DELETE", f"/api/v1/registry/repositories/{name}")
    console.print(f"deleted repository {name}")


@app.command("packages")
def packages(
    repository: Annotated[str, typer.Argument(help="Repository name.")],
    query: Annotated[str | None, typer.Option("--query", "-q", help="Filter by text.")] = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List a repository's packages."""
    params = {"q": query} if query else {}
    page = client(url, token).get(
        f"/api/v1/registry/repositories/{repository}/packages", params=params
    )
    if as_json:
        emit_json(page["items"])
    else:
        table(page["items"], ["display_name", "latest", "versions", "downloads", "summary"])


@app.command("charts")
def charts(
    repository: Annotated[str, typer.Argument(help="OCI repository, e.g. default/charts.")],
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List the Helm charts pushed to an OCI repository (helm push, oras)."""
    page = client(url, token).get(f"/api/v1/registry/oci/{repository}/charts")
    if as_json:
        emit_json(page["items"])
    else:
        rows = [{**c, "tags": ", ".join(c["tags"])} for c in page["items"]]
        table(rows, ["name", "version", "app_version", "description", "tags"])


@app.command("gc")
def gc(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report what would go; remove nothing.")
    ] = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Garbage-collect unreferenced blobs and abandoned uploads (instance admins)."""
    report = client(url, token).post("/api/v1/registry/gc", json={"dry_run": dry_run})
    if as_json:
        emit_json(report)
        return
    verb = "would remove" if dry_run else "removing"
    console.print(
        f"{verb} {report['blobs_removed']} blobs ({report['bytes_removed']} bytes), "
        f"{report['orphan_objects_removed']} orphan objects and "
        f"{report['temporaries_removed']} abandoned uploads; "
        f"{report['kept_in_grace']} kept in the grace period",
        highlight=False,
    )
    if report.get("job_id"):
        console.print(
            f"queued as job {report['job_id']}: devflow jobs show {report['job_id']} --watch"
        )


def register(root: typer.Typer) -> None:
    """Add this domain's commands to the root `devflow` command."""
    root.add_typer(app, name="registry")
