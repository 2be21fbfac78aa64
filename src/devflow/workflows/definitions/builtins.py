"""The definitions DevFlow ships (`builtin/*.yml`): listed in every project, stored in one as
version 1 with origin `builtin` the first time it is used."""

from __future__ import annotations

import functools
from importlib import resources

from devflow.workflows.definitions.loader import parse
from devflow.workflows.definitions.spec import WorkflowSpec


@functools.cache
def builtins() -> dict[str, tuple[str, WorkflowSpec]]:
    """Each built-in by name: its YAML and its spec (they are checked when first read)."""
    folder = resources.files(__package__).joinpath("builtin")
    found: dict[str, tuple[str, WorkflowSpec]] = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith((".yml", ".yaml")):
            source = entry.read_text(encoding="utf-8")
            spec = parse(source, file=f"builtin/{entry.name}")
            found[spec.name] = (source, spec)
    return found


__all__ = ["builtins"]
