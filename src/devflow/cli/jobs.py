"""Background jobs: status and progress."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from devflow.core.cli import JsonOpt, TokenOpt, UrlOpt, client, console, emit_json, table

app = typer.Typer(help="Background jobs.", no_args_is_help=True)

FINAL = {"succeeded", "failed", "cancelled", "aborted"}
STATUSES = ("todo", "doing", "succeeded", "failed", "cancelled", "aborting", "aborted")
_STATES = ", ".join(STATUSES)


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
            "progress": f"{job['done']}/{job['total']}" if job["total"] else str(job["done"] or ""),
            "updated": (job["updated_at"] or job["scheduled_at"] or "")[:19].replace("T", " "),
        }
        for job in items
    ]
    table(rows, ["id", "task", "status", "progress", "message", "updated"], title="jobs")


def _phase(job: dict[str, Any]) -> str:
    """Return the phase a job's progress message names (`fetching: …`, `embedding: …`)."""
    message = str(job.get("message") or "")
    return message.split(":", 1)[0] if ":" in message else ""


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
    job = api.get(f"/api/v1/jobs/{job_id}")
    if watch and job["status"] not in FINAL:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
        ) as bar:
            task = bar.add_task(job["task"], total=job["total"], rate="")
            phase = _phase(job)
            while job["status"] not in FINAL:
                if _phase(job) != phase:  # a new phase counts a new unit: rate and ETA start again
                    phase = _phase(job)
                    bar.reset(task, total=job["total"])
                speed = bar.tasks[0].speed
                bar.update(
                    task,
                    rate=f"{speed:,.1f}/s" if speed else "",
                    completed=job["done"],
                    total=job["total"],
                    description=f"{job['task']}: {job['message']}",
                )
                time.sleep(0.5)
                job = api.get(f"/api/v1/jobs/{job_id}")
            bar.update(task, completed=job["done"], total=job["total"])
    if as_json:
        emit_json(job)
        return
    console.print(
        f"job {job['id']} {job['task']}: [bold]{job['status']}[/] "
        f"(attempts {job['attempts']}) {job['done']}/{job['total'] or '?'} "
        f"{job['message']}"
    )
    if job["error"]:
        console.print(f"[red]last error:[/] {job['error']}", highlight=False)
    if job["status"] == "failed":
        raise typer.Exit(1)
