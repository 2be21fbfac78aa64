"""A workflow run survives `kill -9` of the server and the worker in the middle of a step: the
next start carries the step out again from its beginning, and its effects happen once."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx
import psutil
import pytest

from tests.e2e.conftest import make_home, start_up, wait_for

pytestmark = pytest.mark.e2e

DEFINITION = """
name: durable
phases:
  - id: build
    name: Build
    validation:
      kind: command
      command: "touch {marks}/started-$$ && sleep 3 && echo built"
"""


def _workers(up: psutil.Process) -> list[psutil.Process]:
    return [p for p in up.children(recursive=True) if "worker" in " ".join(p.cmdline())]


def test_a_run_killed_mid_check_goes_on_after_a_restart_and_checks_once(tmp_path: Path):
    marks = tmp_path / "marks"
    marks.mkdir()
    marks.chmod(0o777)
    home = make_home()
    env = {"DEVFLOW_WORKFLOWS__RUN_COMMANDS": "true", "DEVFLOW_JOBS__STALLED_AFTER_SECONDS": "5"}
    first = start_up(home, extra_env=env)
    api = httpx.Client(
        base_url=f"{first.url}/api/v1/projects/default",
        headers={"Authorization": f"Bearer {first.token}"},
        timeout=30,
    )
    try:
        answer = api.post(
            "/workflows",
            content=DEFINITION.format(marks=marks),
            headers={"Content-Type": "application/yaml"},
        )
        assert answer.status_code in (200, 201), answer.text
        assert (
            api.post("/runs", json={"workflow": "durable", "goal": "Build it"}).status_code == 201
        )
        wait_for(lambda: api.get("/runs/1").json()["state"] == "running")
        claimed = api.post("/tasks/next").json()
        assert (claimed["number"], claimed["phase"]) == (1, "build")
        moved = api.patch("/tasks/1", json={"version": claimed["version"], "column": "Done"})
        assert moved.json()["gate"] == "validation"
        wait_for(lambda: list(marks.iterdir()))  # the check is running in the worker

        up = psutil.Process(first.proc.pid)
        victims = [up, *_workers(up)]
        for proc in victims:
            os.kill(proc.pid, signal.SIGKILL)
        first.proc.communicate(timeout=30)
    finally:
        api.close()

    second = start_up(home, extra_env=env)
    try:
        with httpx.Client(
            base_url=f"{second.url}/api/v1/projects/default",
            headers={"Authorization": f"Bearer {second.token}"},
            timeout=30,
        ) as api:
            done = wait_for(lambda: (t := api.get("/tasks/1").json())["state"] == "done" and t)
            assert done["gate"] is None
            assert len(list(marks.iterdir())) == 2  # started twice: killed once, then again
            changes = api.get("/tasks/1/history", params={"limit": 500}).json()["items"]
            to_done = [c for c in changes if c["field"] == "column" and c["new"] == "Done"]
            assert len(to_done) == 1  # its effects happened once
            comments = api.get("/tasks/1/comments").json()["items"]
            assert [c["body"].split(":")[0] for c in comments] == ["Check passed"]
            # The run goes on where it was: its result ends it.
            ended = api.post("/runs/1/result", json={"summary": "Built: see #1"}).json()
            assert ended["state"] == "succeeded"
    finally:
        second.stop()
