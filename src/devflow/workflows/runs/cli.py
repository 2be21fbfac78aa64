"""`devflow run …`: start a run of a workflow, follow it, steer it, decide what it waits for.

Every command acts in `--project` through the API, like `devflow task …`, and prints JSON with
`--json`. A run's work is tasks on the board (`devflow task list --run N`); these commands act
on the run itself.
"""

from __future__ import annotations

import math
import re
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from devflow.core.cli import ApiClient, JsonOpt, TokenOpt, UrlOpt, client, console, emit_json
from devflow.core.cli import table as print_table
from devflow.core.errors import Invalid
from devflow.workflows.cli_common import (
    LimitOpt,
    OffsetOpt,
    ProjectOpt,
    check_choice,
    print_facts,
    project_name,
    project_path,
)

run_app = typer.Typer(
    help="Runs of workflows: start one towards a goal, list, show its phases and approvals, "
    "pause, resume, cancel, approve or reject what it waits for, submit its result.",
    no_args_is_help=True,
)

RunArg = Annotated[int, typer.Argument(help="Run number (`devflow run list`).", min=1)]
ApprovalArg = Annotated[
    int, typer.Argument(help="Approval id (`devflow run show N` lists those waiting).", min=1)
]
CommentOpt = Annotated[str, typer.Option("--comment", "-m", help="Why (Markdown).")]
STATES = ("pending", "running", "paused", "awaiting_approval", "succeeded", "failed", "cancelled")
_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?")
_BOOLS = {"true": True, "false": False, "yes": True, "no": False}


def register(root: typer.Typer) -> None:
    """Add `devflow run` to the root command."""
    root.add_typer(run_app, name="run")


def _flag(project: str | None) -> str:
    """The `-p` a suggested command needs to act where this one did."""
    return f" -p {project}" if project else ""


def _text(value: str, option: str) -> str:
    """`value`, or standard input when it is '-'."""
    if value != "-":
        return value
    if sys.stdin.isatty():
        raise Invalid(f"{option} - reads standard input: pipe the text in")
    return sys.stdin.read()


# -- parameters -----------------------------------------------------------------------------------


def guess(raw: str) -> str | int | float | bool:
    """A value as a user means it: true/false (yes/no) a boolean, 3 an integer, 2.5 a number,
    anything else text."""
    stripped = raw.strip()
    if stripped.lower() in _BOOLS:
        return _BOOLS[stripped.lower()]
    if _INT.fullmatch(stripped):
        return int(stripped)
    if _FLOAT.fullmatch(stripped) and math.isfinite(number := float(stripped)):
        return number
    return raw


def _as(kind: str, name: str, raw: str) -> str | int | float | bool:
    """`raw` as the parameter's declared type (text stays text, even '42')."""
    if kind in ("string", "text", "choice"):
        return raw
    value = guess(raw)
    if kind == "boolean" and not isinstance(value, bool):
        raise Invalid(f"--param {name}={raw}: {name} is true or false (or yes/no)")
    if kind == "integer" and (isinstance(value, bool) or not isinstance(value, int)):
        raise Invalid(f"--param {name}={raw}: {name} is a whole number, e.g. {name}=3")
    if kind == "number" and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise Invalid(f"--param {name}={raw}: {name} is a number, e.g. {name}=2.5")
    return value


def parse_params(given: list[str], declared: dict[str, str]) -> dict[str, Any]:
    """`--param k=v` values, typed by the definition's `declared` types where it names them,
    else guessed (`guess`).

    Raises:
        Invalid: a value without '=', a name given twice, or a value not of its declared type.
    """
    params: dict[str, Any] = {}
    for item in given:
        name, sep, raw = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise Invalid(f"--param {item!r}: write it as NAME=VALUE, e.g. --param severity=high")
        if name in params:
            raise Invalid(f"--param {name} is given twice; give each parameter once")
        kind = declared.get(name)
        params[name] = _as(kind, name, raw) if kind else guess(raw)
    return params


