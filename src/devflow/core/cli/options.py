"""Options every API-calling command shares."""

from __future__ import annotations

from typing import Annotated

import typer

from devflow.core.cli.client import ApiClient
from devflow.core.config import load_settings

UrlOpt = Annotated[str | None, typer.Option("--url", help="DevFlow server URL (or DEVFLOW_URL).")]
TokenOpt = Annotated[
    str | None, typer.Option("--token", help="API token (or DEVFLOW_TOKEN; default: credentials).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def client(url: str | None, token: str | None) -> ApiClient:
    """Return an API client from the options, the environment or the credentials file."""
    return ApiClient.from_options(url=url, token=token, home=load_settings().home)
