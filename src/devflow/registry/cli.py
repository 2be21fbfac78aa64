"""CLI commands of the registry domain."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this domain's commands to the root `devflow` command."""
