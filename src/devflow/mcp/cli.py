"""`devflow mcp`: the MCP gateway over stdio, and client configuration snippets."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from devflow.core.auth import token_problem
from devflow.core.cli import TokenOpt, UrlOpt, err_console
from devflow.core.credentials import read_credentials
from devflow.core.errors import Invalid, Unauthenticated
from devflow.mcp.clients import TOKEN_ENV, WHERE, Client, Target, devflow_executable, snippet
from devflow.settings import load_settings

app = typer.Typer(
    help="The MCP gateway for coding agents. With no command: serve MCP on stdin/stdout.",
    no_args_is_help=False,
)


def _resolve(url: str | None, token: str | None) -> tuple[str, str | None]:
    """Return URL and token: options, DEVFLOW_URL/DEVFLOW_TOKEN, credentials, settings."""
    settings = load_settings()
    creds = read_credentials(settings.credentials_path)
    url = url or os.environ.get("DEVFLOW_URL") or (creds.url if creds else settings.base_url)
    token = token or os.environ.get(TOKEN_ENV) or (creds.token if creds else None)
    return url, token


@app.callback(invoke_without_command=True)
def serve(ctx: typer.Context, url: UrlOpt = None, token: TokenOpt = None) -> None:
    """Serve MCP over stdio for an agent that spawns this command (bridges to the server)."""
    if ctx.invoked_subcommand is not None:
        return
    import anyio

    from devflow.mcp.stdio import serve_stdio

    server_url, secret = _resolve(url, token)
    if not secret:
        raise Unauthenticated(
            f"no token: start DevFlow with `devflow up` (it writes "
            f"{load_settings().credentials_path}), or pass --token / set {TOKEN_ENV}"
        )
    problem = token_problem(secret)
    if problem is not None:
        raise Unauthenticated(
            f"the token given to `devflow mcp` is not a DevFlow token: {problem}. Copy it again "
            f"whole into --token or {TOKEN_ENV}, or create one with `devflow token create agent`"
        )
    anyio.run(serve_stdio, server_url, secret)


@app.command("config")
def config(
    client: Annotated[str, typer.Argument(help="One of: " + ", ".join(c.value for c in Client))],
    http: Annotated[
        bool, typer.Option("--http", help="Connect over streamable HTTP instead of stdio.")
    ] = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Print the exact snippet or command that connects CLIENT to DevFlow."""
    try:
        chosen = Client(client)
    except ValueError:
        known = ", ".join(c.value for c in Client)
        raise Invalid(f"unknown client {client!r}; choose one of: {known}") from None
    server_url, _ = _resolve(url, None)
    home = os.environ.get("DEVFLOW_HOME")
    target = Target(
        url=server_url,
        command=devflow_executable(),
        home=str(load_settings().home) if home else None,
        token=token,
    )
    typer.echo(snippet(chosen, target, http=http))
    hint = WHERE[chosen]
    if http and chosen is not Client.CLAUDE_DESKTOP:
        hint += f"; export {TOKEN_ENV}=<token> first (`devflow token create {chosen.value}`)"
    err_console.print(f"[dim]{hint}[/dim]", highlight=False, soft_wrap=True)


def register(root: typer.Typer) -> None:
    """Add the `mcp` command group to the root `devflow` command."""
    root.add_typer(app, name="mcp")
