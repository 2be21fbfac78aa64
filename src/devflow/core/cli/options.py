"""Options every API-calling command shares."""

from __future__ import annotations

from types import EllipsisType
from typing import Annotated

import typer

from devflow.core.cli.client import ApiClient
from devflow.core.config import load_settings

UrlOpt = Annotated[str | None, typer.Option("--url", help="DevFlow server URL (or DEVFLOW_URL).")]
TokenOpt = Annotated[
    str | None, typer.Option("--token", help="API token (or DEVFLOW_TOKEN; default: credentials).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
TimeoutOpt = Annotated[
    float | None,
    typer.Option(
        "--timeout",
        min=0,
        help="Seconds to wait for the server's answer (or DEVFLOW_TIMEOUT; 0 = no limit; "
        "default: what fits the operation).",
    ),
]


def client(
    url: str | None, token: str | None, timeout: float | EllipsisType | None = ...
) -> ApiClient:
    """Return an API client from the options, the environment or the credentials file.

    A command with a `--timeout` option (`TimeoutOpt`) passes its value, None included; one
    without leaves `timeout` out, and the client then suggests only DEVFLOW_TIMEOUT.
    """
    return ApiClient.from_options(
        url=url,
        token=token,
        home=load_settings().home,
        timeout=None if timeout is ... else timeout,
        timeout_option=timeout is not ...,
    )
