"""Background jobs: status and progress."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from devflow.core.cli import JsonOpt, TokenOpt, UrlOpt, client, console, emit_json

app = typer.Typer(help="Background jobs.", no_args_is_help=True)

FINAL = {"succeeded", "failed", "cancelled", "aborted"}


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
            TimeElapsedColumn(),
            console=console,
        ) as bar:
            task = bar.add_task(job["task"], total=job["total"])
            while job["status"] not in FINAL:
                bar.update(
                    task,
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
