"""A wrong command line gets usage and a one-line error, exit code 2, and no traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["project", "create"], "Missing argument 'name'"),
        (["jobs", "show", "notanint"], "Invalid value for 'job_id'"),
        (["nosuchcmd"], "No such command 'nosuchcmd'"),
        (["search", "keys", "--mode", "fuzzy"], "choose one of hybrid, keyword, semantic"),
        (["search", "keys", "--group", "pages"], "choose one of documents, passages"),
    ],
)
def test_usage_errors_print_usage_not_a_traceback(argv: list[str], message: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "devflow", *argv], capture_output=True, text=True, check=False
    )
    assert done.returncode == 2
    assert message in done.stderr
    assert "Usage: " in done.stderr
    assert "Traceback" not in done.stderr