def _declared(api: ApiClient, project: str, workflow: str, version: int | None) -> dict[str, str]:
    """The definition's parameter types, by name."""
    found = api.get(
        f"/api/v1/projects/{project}/workflows/{workflow}",
        params={"version": version} if version else None,
    )
    return {p["name"]: p["type"] for p in found["spec"]["parameters"]}


# -- printing -------------------------------------------------------------------------------------


def _headline(run: dict[str, Any]) -> str:
    return (
        f"[bold]run {run['number']}[/] {escape(run['workflow'])} v{run['workflow_version']} "
        f"[bold]{run['state']}[/] [dim]{escape(_first_line(run['goal']))}[/]"
    )


def _first_line(text: str, width: int = 80) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= width else line[: width - 1] + "…"


def _counts(tasks: dict[str, int]) -> str:
    return ", ".join(f"{state} {n}" for state, n in tasks.items() if n) or "-"


def _waiting(run: dict[str, Any]) -> list[dict[str, Any]]:
    return [a for a in run["approvals"] if a["state"] == "pending"]


def _approval_line(run: dict[str, Any], a: dict[str, Any], flag: str) -> str:
    what = {"phase": "to enter phase", "review": "review in phase", "result": "the result"}
    where = f" {a['phase']}" if a["phase"] and a["kind"] != "result" else ""
    task = f" (task #{a['task']})" if a["task"] else ""
    due = f", due {a['due_at']} then {a['on_timeout']}" if a["due_at"] else ""
    note = f"\n    {escape(a['comment'])}" if a.get("comment") else ""
    number, ident = run["number"], a["id"]
    return (
        f"  [bold]approval {ident}[/]: {what[a['kind']]}{where}{task}{due}{note}\n"
        f"    devflow run approve {number} {ident}{flag}    "
        f"devflow run reject {number} {ident}{flag} --comment WHY"
    )


def _show(run: dict[str, Any], flag: str) -> None:
    console.print(_headline(run), highlight=False)
    facts = [
        ("created", f"{run['created_at']} by {run['created_by'] or '?'}"),
        (
            "repository",
            f"{run['repository']} ({run['base_branch'] or 'default branch'})"
            if run["repository"]
            else "",
        ),
        ("params", ", ".join(f"{k}={_param(v)}" for k, v in run["params"].items())),
        ("finished", run["finished_at"] or ""),
        ("version", str(run["version"])),
    ]
    print_facts(facts)
    console.print(f"\n[bold]Goal:[/]\n{escape(run['goal'])}\n", highlight=False)
    rows = [
        {
            "phase": p["id"],
            "name": p["name"],
            "tasks": _counts(p["tasks"]),
            "gate": ", ".join(
                g for g in ("approval" if p["approval"] else "", _check(p["validation"])) if g
            ),
            "next": ", ".join(p["next"]),
        }
        for p in run["phases"]
    ]
    print_table(rows, ["phase", "name", "tasks", "gate", "next"], title="phases")
    if any(p["tasks"] for p in run["phases"]):
        console.print(f"  tasks: devflow task list --run {run['number']}{flag}", highlight=False)
    waiting = _waiting(run)
    if waiting:
        console.print("\n[bold yellow]Waiting for a decision:[/]")
        for approval in waiting:
            console.print(_approval_line(run, approval, flag), highlight=False)
    decided = [a for a in run["approvals"] if a["state"] != "pending"]
    if decided:
        console.print("\n[bold]Decided:[/]")
        for approval in decided:
            console.print(_decided_line(approval), highlight=False)
    if run["result"]:
        console.print(f"\n[bold]Result:[/]\n{escape(run['result'])}", highlight=False)
    if run["outcome"]:
        console.print(f"\n[bold]Outcome:[/] {escape(run['outcome'])}", highlight=False)
    _hint(run, flag)


def _decided_line(a: dict[str, Any]) -> str:
    where = f" {a['phase']}" if a["phase"] and a["kind"] != "result" else ""
    task = f", task #{a['task']}" if a["task"] else ""
    who = f" by {a['decided_by']}" if a["decided_by"] else " by its timeout"
    why = f": {_first_line(a['comment'])}" if a.get("comment") else ""
    return f"  approval {a['id']} ({a['kind']}{where}{task}): {a['state']}{who}{escape(why)}"


