"""A domain's manifest: everything the surfaces need to know of it, in one description.

Each domain's `__init__` exports one `Domain`; `devflow.domains.DOMAINS` lists them, and that one
list drives the services of every process, the app factory, the worker, the CLI, the MCP gateway
and the migrations' model import. Adding a domain means writing its folder and adding it there.

What is heavy to import (routers, job blueprints, tools, commands) is named as a `lazy` loader, so
that a process imports only what it serves: the CLI does not import FastAPI routers, the worker
does not import the dashboard.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from devflow.core.auth import ScopeDef
from devflow.core.services import Provider

if TYPE_CHECKING:
    import procrastinate
    import typer
    from fastapi import APIRouter
    from pydantic import BaseModel
    from starlette.routing import Route

    from devflow.core.config import Settings
    from devflow.core.services import Services
    from devflow.core.tools import Contribution


def lazy(target: str) -> Callable[[], Any]:
    """Return a loader of `module:attribute` (or of a whole `module`), imported when called."""
    module, _, attribute = target.partition(":")

    def load() -> Any:
        found = importlib.import_module(module)
        return getattr(found, attribute) if attribute else found

    return load


@dataclass(frozen=True)
class Domain:
    """What one domain contributes to DevFlow; the loaders return what their names say."""

    name: str
    """Short lower-case name (`knowledge`); its settings section and CLI group use it."""
    provides: Sequence[Provider[Any]] = ()
    """The long-lived objects it makes for the process's services."""
    settings: type[BaseModel] | None = None
    """Its settings section, read from `DEVFLOW_<NAME>__<FIELD>`."""
    routers: Callable[[], Sequence[APIRouter]] | None = None
    """Its HTTP routers (API and protocol endpoints)."""
    hot_routes: Callable[[], Sequence[Route]] | None = None
    """Plain routes matched before FastAPI's router (see `web.middleware.HotRoutes`)."""
    body_limit: Callable[[], Callable[[Settings, str], int | None]] | None = None
    """The largest request body it accepts on a path of its (None: the API's default)."""
    jobs: Callable[[], procrastinate.Blueprint] | None = None
    """Its background tasks."""
    cli: Callable[[], Callable[[typer.Typer], None]] | None = None
    """The function adding its commands to the root `devflow` command."""
    tools: Callable[[], Contribution] | None = None
    """Its tools and resources for agents (the MCP gateway)."""
    models: Callable[[], object] | None = None
    """Imports its tables, so that the one metadata knows them (migrations, `db check`)."""
    servers: Callable[[], Callable[[Services], AbstractAsyncContextManager[None]]] | None = None
    """Listeners the HTTP server process (`devflow serve`/`up`) runs beside HTTP while it
    serves, each entered with the process's services (repos' SSH server for git)."""
    scopes: Sequence[ScopeDef] = ()
    """Token scopes it defines (`registry:publish`), beside core's read, write and admin."""
