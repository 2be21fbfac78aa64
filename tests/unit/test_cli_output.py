"""CLI tables never cut a value short: names, ids and URLs are what people copy from them."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from devflow.core.cli import output

NAME = "python-3.11-documentation-from-debian-python3-doc-served-on-loopback"
URL = "http://127.0.0.1:8000/usr/share/doc/python3/html/library/index.html"
ROWS = [
    {"id": "3f2a9c1e-1111-2222-3333-444455556666", "name": NAME, "url": URL, "status": "ready"},
    {"id": "7", "name": "short", "url": None, "status": "failed"},
]
COLUMNS = ["id", "name", "url", "status"]


def printed(monkeypatch: pytest.MonkeyPatch, *, terminal: bool) -> str:
    monkeypatch.setenv("COLUMNS", "80")
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=terminal, color_system=None)
    assert console.width == 80
    monkeypatch.setattr(output, "console", console)
    output.table(ROWS, COLUMNS, title="sources")
    return buffer.getvalue()


class TestTables:
    def test_into_a_pipe_each_row_is_one_whole_line_however_narrow_columns_says(self, monkeypatch):
        text = printed(monkeypatch, terminal=False)
        [line] = [line for line in text.splitlines() if NAME in line]
        assert URL in line
        assert ROWS[0]["id"] in line
        assert "…" not in text

    def test_on_an_80_column_terminal_long_values_fold_and_lose_nothing(self, monkeypatch):
        text = printed(monkeypatch, terminal=True)
        assert max(len(line) for line in text.splitlines()) <= 80
        assert "…" not in text
        columns = _columns(text)
        for value in (NAME, URL, ROWS[0]["id"]):
            assert any(value in column for column in columns), value


def _columns(text: str) -> list[str]:
    """Each column's cells of the table body, joined over the lines a folded value spans."""
    joined: dict[int, str] = {}
    for line in text.splitlines():
        if "│" not in line:  # borders, header and title
            continue
        for index, cell in enumerate(line.split("│")):
            joined[index] = joined.get(index, "") + cell.strip()
    return list(joined.values())
