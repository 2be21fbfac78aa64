"""`devflow run …` and the run options of `devflow task …` as a user runs them, against a server.

The engine's steps are carried out in this process (`drive`), as a worker's jobs would."""

import json

from sqlalchemy import select

from devflow.core import clock
from devflow.settings import load_settings
from devflow.workflows.models import RunStep
from devflow.workflows.runs import engine
from tests.integration import test_knowledge_cli as cli_tests

# The server and the CLI runner of the knowledge CLI's tests, as fixtures of this module too.
cli, server, fake_llm, llm_overrides, knowledge_overrides = (
    cli_tests.cli,
    cli_tests.server,
    cli_tests.fake_llm,
    cli_tests.llm_overrides,
    cli_tests.knowledge_overrides,
)

SHIP = """
name: ship
description: Plan, then build behind a gate; a reviewer accepts the result.
parameters:
  - name: severity
    type: choice
    choices: [low, high]
    required: true
  - name: retries
    type: integer
    default: 1
  - name: tag
    type: string
  - name: dry
    type: boolean
    default: false
phases:
  - id: plan
    name: Plan
    instructions: Write the plan.
    done_definition: A plan exists.
    next: [build]
  - id: build
    name: Build
    approval:
      required: true
result:
  validation:
    kind: reviewer
"""


async def drive(sessions, db_url) -> None:
    """Carry out every pending step that is due (a run's `start` gives it its first task)."""
    settings = load_settings(database_url=db_url)
    async with sessions() as session:
        due = await session.scalars(
            select(RunStep.id).where(RunStep.state == "pending", RunStep.not_before <= clock.now())
        )
        steps = list(due)
    for step in steps:
        await engine.carry_out(sessions, settings, step)


def as_json(result):
    return json.loads(result.stdout)


async def test_a_run_from_start_to_its_accepted_result(cli, tmp_path, sessions, db_url):
    (tmp_path / "ship.yml").write_text(SHIP)
    cli("workflow", "apply", "ship.yml")
    params = ("--param", "severity=high", "--param", "retries=3", "--param", "tag=42")
    started = as_json(
        cli("run", "start", "ship", "--goal", "Ship 2.0", *params, "--param", "dry=yes", "--json")
    )
    assert (started["number"], started["state"]) == (1, "pending")
    # Typed as the definition declares: the string parameter keeps "42" a string.
    assert started["params"] == {"severity": "high", "retries": 3, "tag": "42", "dry": True}
    assert "a worker" in cli("run", "show", "1").stdout

    await drive(sessions, db_url)
    listed = as_json(cli("task", "list", "--run", "1", "--json"))
    assert [(t["number"], t["run"], t["phase"]) for t in listed["items"]] == [(1, 1, "plan")]
    assert "run: 1, phase plan" in cli("task", "show", "1").stdout

    gated = as_json(cli("task", "create", "Build it", "--run", "1", "--phase", "build", "--json"))
    assert (gated["run"], gated["phase"], gated["gate"]) == (1, "build", "approval")
    assert "waits for approval" in cli("task", "show", str(gated["number"])).stdout
    assert [
        t["number"] for t in as_json(cli("task", "list", "--phase", "build", "--json"))["items"]
    ] == [gated["number"]]
    shown = cli("run", "show", "1").stdout
    assert "awaiting_approval" in shown
    assert "plan" in shown
    assert "open 1" in shown
    (approval,) = as_json(cli("run", "show", "1", "--json"))["approvals"]
    assert f"devflow run approve 1 {approval['id']}" in shown

    approved = as_json(cli("run", "approve", "1", str(approval["id"]), "-m", "go", "--json"))
    assert approved["state"] == "running"
    assert approved["approvals"][0]["comment"] == "go"
    assert "paused" in cli("run", "pause", "1").stdout
    assert as_json(cli("run", "list", "--state", "paused", "--json"))["total"] == 1
    assert "resumed" in cli("run", "resume", "1").stdout

    (tmp_path / "RESULT.md").write_text("Shipped 2.0: see the release notes.\n")
    submitted = as_json(cli("run", "result", "1", "--file", "RESULT.md", "--json"))
    assert submitted["state"] == "awaiting_approval"
    result_approval = submitted["approvals"][-1]
    assert result_approval["kind"] == "result"
    said = cli("run", "approve", "1", str(result_approval["id"])).stdout
    assert "succeeded" in said
    shown = cli("run", "show", "1").stdout
    assert "Shipped 2.0" in shown
    listed = cli("run", "list").stdout
    assert "ship v1" in listed
    assert "succeeded" in listed


async def test_a_rejection_and_a_cancel_say_what_happened(cli, sessions, db_url):
    first = as_json(
        cli(
            "run",
            "start",
            "bug-fix",
            "--goal",
            "Crash on save",
            "--param",
            "report=it crashes",
            "--param",
            "repository=app",
            "--json",
        )
    )
    assert (first["workflow"], first["params"]["severity"]) == ("bug-fix", "medium")
    await drive(sessions, db_url)
    gated = as_json(
        cli("task", "create", "Review the fix", "--run", "1", "--phase", "review", "--json")
    )
    approval = as_json(cli("run", "show", "1", "--json"))["approvals"][0]["id"]
    rejected = as_json(cli("run", "reject", "1", str(approval), "--comment", "no", "--json"))
    assert rejected["approvals"][0]["state"] == "rejected"
    closed = as_json(cli("task", "show", str(gated["number"]), "--json"))
    assert "rejected" in closed["labels"]
    cancelled = cli("run", "cancel", "1").stdout
    assert "cancelled" in cancelled
    again = cli("run", "cancel", "1", check=False)
    assert again.returncode == 5
    assert "run 1 is cancelled" in again.stderr


def test_mistakes_are_refused_with_the_fix(cli):
    cases = [
        (("run", "list", "--state", "done"), 2, "pending, running, paused"),
        (("run", "start", "bug-fix", "--goal", "x", "--param", "severity"), 2, "NAME=VALUE"),
        (
            ("run", "start", "bug-fix", "--goal", "x", "--param", "a=1", "--param", "a=2"),
            2,
            "given twice",
        ),
        (
            ("run", "start", "bug-fix", "--goal", "x", "--param", "report=r"),
            2,
            "parameter 'repository' is required",
        ),
        (("run", "start", "nope", "--goal", "x"), 4, "devflow workflow list"),
        (("run", "show", "9"), 4, "no run 9 in project 'default'; `devflow run list`"),
        (("run", "approve", "9", "1"), 4, "no run 9"),
        (("run", "result", "9"), 2, "--summary TEXT or --file FILE"),
        (("run", "result", "9", "--file", "missing.md"), 2, "cannot read it"),
        (("task", "create", "x", "--phase", "plan"), 2, "--phase needs --run N"),
        (("task", "create", "x", "--run", "9"), 4, "no run 9"),
    ]
    for args, code, said in cases:
        done = cli(*args, check=False)
        assert done.returncode == code, (args, done)
        assert said in done.stderr, (args, done)


def test_an_integer_parameter_must_look_like_one(cli, tmp_path):
    (tmp_path / "ship.yml").write_text(SHIP)
    cli("workflow", "apply", "ship.yml")
    refused = cli(
        "run",
        "start",
        "ship",
        "--goal",
        "x",
        "--param",
        "severity=low",
        "--param",
        "retries=many",
        check=False,
    )
    assert refused.returncode == 2
    assert "retries is a whole number, e.g. retries=3" in refused.stderr
    helped = cli("run", "start", "--help").stdout
    assert "true/false" in helped
    assert "2.5 a number" in helped