def _param(value: Any) -> str:
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return _first_line(text, 40)


def _check(validation: str) -> str:
    return {"command": "command check", "reviewer": "reviewer check"}.get(validation, "")


def _hint(run: dict[str, Any], flag: str) -> None:
    """What the run's state asks of a person next."""
    number, state = run["number"], run["state"]
    hints = {
        "pending": "it gets its first task when a worker starts it (`devflow worker`)",
        "paused": f"no task of it can be claimed; `devflow run resume {number}{flag}` goes on",
        "running": (
            f"when its work is done: `devflow run result {number}{flag} --summary TEXT`"
            if not run["result"]
            else "its result is being checked"
        ),
    }
    if state in hints:
        console.print(f"\n[dim]{escape(hints[state])}[/]", highlight=False)


def _done(run: dict[str, Any], as_json: bool, what: str, flag: str = "") -> None:
    if as_json:
        emit_json(run)
        return
    console.print(f"{what}: {_headline(run)}", highlight=False)
    for approval in _waiting(run):
        console.print(_approval_line(run, approval, flag), highlight=False)


# -- commands -------------------------------------------------------------------------------------


@run_app.command("start")
def start(
    workflow: Annotated[
        str, typer.Argument(help="A workflow definition's name (`devflow workflow list`).")
    ],
    goal: Annotated[
        str, typer.Option("--goal", "-g", help="What the run is for (Markdown; '-' reads stdin).")
    ],
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            help="A launch parameter NAME=VALUE; repeat. Typed as the definition declares it "
            "(a string stays a string); otherwise true/false and yes/no become booleans, 3 an "
            "integer, 2.5 a number, anything else text.",
        ),
    ] = None,
    repo: Annotated[
        str | None, typer.Option("--repo", help="A repository of the project it works on.")
    ] = None,
    base_branch: Annotated[
        str | None,
        typer.Option("--base-branch", help="Its branch to start from (default: its default)."),
    ] = None,
    version: Annotated[
        int | None, typer.Option(help="A version of the definition (default: the latest).", min=1)
    ] = None,
    project: ProjectOpt = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Start a run of a workflow; it gets the project's next run number.

    It is pending until a worker gives it its first task, in the workflow's first phase.

    Example: devflow run start bug-fix --goal "Login redirects to /404" --param
    report="Clicking Sign in lands on /404" --param repository=app --param severity=high
    --repo app
    """
    text = _text(goal, "--goal")
    api = client(url, token)
    name = project_name(api, project)
    declared = _declared(api, name, workflow, version) if param else {}
    body = {
        "workflow": workflow,
        "version": version,
        "goal": text,
        "params": parse_params(param or [], declared),
        "repository": repo,
        "base_branch": base_branch,
    }
    made = api.post(f"/api/v1/projects/{name}/runs", json=body)
    if as_json:
        emit_json(made)
        return
    flag = _flag(project)
    console.print(f"started {_headline(made)}", highlight=False)
    console.print(
        f"[dim]its first task comes when a worker starts it; follow it with "
        f"`devflow run show {made['number']}{flag}`[/]",
        highlight=False,
    )


@run_app.command("list")
def list_(
    state: Annotated[
        str | None, typer.Option(help=f"Only runs in this state: {', '.join(STATES)}.")
    ] = None,
    workflow: Annotated[str | None, typer.Option(help="Only runs of this workflow.")] = None,
    limit: LimitOpt = 50,
    offset: OffsetOpt = 0,
    project: ProjectOpt = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List the project's runs, newest first."""
    if state is not None:
        check_choice("--state", state, STATES)
    api = client(url, token)
    params = {"state": state, "workflow": workflow, "limit": limit, "offset": offset}
    page = api.get(
        f"{project_path(api, project)}/runs",
        params={k: v for k, v in params.items() if v is not None},
    )
    if as_json:
        emit_json(page)
        return
    rows = [
        {
            **r,
            "workflow": f"{r['workflow']} v{r['workflow_version']}",
            "goal": _first_line(r["goal"], 60),
        }
        for r in page["items"]
    ]
    columns = ["number", "workflow", "state", "goal", "created_by", "updated_at"]
    print_table(rows, columns, title=f"{len(rows)} of {page['total']} runs")


