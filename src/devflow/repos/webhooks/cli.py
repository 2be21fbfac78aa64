"""`devflow hook`: webhooks of a project or of one repository, through the server's API."""

from __future__ import annotations

import sys
from typing import Annotated, Any
from urllib.parse import quote

import typer

from devflow.core.cli import JsonOpt, TokenOpt, UrlOpt, client, console, emit_json, table

app = typer.Typer(
    help="Webhooks: DevFlow POSTs GitHub-shaped events (push, pull_request, issues …), signed "
    "with X-Hub-Signature-256, to a URL of yours.",
    no_args_is_help=True,
)

RepoOpt = Annotated[
    str | None,
    typer.Option("--repo", "-r", help="A repository (NAME or PROJECT/NAME); none: the project's."),
]
ProjectOpt = Annotated[
    str | None, typer.Option("--project", "-p", help="The project (default: default).")
]
HookArg = Annotated[str, typer.Argument(help="The hook's id (devflow hook list).")]


def _target(repo: str | None, project: str | None) -> tuple[str, str | None]:
    if repo is not None and "/" in repo:
        first, _, name = repo.partition("/")
        return first, name.removesuffix(".git")
    return project or "default", repo.removesuffix(".git") if repo else None


def _path(project: str, *tail: str) -> str:
    return "/".join([f"/api/v1/projects/{quote(project, safe='')}/hooks", *tail])


@app.command("add")
def add(
    target_url: Annotated[str, typer.Argument(metavar="URL", help="Where to POST events.")],
    repo: RepoOpt = None,
    project: ProjectOpt = None,
    events: Annotated[
        str,
        typer.Option(
            help="Comma-separated: push, pull_request, pull_request_review, "
            "status, create, delete, issues, or * for all."
        ),
    ] = "push",
    secret_stdin: Annotated[
        bool,
        typer.Option(
            "--secret-stdin",
            help="Read the signing secret from standard input "
            "(otherwise DevFlow makes one and prints it once).",
        ),
    ] = False,
    inactive: Annotated[bool, typer.Option("--inactive", help="Create it switched off.")] = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a webhook and send it a ping; the secret it signs with is printed once, never again.

    Example: devflow hook add https://ci.example.com/hook --repo api --events push,pull_request
    """
    project_name, name = _target(repo, project)
    body: dict[str, Any] = {
        "url": target_url,
        "repository": name,
        "events": [e.strip() for e in events.split(",") if e.strip()],
        "active": not inactive,
    }
    if secret_stdin:
        body["secret"] = sys.stdin.read().strip()
    made = client(url, token).post(_path(project_name), json=body)
    if as_json:
        emit_json(made)
        return
    where = f"{made['project']}/{made['repository']}" if made["repository"] else made["project"]
    console.print(f"added webhook {made['id']} of {where} -> {made['url']}", highlight=False)
    if made.get("secret"):
        console.print(f"secret (shown once): {made['secret']}", highlight=False, soft_wrap=True)


@app.command("list")
def list_(
    repo: RepoOpt = None,
    project: ProjectOpt = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List a project's webhooks (or one repository's); secrets are never shown."""
    project_name, name = _target(repo, project)
    params: dict[str, Any] = {"limit": 500}
    if name:
        params["repository"] = name
    page = client(url, token).get(_path(project_name), params=params)
    if as_json:
        emit_json(page)
        return
    rows = [{**h, "events": ",".join(h["events"])} for h in page["items"]]
    table(rows, ["id", "repository", "url", "events", "active"])


@app.command("remove")
def remove(
    hook: HookArg,
    project: ProjectOpt = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Remove a webhook and the log of its deliveries."""
    project_name = project or "default"
    client(url, token).request("DELETE", _path(project_name, quote(hook, safe="")))
    if as_json:
        emit_json({"id": hook, "removed": True})
    else:
        console.print(f"removed webhook {hook}", highlight=False)


@app.command("deliveries")
def deliveries(
    hook: HookArg,
    delivery: Annotated[
        str | None, typer.Argument(help="One delivery: show its attempts' requests and answers.")
    ] = None,
    project: ProjectOpt = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="At most this many.")] = 50,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List a webhook's deliveries, newest first; or show one with each attempt's log."""
    base = _path(project or "default", quote(hook, safe=""), "deliveries")
    api = client(url, token)
    if delivery is not None:
        found = api.get(f"{base}/{quote(delivery, safe='')}")
        if as_json:
            emit_json(found)
            return
        console.print(
            f"{found['event']} {found['id']}: {found['status']} after {found['attempts']} "
            "attempt(s)",
            highlight=False,
        )
        for attempt in found["log"]:
            answer = attempt["response_status"] or attempt["error"]
            manual = " (redelivery)" if attempt["manual"] else ""
            console.print(
                f"  #{attempt['number']}{manual} {attempt['started_at']}: {answer} in "
                f"{attempt['duration_ms']} ms",
                highlight=False,
            )
        return
    page = api.get(base, params={"limit": limit})
    if as_json:
        emit_json(page)
        return
    table(
        page["items"],
        ["id", "event", "action", "status", "attempts", "response_status", "created_at"],
    )


@app.command("redeliver")
def redeliver(
    hook: HookArg,
    delivery: Annotated[str, typer.Argument(help="The delivery (devflow hook deliveries).")],
    project: ProjectOpt = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Send a delivery again, with the same X-GitHub-Delivery id."""
    path = _path(
        project or "default",
        quote(hook, safe=""),
        "deliveries",
        quote(delivery, safe=""),
        "attempts",
    )
    queued = client(url, token).post(path)
    if as_json:
        emit_json(queued)
    else:
        console.print(f"queued delivery {queued['id']} again", highlight=False)


def register(root: typer.Typer) -> None:
    """Add `devflow hook` to the root command."""
    root.add_typer(app, name="hook")


__all__ = ["register"]
