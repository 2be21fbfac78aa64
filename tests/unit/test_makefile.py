"""`make run`, the README's first command, binds where DevFlow's messages say it can be told to."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def _run_line(*args: str, **env: str) -> str:
    """The `devflow up` line `make run` would run (make -n prints, runs nothing)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("HOST", "PORT"))}
    out = subprocess.run(
        ["make", "-n", "--no-print-directory", "run", *args],
        cwd=ROOT,
        env={**environ, **env},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return next(line for line in out.splitlines() if "devflow up" in line)


def test_the_port_setting_the_messages_name_is_not_overridden():
    # "cannot listen on 127.0.0.1:3737 … Choose another with --port or DEVFLOW_SERVER__PORT":
    # make run passed --port 3737 itself, so the variable changed nothing.
    line = _run_line(DEVFLOW_SERVER__PORT="3800")
    assert "--port" not in line
    assert "--host" not in line


def test_make_run_takes_a_port_and_a_host():
    line = _run_line("PORT=3800", "HOST=0.0.0.0")
    assert line.endswith("devflow up --host 0.0.0.0 --port 3800")
