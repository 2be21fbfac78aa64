"""A wrong command line gets usage and a one-line error, exit code 2, and no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.cli_inprocess import run_cli


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["project", "create"], "Missing argument 'name'"),
        (["jobs", "show", "notanint"], "Invalid value for 'job_id'"),
        (["nosuchcmd"], "No such command 'nosuchcmd'"),
        (["search", "keys", "--mode", "fuzzy"], "choose one of hybrid, keyword, semantic"),
        (["search", "keys", "--group", "pages"], "choose one of documents, passages"),
        (["up", "--port", "70000"], "less than or equal to 65535"),
    ],
)
def test_usage_errors_print_usage_not_a_traceback(argv: list[str], message: str) -> None:
    done = run_cli(*argv, env=dict(os.environ))  # in this process: main() as the entry point
    assert done.returncode == 2
    assert message in done.stderr
    assert "Usage: " in done.stderr
    assert "Traceback" not in done.stderr


def test_python_m_devflow_prints_usage_not_a_traceback_too() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "devflow", "project", "create"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "Missing argument 'name'" in done.stderr
    assert "Usage: " in done.stderr
    assert "Traceback" not in done.stderr


def test_help_reads_as_paragraphs_wrapped_at_the_terminal_not_at_the_source() -> None:
    done = run_cli("knowledge", "add", "--help", env={**os.environ, "COLUMNS": "200"})
    assert "adding it again under the same name brings the source up to date" in done.stdout


def test_no_commands_help_breaks_a_paragraph_mid_sentence() -> None:
    import typer

    from devflow.cli.main import app

    def walk(command: Any, path: str) -> Iterator[tuple[str, str]]:
        yield path, command.help or ""
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, f"{path} {name}")

    broken = [
        path
        for path, text in walk(typer.main.get_command(app), "devflow")
        for block in text.split("\n\n")
        if "\n" in block and not block.startswith("\b")
    ]
    assert broken == []


def test_port_0_is_a_free_port_named_everywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    from devflow.cli.runtime import _settings

    monkeypatch.setenv("DEVFLOW_HOME", os.devnull)  # settings only; nothing is created
    settings = _settings("127.0.0.1", 0)
    assert settings.server.port != 0
    assert settings.base_url == f"http://127.0.0.1:{settings.server.port}"
