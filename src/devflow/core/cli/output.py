"""Printing for the CLI: tables for people, JSON for scripts, one red line for errors."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

console = Console()
err_console = Console(stderr=True)

_NO_LIMIT = 100_000
"""The width a table gets where output has none (a pipe, a file): its rows' natural width."""


def emit_json(data: Any) -> None:
    """Print `data` as JSON on stdout."""
    print(json.dumps(data, indent=2, default=str, ensure_ascii=False))


def table(
    rows: Sequence[dict[str, Any]], columns: Sequence[str], *, title: str | None = None
) -> None:
    """Print rows as a table with the given columns; no value is ever cut short.

    Names, ids and URLs are what people copy from a table. On a terminal a value too wide for
    its column folds onto the next line; into a pipe or a file each row stays on one line,
    however long, so `grep` and copying find it whole.
    """
    out = Table(title=title, show_lines=False, header_style="bold")
    for column in columns:
        out.add_column(column, overflow="fold")
    for row in rows:
        out.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in columns))
    if console.is_terminal:
        console.print(out)
        return
    wide = Console(
        file=console.file,
        width=_NO_LIMIT,
        color_system=console.color_system,  # type: ignore[arg-type]
        highlight=False,
    )
    wide.print(out)
