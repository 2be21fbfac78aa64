"""Printing for the CLI: tables for people, JSON for scripts, one red line for errors."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

console = Console()
err_console = Console(stderr=True)


def emit_json(data: Any) -> None:
    """Print `data` as JSON on stdout."""
    print(json.dumps(data, indent=2, default=str, ensure_ascii=False))


def table(
    rows: Sequence[dict[str, Any]], columns: Sequence[str], *, title: str | None = None
) -> None:
    """Print rows as a table with the given columns."""
    out = Table(title=title, show_lines=False, header_style="bold")
    for column in columns:
        out.add_column(column)
    for row in rows:
        out.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in columns))
    console.print(out)