@run_app.command("show")
def show(
    number: RunArg,
    project: ProjectOpt = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a run: its goal, phases with their tasks by state, approvals waiting (with the
    command that decides each), its result."""
    api = client(url, token)
    run = api.get(f"{project_path(api, project)}/runs/{number}")
    if as_json:
        emit_json(run)
    else:
        _show(run, _flag(project))


def _act(
    action: str, number: int, project: str | None, url: str | None, token: str | None, **kw: Any
) -> dict[str, Any]:
    api = client(url, token)
    done: dict[str, Any] = api.post(f"{project_path(api, project)}/runs/{number}/{action}", **kw)
    return done


def _run_action(action: str, what: str, help_: str) -> None:
    """Add `devflow run ACTION N`: post ACTION to run N, then print the run, saying `what`."""

    def command(
        number: RunArg,
        project: ProjectOpt = None,
        url: UrlOpt = None,
        token: TokenOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        _done(_act(action, number, project, url, token), as_json, what, _flag(project))

    run_app.command(action, help=help_)(command)


_run_action(
    "pause",
    "paused",
    "Pause a run: no task of it can be claimed until it resumes (checks under way finish).",
)
_run_action("resume", "resumed", "Resume a paused run where it was.")
_run_action(
    "cancel",
    "cancelled",
    """Cancel a run: its approvals and steps waiting are dropped; its tasks stay on the board
    but can no longer be claimed.""",
)


def _decision(decision: str, help_: str) -> None:
    """Add `devflow run DECISION N APPROVAL`, which decides an approval the run waits for."""

    def command(
        number: RunArg,
        approval: ApprovalArg,
        comment: CommentOpt = "",
        project: ProjectOpt = None,
        url: UrlOpt = None,
        token: TokenOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        body = {"decision": decision, "comment": comment}
        run = _act(f"approvals/{approval}", number, project, url, token, json=body)
        _done(run, as_json, f"{decision}d approval {approval}", _flag(project))

    run_app.command(decision, help=help_)(command)


_decision(
    "approve",
    """Approve what a run waits for: a task entering a gated phase, a task's work under review
    (not your own), or the run's result.

    Example: devflow run approve 3 7 --comment "looks right"
    """,
)
_decision(
    "reject",
    """Reject what a run waits for; say why with --comment (the task's assignee reads it).

    Example: devflow run reject 3 7 --comment "the test does not fail on main"
    """,
)


@run_app.command("result")
def result(
    number: RunArg,
    summary: Annotated[
        str | None, typer.Option("--summary", "-s", help="The result (Markdown; '-' reads stdin).")
    ] = None,
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="A Markdown file holding the result.")
    ] = None,
    project: ProjectOpt = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Submit a running run's result: what was done, with evidence (links, commands and their
    output). The workflow's check and approval, if it has them, decide whether it succeeds.

    Example: devflow run result 3 --file RESULT.md
    """
    if (summary is None) == (file is None):
        raise Invalid("give the result with --summary TEXT or --file FILE (one of them)")
    if file is not None:
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise Invalid(f"--file {file}: cannot read it ({exc})") from None
    else:
        text = _text(summary or "", "--summary")
    if not text.strip():
        raise Invalid("the result is empty: say what was done and how it was checked")
    run = _act("result", number, project, url, token, json={"summary": text})
    _done(run, as_json, "result submitted", _flag(project))
    if not as_json and run["state"] == "running" and run["result"]:
        console.print("[dim]its check runs now; `devflow run show` tells the outcome[/]")


__all__ = ["guess", "parse_params", "register", "run_app"]
