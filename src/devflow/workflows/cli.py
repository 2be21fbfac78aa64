"""CLI of the workflows domain: `devflow task …` and `devflow board`, through the server's API.

Commands act in `--project` (default: the project your token is restricted to, else
`default`). A change carries the version the command read just before it, so a change made
meanwhile by someone else is refused, never overwritten.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from devflow.core.cli import ApiClient, JsonOpt, TokenOpt, UrlOpt, client, console, emit_json
from devflow.core.cli import table as print_table
from devflow.core.errors import Conflict, Invalid
from devflow.workflows.cli_common import (
    LimitOpt,
    OffsetOpt,
    ProjectOpt,
    check_choice,
    print_facts,
    project_path,
)
from devflow.workflows.definitions import cli as definitions_cli
from devflow.workflows.runs import cli as runs_cli

task_app = typer.Typer(
    help="Tasks on the project's board: create, list, show, edit, move, assign, comment, close, "
    "and claim the next one.",
    no_args_is_help=True,
)
board_app = typer.Typer(
    help="The project's board: `devflow board` shows it; sub-commands edit its columns "
    "(project admins).",
    invoke_without_command=True,
)

NumberArg = Annotated[int, typer.Argument(help="Task number (12 for #12).", min=1)]
_STATES = ("open", "in_progress", "review", "done")
_PRIORITIES = ("low", "medium", "high", "urgent")
_TYPES = ("task", "bug", "feature", "epic")


def register(root: typer.Typer) -> None:
    """Add this domain's commands to the root `devflow` command."""
    root.add_typer(task_app, name="task")
    root.add_typer(board_app, name="board")
    definitions_cli.register(root)
    runs_cli.register(root)


def _summary(task: dict[str, Any]) -> str:
    who = f" @{task['assignee']}" if task.get("assignee") else ""
    blocked = " [red]blocked[/]" if task.get("blocked") else ""
    return (
        f"[bold]#{task['number']}[/] {escape(task['title'])} "
        f"[dim]({task['priority']}, {escape(task['column'])}){escape(who)}[/]{blocked}"
    )


def _show(task: dict[str, Any]) -> None:
    console.print(_summary(task), highlight=False)
    facts = [
        ("type", task["type"]),
        ("labels", ", ".join(task["labels"])),
        ("parent", f"#{task['parent']}" if task.get("parent") else ""),
        ("blocked by", " ".join(f"#{n}" for n in task["blocked_by"])),
        ("sub-tasks", " ".join(f"#{n}" for n in task.get("children", []))),
        ("milestone", task.get("milestone") or ""),
        ("run", _run_of(task)),
        ("lease until", task.get("lease_expires_at") or ""),
        ("links", " ".join(f"{x['kind']}:{x['ref']}" for x in task.get("links", []))),
        ("version", str(task["version"])),
    ]
    print_facts(facts)
    if task.get("body"):
        console.print(f"\n{escape(task['body'])}", highlight=False)
    if task.get("done_definition"):
        console.print(f"\n[bold]Done when:[/]\n{escape(task['done_definition'])}", highlight=False)


def _run_of(task: dict[str, Any]) -> str:
    """`3, phase fix (waits for approval)`: its run, phase and gate; '' for no run."""
    if not task.get("run"):
        return ""
    gate = {"approval": "waits for approval", "validation": "its work is being checked"}
    held = f" ({gate.get(task['gate'], task['gate'])})" if task.get("gate") else ""
    return f"{task['run']}, phase {task.get('phase') or '-'}{held}"


def _patch(
    api: ApiClient, project: str | None, number: int, changes: dict[str, Any]
) -> dict[str, Any]:
    """Change task `number` at the version just read."""
    base = project_path(api, project)
    current = api.get(f"{base}/tasks/{number}")
    changed: dict[str, Any] = api.request(
        "PATCH", f"{base}/tasks/{number}", json={"version": current["version"], **changes}
    )
    return changed


def _done(changed: dict[str, Any], as_json: bool, what: str) -> None:
    if as_json:
        emit_json(changed)
    else:
        console.print(f"{what}: {_summary(changed)}", highlight=False)


