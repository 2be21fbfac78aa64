"""Running DevFlow: up, serve, worker, config and db commands."""

from __future__ import annotations

from typing import Annotated

import typer

from devflow import runtime
from devflow.core.cli import console, emit_json, table
from devflow.core.config import Settings, describe_settings, mask_url
from devflow.core.errors import Invalid
from devflow.core.files import prepare_home, restrict_umask
from devflow.core.logging import configure_logging
from devflow.settings import load_settings

config_app = typer.Typer(help="Inspect settings.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema: migrations and checks.", no_args_is_help=True)

HostOpt = Annotated[str | None, typer.Option("--host", help="Address to bind (default 127.0.0.1).")]
PortOpt = Annotated[
    int | None,
    typer.Option(
        "--port", min=0, max=65535, help="Port to listen on (default 3737; 0 picks a free one)."
    ),
]


def _settings(host: str | None = None, port: int | None = None) -> Settings:
    settings = load_settings()
    if port == 0:  # chosen here, so the banner, the credentials and the lock name the real one
        port = runtime.free_port(host or settings.server.host)
    server = settings.server.model_copy(
        update={k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    )
    return settings.model_copy(update={"server": server})


def _announce(url: str, first: runtime.FirstStart | None, data_dir: str | None) -> None:
    console.print(
        f"[bold green]DevFlow is up[/] on [link={url}]{url}[/link]  (API docs: {url}/docs)"
    )
    if data_dir:
        console.print(f"  embedded PostgreSQL data: {data_dir}")
    if first is not None:
        console.print(f"  admin token written to {first.credentials_path} (mode 0600)")
        console.print(
            f"  sign in to the dashboard (one-time link): {first.sign_in_url}", soft_wrap=True
        )
    console.print("  press Ctrl-C to stop")


def up(
    host: HostOpt = None,
    port: PortOpt = None,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            help="HTTP server processes. One by default: on a small machine PostgreSQL and the "
            "job worker need the other cores (docs/deployment.md has the figures).",
        ),
    ] = 1,
) -> None:
    """Start everything on this machine: embedded PostgreSQL, the server and a job worker."""
    settings = _settings(host, port)
    configure_logging(settings.log)
    prepare_home(settings)  # the umask narrows after the embedded PostgreSQL starts (runtime.up)
    runtime.up(settings, _announce, workers=workers)


def serve(
    host: HostOpt = None,
    port: PortOpt = None,
    migrate: Annotated[bool, typer.Option(help="Apply pending migrations first.")] = True,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            help="Server processes sharing the port, each with its own connection pool "
            "(database.pool_size connections each).",
        ),
    ] = 1,
) -> None:
    """Run the HTTP server against DEVFLOW_DATABASE_URL (for on-prem and cloud installs)."""
    settings = _settings(host, port)
    configure_logging(settings.log)
    restrict_umask(settings.files)
    prepare_home(settings)
    url = _require_url(settings)
    if migrate:
        runtime.prepare(settings, url)
    runtime.serve(settings, workers=workers)


def worker(
    parent_fd: Annotated[
        int | None,
        typer.Option(
            "--parent-fd",
            hidden=True,  # set by `devflow up` where the kernel has no parent-death signal
            help="Stop when this inherited pipe closes.",
        ),
    ] = None,
) -> None:
    """Run a job worker against DEVFLOW_DATABASE_URL."""
    settings = load_settings()
    configure_logging(settings.log)
    restrict_umask(settings.files)
    prepare_home(settings)
    _require_url(settings)
    runtime.run_worker_process(settings, parent_fd)


def _require_url(settings: Settings) -> str:
    if settings.database_url is None:
        raise Invalid(
            "set DEVFLOW_DATABASE_URL=postgresql://user:password@host:5432/db, or use "
            "`devflow up` for the embedded PostgreSQL"
        )
    return settings.database_url.get_secret_value()


@config_app.command("show")
def config_show(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Print the effective settings, where each came from, secrets masked."""
    rows = [vars(r) for r in describe_settings(load_settings())]
    if as_json:
        emit_json(rows)
    else:
        table(rows, ["key", "value", "source", "env"])


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Apply migrations up to `revision`."""
    from devflow.core.migrate import upgrade

    url = _require_url(load_settings())
    upgrade(url, revision)
    console.print(f"database at {mask_url(url)} is at {revision}")


@db_app.command("current")
def db_current() -> None:
    """Print the database's revision and the newest one this DevFlow knows."""
    from devflow.core.migrate import current_revision, head_revision

    current = current_revision(_require_url(load_settings()))
    head = head_revision()
    console.print(f"current: {current or '(empty database)'}\nhead:    {head}")
    if current != head:
        raise typer.Exit(1)


@db_app.command("check")
def db_check() -> None:
    """Fail, naming the differences, when the database's schema and the models disagree."""
    from devflow.core.migrate import check_models

    check_models(_require_url(load_settings()))
    console.print("models and migrations agree")


def register(app: typer.Typer) -> None:
    """Add these commands to the root app."""
    app.command()(up)
    app.command()(serve)
    app.command()(worker)
    app.add_typer(config_app, name="config")
    app.add_typer(db_app, name="db")
