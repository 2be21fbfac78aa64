"""The root `devflow` command: each domain adds a sub-command group."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer
from typer.exceptions import TyperException

from devflow import __version__
from devflow.cli import jobs, runtime
from devflow.core.cli import err_console
from devflow.core.cli.helptext import reflow_help
from devflow.core.errors import (
    Conflict,
    DevflowError,
    Invalid,
    NotFound,
    PermissionDenied,
    QuotaExceeded,
    Unauthenticated,
    Unavailable,
)
from devflow.domains import each
from devflow.mcp import cli as mcp_cli

app = typer.Typer(
    name="devflow",
    help="DevFlow: a self-hosted, AI-native development platform.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
runtime.register(app)
app.add_typer(jobs.app, name="jobs")
for register in each("cli"):
    register(app)
mcp_cli.register(app)
reflow_help(app)

EXIT_CODES: dict[type[DevflowError], int] = {
    Invalid: 2,
    Unauthenticated: 3,
    PermissionDenied: 3,
    NotFound: 4,
    Conflict: 5,
    Unavailable: 6,
    # A limit, not bad input: a budget or quota refuses until it renews or is raised.
    QuotaExceeded: 7,
}


def exit_code(exc: DevflowError) -> int:
    """Return the exit code of `exc`'s nearest listed class (a domain's BudgetExceeded is a 7)."""
    return next((EXIT_CODES[c] for c in type(exc).__mro__ if c in EXIT_CODES), 1)


@app.command()
def version() -> None:
    """Print DevFlow's version."""
    print(__version__)


@app.callback()
def _root(
    show_version: Annotated[bool, typer.Option("--version", help="Print the version.")] = False,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout",
            min=0,
            help="Seconds any command waits for the server's answer (as DEVFLOW_TIMEOUT; 0 = no "
            "limit; default: what fits the operation). Give it before the command.",
        ),
    ] = None,
) -> None:
    if show_version:
        print(__version__)
        raise typer.Exit
    if timeout is not None:
        os.environ["DEVFLOW_TIMEOUT"] = str(timeout)  # read by every command's API client


def main() -> None:
    """Run the CLI; a DevflowError becomes one red line and a distinct exit code."""
    try:
        code = app(standalone_mode=False)  # returns typer.Exit's code instead of raising it
    except DevflowError as exc:
        err_console.print(f"[red]error:[/red] {exc.message}", highlight=False, soft_wrap=True)
        sys.exit(exit_code(exc))
    except KeyboardInterrupt:
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(1)
    except TyperException as exc:  # usage errors: a missing argument, a value of the wrong type
        show = getattr(exc, "show", None)  # Typer's vendored click errors print usage and a hint
        if callable(show):
            show()
        else:
            err_console.print(f"[red]error:[/red] {exc.format_message()}", highlight=False)
        sys.exit(exc.exit_code)
    sys.exit(code if isinstance(code, int) else 0)