@task_app.command("create")
def create(
    title: Annotated[str, typer.Argument(help="One line (1 to 200 characters).")],
    body: Annotated[str, typer.Option(help="Markdown text.")] = "",
    done: Annotated[str, typer.Option("--done", help="When is it done (acceptance).")] = "",
    priority: Annotated[str, typer.Option(help="low, medium, high or urgent.")] = "medium",
    type_: Annotated[str, typer.Option("--type", help="task, bug, feature or epic.")] = "task",
    label: Annotated[list[str] | None, typer.Option("--label", help="Repeat for several.")] = None,
    parent: Annotated[int | None, typer.Option(help="Parent task number.", min=1)] = None,
    blocked_by: Annotated[
        list[int] | None, typer.Option("--blocked-by", help="Blocking task number; repeat.")
    ] = None,
    assign: Annotated[str | None, typer.Option("--assign", help="User name.")] = None,
    column: Annotated[str | None, typer.Option(help="Column (default: the first).")] = None,
    milestone: Annotated[str | None, typer.Option(help="Milestone name.")] = None,
    run: Annotated[
        int | None, typer.Option("--run", help="Part of this run (`devflow run list`).", min=1)
    ] = None,
    phase: Annotated[
        str | None,
        typer.Option(help="A phase of that run's workflow (default: its first)."),
    ] = None,
    project: ProjectOpt = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a task; it gets the project's next number (`#12`).

    Example: devflow task create "Fix the login redirect" --type bug --priority high
    --label auth --blocked-by 3

    In a run: devflow task create "Cover the redirect" --run 3 --phase fix
    """
    if phase is not None and run is None:
        raise Invalid("--phase needs --run N: a phase belongs to a run's workflow")
    check_choice("--priority", priority, _PRIORITIES)
    check_choice("--type", type_, _TYPES)
    api = client(url, token)
    data = {
        "title": title,
        "body": body,
        "done_definition": done,
        "priority": priority,
        "type": type_,
        "labels": label or [],
        "parent": parent,
        "blocked_by": blocked_by or [],
        "assignee": assign,
        "column": column,
        "milestone": milestone,
        "run": run,
        "phase": phase,
    }
    made = api.post(f"{project_path(api, project)}/tasks", json=data)
    _done(made, as_json, "created")


@task_app.command("list")
def list_(
    state: Annotated[str | None, typer.Option(help="open, in_progress, review or done.")] = None,
    column: Annotated[str | None, typer.Option(help="Column name.")] = None,
    assignee: Annotated[str | None, typer.Option(help="User name; 'none': unassigned.")] = None,
    label: Annotated[str | None, typer.Option(help="A label.")] = None,
    type_: Annotated[str | None, typer.Option("--type", help="task, bug, feature, epic.")] = None,
    parent: Annotated[int | None, typer.Option(help="Sub-tasks of this task.", min=1)] = None,
    run: Annotated[int | None, typer.Option("--run", help="Tasks of this run.", min=1)] = None,
    phase: Annotated[str | None, typer.Option(help="Tasks in this phase of a run.")] = None,
    search: Annotated[
        str | None, typer.Option("--search", "-s", help="Keywords in text and comments.")
    ] = None,
    limit: LimitOpt = 50,
    offset: OffsetOpt = 0,
    project: ProjectOpt = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List tasks, newest first (in board order with --column)."""
    if state is not None:
        check_choice("--state", state, _STATES)
    api = client(url, token)
    params = {
        "state": state,
        "column": column,
        "assignee": assignee,
        "label": label,
        "type": type_,
        "parent": parent,
        "run": run,
        "phase": phase,
        "q": search,
        "limit": limit,
        "offset": offset,
    }
    page = api.get(
        f"{project_path(api, project)}/tasks",
        params={k: v for k, v in params.items() if v is not None},
    )
    if as_json:
        emit_json(page)
        return
    rows = [
        {
            **t,
            "number": f"#{t['number']}",
            "labels": ",".join(t["labels"]),
            "blocked_by": " ".join(f"#{n}" for n in t["blocked_by"]),
        }
        for t in page["items"]
    ]
    columns = ["number", "title", "column", "priority", "type", "assignee", "labels", "blocked_by"]
    if any(t.get("run") for t in page["items"]):
        columns += ["run", "phase"]
    print_table(rows, columns, title=f"{len(rows)} of {page['total']} tasks")


@task_app.command("search")
def search_(
    query: Annotated[str, typer.Argument(help="Words, or what you mean; `#12` finds task 12.")],
    state: Annotated[str | None, typer.Option(help="open, in_progress, review or done.")] = None,
    run: Annotated[int | None, typer.Option("--run", help="Tasks of this run.", min=1)] = None,
    limit: Annotated[int, typer.Option(help="How many.", min=1, max=100)] = 20,
    project: ProjectOpt = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Search tasks and their comments by words and by meaning, best first (a hit found
    through a comment shows it). `task list --search` filters by keywords only."""
    if state is not None:
        check_choice("--state", state, _STATES)
    api = client(url, token)
    params = {"q": query, "state": state, "run": run, "limit": limit}
    hits = api.get(
        f"{project_path(api, project)}/tasks/search",
        params={k: v for k, v in params.items() if v is not None},
    )
    if as_json:
        emit_json(hits)
        return
    rows = [
        {**h, "number": f"#{h['number']}", "score": f"{h['score']:.2f}", "comment": h["comment"]}
        for h in hits
    ]
    print_table(rows, ["number", "title", "state", "score", "comment"], title=f"{len(rows)} found")


@task_app.command("show")
def show(
    number: NumberArg,
    comments: Annotated[bool, typer.Option("--comments", help="With its comments.")] = False,
    history: Annotated[bool, typer.Option("--history", help="With its changes.")] = False,
    project: ProjectOpt = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a task (with --comments and --history, those too)."""
    api = client(url, token)
    base = f"{project_path(api, project)}/tasks/{number}"
    task = api.get(base)
    notes = api.get(f"{base}/comments", params={"limit": 500})["items"] if comments else None
    changes = api.get(f"{base}/history", params={"limit": 500})["items"] if history else None
    if as_json:
        extra = {"comments": notes} if notes is not None else {}
        emit_json({**task, **extra, **({"history": changes} if changes is not None else {})})
        return
    _show(task)
    for note in notes or []:
        console.print(
            f"\n[bold]{escape(note['author'] or '?')}[/] {note['created_at']}\n"
            f"{escape(note['body'])}",
            highlight=False,
        )
    if changes:
        print_table(
            [{**c, "old": _value(c["old"]), "new": _value(c["new"])} for c in changes],
            ["at", "actor", "field", "old", "new", "note"],
            title="history",
        )


def _value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


@task_app.command("edit")
def edit(
    number: NumberArg,
    title: Annotated[str | None, typer.Option(help="New title.")] = None,
    body: Annotated[str | None, typer.Option(help="New Markdown text.")] = None,
    done: Annotated[str | None, typer.Option("--done", help="New done definition.")] = None,
    priority: Annotated[str | None, typer.Option(help="low, medium, high or urgent.")] = None,
    type_: Annotated[str | None, typer.Option("--type", help="task, bug, feature, epic.")] = None,
    label: Annotated[
        list[str] | None, typer.Option("--label", help="Its labels from now on; repeat.")
    ] = None,
    blocked_by: Annotated[
        list[int] | None,
        typer.Option("--blocked-by", help="Its blocking tasks from now on; repeat; 0: none."),
    ] = None,
    parent: Annotated[int | None, typer.Option(help="Parent task; 0 removes it.", min=0)] = None,
    milestone: Annotated[str | None, typer.Option(help="Milestone; '' removes it.")] = None,
    project: ProjectOpt = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Change a task's fields; those not given stay as they are.

    Example: devflow task edit 12 --priority urgent --blocked-by 3 --blocked-by 4
    """
    if priority is not None:
        check_choice("--priority", priority, _PRIORITIES)
    if type_ is not None:
        check_choice("--type", type_, _TYPES)
    fields = {
        "title": title,
        "body": body,
        "done_definition": done,
        "priority": priority,
        "type": type_,
        "labels": label,
        "blocked_by": [n for n in blocked_by if n] if blocked_by is not None else None,
        "parent": parent,
        "milestone": milestone,
    }
    changes = {k: v for k, v in fields.items() if v is not None}
    if not changes:
        raise Invalid("nothing to change: give at least one option (`devflow task edit --help`)")
    _done(_patch(client(url, token), project, number, changes), as_json, "changed")


@task_app.command("move")
def move(
    number: NumberArg,
    column: Annotated[str, typer.Argument(help="Column name (any case), e.g. 'In review'.")],
    before: Annotated[int | None, typer.Option(help="Place it before this task.", min=1)] = None,
    after: Annotated[int | None, typer.Option(help="Place it after this task.", min=1)] = None,
    project: ProjectOpt = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Move a task to a column (at its end, or --before/--after another task there)."""
    changes: dict[str, Any] = {"column": column}
    if before is not None:
        changes["before"] = before
    if after is not None:
        changes["after"] = after
    _done(_patch(client(url, token), project, number, changes), as_json, "moved")


@task_app.command("assign")
def assign(
    number: NumberArg,
    user: Annotated[str, typer.Argument(help="User name; '-' unassigns.")],
    project: ProjectOpt = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Assign a task to a user (or '-' to no one)."""
    who = "" if user.strip() in {"-", ""} else user
    _done(_patch(client(url, token), project, number, {"assignee": who}), as_json, "assigned")


@task_app.command("comment")
def comment(
    number: NumberArg,
    text: Annotated[str, typer.Argument(help="Markdown.")],
    project: ProjectOpt = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Comment on a task, or note progress (renews your claim on it)."""
    api = client(url, token)
    made = api.post(f"{project_path(api, project)}/tasks/{number}/comments", json={"body": text})
    if as_json:
        emit_json(made)
    else:
        console.print(f"commented on #{number}")


@task_app.command("close")
def close(
    number: NumberArg,
    project: ProjectOpt = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Close a task: move it to the board's first done column."""
    api = client(url, token)
    columns = api.get(f"{project_path(api, project)}/board", params={"limit": 1})["columns"]
    done = next((c["name"] for c in columns if c["state"] == "done"), None)
    if done is None:
        raise Conflict("this board has no done column; a project admin can add one")
    _done(_patch(api, project, number, {"column": done}), as_json, "closed")


@task_app.command("next")
def next_(
    project: ProjectOpt = None, url: UrlOpt = None, token: TokenOpt = None, as_json: JsonOpt = False
) -> None:
    """Claim your next task: the highest-priority open task nothing open blocks. Each call
    claims one more; the claim lasts while you update the task (see workflows.lease_minutes).

    With --json it prints the task (with its `number`), or null when none is free.
    """
    api = client(url, token)
    claimed = api.post(f"{project_path(api, project)}/tasks/next")
    if as_json:
        emit_json(claimed)
    elif claimed is None:
        console.print("no task is free to claim (all taken, blocked, or none open)")
    else:
        _show(claimed)


@board_app.callback()
def show_board(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(help="Tasks shown per column.", min=1, max=1000)] = 20,
    project: ProjectOpt = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show the board: its columns side by side, with counts, WIP limits and first tasks."""
    if ctx.invoked_subcommand is not None:
        return
    api = client(url, token)
    shown = api.get(f"{project_path(api, project)}/board", params={"limit": limit})
    if as_json:
        emit_json(shown)
        return
    grid = Table(title=f"board of {shown['project']}", show_lines=False, expand=True)
    for column in shown["columns"]:
        wip = f"/{column['wip_limit']}" if column["wip_limit"] else ""
        grid.add_column(f"{escape(column['name'])} {column['count']}{wip}", overflow="fold")
    cells = []
    for column in shown["columns"]:
        lines = [_card(t) for t in column["tasks"]]
        if column["count"] > len(column["tasks"]):
            lines.append(f"[dim]… {column['count'] - len(column['tasks'])} more[/]")
        cells.append("\n".join(lines))
    grid.add_row(*cells)
    console.print(grid)


def _card(task: dict[str, Any]) -> str:
    who = f" @{escape(task['assignee'])}" if task.get("assignee") else ""
    mark = {"urgent": "!!", "high": "!"}.get(task["priority"], "")
    blocked = " [red]⛔[/]" if task.get("blocked") else ""
    return f"[bold]#{task['number']}[/]{mark} {escape(task['title'])}[dim]{who}[/]{blocked}"


@board_app.command("column-add")
def column_add(
    name: Annotated[str, typer.Argument(help="Column name.")],
    state: Annotated[str, typer.Option(help="open, in_progress, review or done.")],
    wip: Annotated[int | None, typer.Option(help="WIP limit (default: none).", min=1)] = None,
    position: Annotated[int | None, typer.Option(help="0 is first (default: last).")] = None,
    project: ProjectOpt = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a column to the board (project admins)."""
    check_choice("--state", state, _STATES)
    api = client(url, token)
    body = {"name": name, "state": state, "wip_limit": wip, "position": position}
    made = api.post(f"{project_path(api, project)}/board/columns", json=body)
    _column_done(made, as_json, "added")


@board_app.command("column-set")
def column_set(
    column: Annotated[str, typer.Argument(help="Column name.")],
    name: Annotated[str | None, typer.Option("--name", help="New name.")] = None,
    state: Annotated[str | None, typer.Option(help="open, in_progress, review, done.")] = None,
    wip: Annotated[int | None, typer.Option(help="WIP limit; 0 removes it.", min=0)] = None,
    position: Annotated[int | None, typer.Option(help="0 is first.", min=0)] = None,
    project: ProjectOpt = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Rename a column, change its state, WIP limit or place (project admins)."""
    if state is not None:
        check_choice("--state", state, _STATES)
    body = {"name": name, "state": state, "wip_limit": wip, "position": position}
    api = client(url, token)
    changed = api.request(
        "PATCH",
        f"{project_path(api, project)}/board/columns/{column}",
        json={k: v for k, v in body.items() if v is not None},
    )
    _column_done(changed, as_json, "changed")


@board_app.command("column-remove")
def column_remove(
    column: Annotated[str, typer.Argument(help="Column name (it must be empty).")],
    project: ProjectOpt = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Remove an empty column (project admins)."""
    api = client(url, token)
    api.request("DELETE", f"{project_path(api, project)}/board/columns/{column}")
    console.print(f"removed column {escape(column)}")


def _column_done(column: dict[str, Any], as_json: bool, what: str) -> None:
    if as_json:
        emit_json(column)
        return
    wip = f", WIP limit {column['wip_limit']}" if column["wip_limit"] else ", no WIP limit"
    console.print(
        f"{what} column {escape(column['name'])} ({column['state']}{wip}, position "
        f"{column['position']})",
        highlight=False,
    )
