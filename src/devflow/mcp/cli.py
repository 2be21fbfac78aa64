"""`devflow mcp`: the MCP gateway over stdio, and client configuration snippets."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the `mcp` command group to the root `devflow` command."""
