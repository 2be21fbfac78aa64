"""`devflow repo import` and `devflow repo mirror`: imports from a URL and pull mirrors."""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import quote

import typer

from devflow.core.cli import JsonOpt, TokenOpt, UrlOpt, client, console, emit_json, follow_job

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_interval(text: str) -> int:
    """Return seconds from `90s`, `10m`, `1h`, `1d` or a plain number of seconds."""
    found = re.fullmatch(r"(\d{1,7})([smhd]?)", text.strip())
    if not found:
        raise typer.BadParameter("an interval is a number with s, m, h or d: 10m, 1h, 1d")
    return int(found[1]) * _UNITS[found[2] or "s"]


def _repos(project: str) -> str:
    return f"/api/v1/projects/{quote(project, safe='')}/repos"


def import_(
    source: Annotated[str, typer.Argument(help="An http(s) git URL, without credentials.")],
    name: Annotated[str | None, typer.Option(help="Default: the URL's last part.")] = None,
    project: Annotated[
        str | None, typer.Option("--project", "-p", help="The project (default: default).")
    ] = None,
    mirror: Annotated[
        bool, typer.Option("--mirror", help="Keep fetching from the URL; refuse pushes.")
    ] = False,
    interval: Annotated[str, typer.Option(help="How often a mirror fetches: 10m, 1h, 1d.")] = "1h",
    visibility: Annotated[str, typer.Option(help="public, internal or private.")] = "private",
    credentials: Annotated[
        str | None,
        typer.Option(
            help="secret://NAME: a secret of the project holding user:password or a token, "
            "sent to the source on the clone and every fetch (never the credentials themselves)."
        ),
    ] = None,
    wait: Annotated[bool, typer.Option(help="Follow the import's job to its end.")] = True,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Import a repository from a URL (a job clones it), once or as a pull mirror.

    Example: devflow repo import https://github.com/psf/requests.git --mirror --interval 6h

    Private source: devflow secrets set GH_TOKEN --project web, then
    devflow repo import https://github.com/acme/app.git -p web --credentials secret://GH_TOKEN
    """
    project_name = project or "default"
    body: dict[str, Any] = {
        "url": source, "mirror": mirror, "interval_seconds": parse_interval(interval),
        "visibility": visibility,
    }  # fmt: skip
    if name:
        body["name"] = name
    if credentials:
        body["credentials"] = credentials
    api = client(url, token)
    started = api.post(f"{_repos(project_name)}/import", json=body)
    if not wait:
        if as_json:
            emit_json(started)
        else:
            console.print(f"importing as job {started['job_id']}", highlight=False)
        return
    job = follow_job(api, started["job_id"], label="import", quiet=as_json)
    if job["status"] != "succeeded":
        console.print(f"import failed: {job.get('error') or job['status']}", highlight=False)
        raise typer.Exit(1)
    repo = api.get(f"{_repos(project_name)}/{quote(started['name'], safe='')}")
    if as_json:
        emit_json(repo)
    else:
        console.print(f"imported {repo['project']}/{repo['name']}", highlight=False)
        console.print(f"clone: git clone {repo['clone_url']}", highlight=False, soft_wrap=True)


def mirror_(
    repo: Annotated[str, typer.Argument(help="NAME or PROJECT/NAME of a pull mirror.")],
    sync: Annotated[bool, typer.Option("--sync", help="Fetch from the source now.")] = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a pull mirror's source and last fetch, or fetch it now (--sync)."""
    project_name, _, name = repo.rpartition("/")
    path = f"{_repos(project_name or 'default')}/{quote(name, safe='')}/mirror"
    api = client(url, token)
    if sync:
        started = api.post(f"{path}/sync")
        job = follow_job(api, started["job_id"], label="fetch", quiet=True)
        if job["status"] != "succeeded":
            console.print(f"fetch failed: {job.get('error') or job['status']}")
            raise typer.Exit(1)
    found = api.get(path)
    if as_json:
        emit_json(found)
        return
    console.print(
        f"mirror of {found['url']} every {found['interval_seconds']}s, last fetched "
        f"{found['last_fetched_at'] or 'never'}, next {found['next_fetch_at']}"
        + (f", credentials {found['credentials']}" if found.get("credentials") else "")
        + (f", last error: {found['last_error']}" if found["last_error"] else ""),
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    """Add `import` and `mirror` to `devflow repo`."""
    app.command("import")(import_)
    app.command("mirror")(mirror_)
