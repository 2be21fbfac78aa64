"""Command help read as paragraphs: a docstring's line breaks are where its source wrapped.

Typer's Rich help keeps every line break of a docstring after its first paragraph, so a
sentence wrapped at 100 columns in the source showed broken mid-sentence on any terminal.
`reflow_help` joins each paragraph's lines before Typer builds the commands; Rich then wraps
them at the terminal's width. A paragraph that starts with click's `\\b` (no rewrap) or holds
indented, `$ ` or `- ` lines (examples, lists) is kept as written.
"""

from __future__ import annotations

import inspect

import typer

_KEEP = (" ", "\t", "$ ", "- ", "* ")


def paragraphs(text: str) -> str:
    """Return `text` dedented with each paragraph's lines joined into one."""
    blocks = inspect.cleandoc(text).split("\n\n")
    return "\n\n".join(
        block
        if block.startswith("\b") or any(line.startswith(_KEEP) for line in block.splitlines())
        else " ".join(line.strip() for line in block.splitlines())
        for block in blocks
    )


def reflow_help(app: typer.Typer) -> None:
    """Join the paragraphs of the help of `app`'s commands and groups, and theirs, in place."""
    for command in app.registered_commands:
        text = command.help or inspect.getdoc(command.callback)
        if text:
            command.help = paragraphs(text)
    for group in app.registered_groups:
        if isinstance(group.help, str):
            group.help = paragraphs(group.help)
        if group.typer_instance is not None:
            reflow_help(group.typer_instance)
