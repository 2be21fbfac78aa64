"""Background jobs: status and progress, cancel and retry."""

from __future__ import annotations

from typing import Annotated

import typer

from devflow.core.cli import (
    JsonOpt,
    TokenOpt,
    UrlOpt,
    client,
    console,
    emit_json,
    follow_job,
    pace,
    table,
)
from devflow.core.errors import NotFound

app = typer.Typer(help="Background jobs.", no_args_is_help=True)

STATUSES = ("todo", "doing", "succeeded", "failed", "cancelled", "aborting", "aborted")
_STATES = ", ".join(STATUSES)


def _not_found_hint(exc: NotFound) -> NotFound:
    return NotFound(f"{exc}; `devflow jobs list` shows the jobs you can see")


@app.command("list")
def list_(
    status: Annotated[
        str | None,
        typer.Option("--status", help=f"Only jobs in this state: {', '.join(STATUSES)}."),
    ] = None,
    task: Annotated[
        str | None, typer.Option("--task", help="Only this task; `knowledge:*` matches a prefix.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=500, help="How many.")] = 20,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List the jobs you can see, newest first (find a job's id for `devflow jobs show`)."""
    if status is not None and status not in STATUSES:
        raise typer.BadParameter(
            f"{status!r}: choose one of {', '.join(STATUSES)}", param_hint="--status"
        )
    params: dict[str, object] = {"limit": limit}
    if status:
        params["status"] = status
    if task:
        params["task"] = task
    items = client(url, token).get("/api/v1/jobs", params=params)["items"]
    if as_json:
        emit_json(items)
        return
    rows = [
        {
            **job,
            "progress": " ".join(filter(None, [job["phase"], pace(job) if job["done"] else ""])),
            "updated": (job["updated_at"] or job["scheduled_at"] or "")[:19].replace("T", " "),
        }
        for job in items
    ]
    table(rows, ["id", "task", "status", "progress", "message", "updated"], title="jobs")


@app.command("show")
def show(
    job_id: Annotated[int, typer.Argument(help="Job id.")],
    watch: Annotated[bool, typer.Option("--watch", help="Follow progress until it ends.")] = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a job's status, progress and last error."""
    api = client(url, token)
    try:
        job = follow_job(api, job_id, quiet=as_json) if watch else api.get(f"/api/v1/jobs/{job_id}")
    except NotFound as exc:
        raise _not_found_hint(exc) from None
    if as_json:
        emit_json(job)
        return
    phase = f" {job['phase']}" if job["phase"] else ""
    console.print(
        f"job {job['id']} {job['task']}: [bold]{job['status']}[/] "
        f"(attempts {job['attempts']}){phase} {pace(job)}: {job['message']}",
        highlight=False,
    )
    if job["error"]:
        console.print(f"[red]last error:[/] {job['error']}", highlight=False)
    if job["status"] == "failed":
        raise typer.Exit(1)


@app.command("cancel")
def cancel(
    job_id: Annotated[int, typer.Argument(help="Job id.", min=1)],
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Cancel a job: a queued one at once; a running one is asked to stop, and stops at its
    next step (`aborting`, then `aborted`)."""
    try:
        job = client(url, token).post(f"/api/v1/jobs/{job_id}/cancel")
    except NotFound as exc:
        raise _not_found_hint(exc) from None
    if as_json:
        emit_json(job)
        return
    if job["status"] == "aborting":
        console.print(
            f"job {job_id} {job['task']} is running: asked to stop "
            f"(`devflow jobs show {job_id} --watch` follows it)",
            highlight=False,
        )
    else:
        console.print(f"job {job_id} {job['task']}: [bold]{job['status']}[/]", highlight=False)


@app.command("retry")
def retry(
    job_id: Annotated[int, typer.Argument(help="Job id of a failed job.", min=1)],
    watch: Annotated[bool, typer.Option("--watch", help="Follow it until it ends.")] = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Queue a failed job again, as its next attempt."""
    api = client(url, token)
    try:
        job = api.post(f"/api/v1/jobs/{job_id}/retry")
    except NotFound as exc:
        raise _not_found_hint(exc) from None
    if watch:
        job = follow_job(api, job_id, quiet=as_json)
    if as_json:
        emit_json(job)
        return
    if watch:
        console.print(f"job {job_id} {job['task']}: [bold]{job['status']}[/]", highlight=False)
        if job["status"] == "failed":
            raise typer.Exit(1)
        return
    console.print(
        f"job {job_id} {job['task']} is queued again; "
        f"`devflow jobs show {job_id} --watch` follows it",
        highlight=False,
    )
