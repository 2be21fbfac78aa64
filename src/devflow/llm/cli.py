"""`devflow llm`: usage reports, provider checks and the offline fake gateway."""

from __future__ import annotations

import asyncio
import socket
from typing import Annotated
from urllib.parse import quote

import typer

from devflow.core.cli import JsonOpt, TokenOpt, UrlOpt, client, console, emit_json, table
from devflow.core.config import load_section
from devflow.core.errors import Unavailable
from devflow.llm.settings import LLMSettings

app = typer.Typer(help="LLM providers, usage, cost and budgets.", no_args_is_help=True)
budget_app = typer.Typer(
    help="Monthly LLM budgets per project or workflow (set by project admins).",
    no_args_is_help=True,
)
app.add_typer(budget_app, name="budget")

WorkflowOpt = Annotated[
    str | None, typer.Option("--workflow", help="A workflow of the project (default: all of it).")
]
_BUDGET_COLUMNS = [
    "project",
    "workflow",
    "monthly_usd",
    "spent",
    "reserved",
    "used_pct",
    "period",
    "source",
]


@app.command("usage")
def usage(
    project: Annotated[str | None, typer.Option("--project", help="One project.")] = None,
    since: Annotated[str, typer.Option("--since", help="30m, 12h, 7d or 4w.")] = "7d",
    by: Annotated[str, typer.Option("--by", help="model, feature, day or project.")] = "model",
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show LLM calls, tokens and cost (asks the running server)."""
    params = {"since": since, "by": by} | ({"project": project} if project else {})
    report = client(url, token).get("/api/v1/llm/usage", params=params)
    if as_json:
        emit_json(report)
        return
    columns = ["key", "calls", "cache_hits", "errors", "tokens_in", "tokens_out", "cost"]
    table(report["lines"], columns, title=f"LLM usage since {report['since']} by {by}")
    console.print(f"total cost: ${float(report['total_cost']):.6f}", highlight=False)


@app.command("ping")
def ping(as_json: JsonOpt = False) -> None:
    """Check every configured provider and print what works."""
    from devflow.llm.service import ping_providers

    results = asyncio.run(ping_providers(load_section("llm", LLMSettings)))
    if as_json:
        emit_json([r.__dict__ for r in results])
    else:
        for r in results:
            if r.ok:
                console.print(
                    f"[green]ok[/]   {r.provider} ({r.base_url}) {r.latency_ms:.0f} ms, "
                    f"{len(r.models)} models: {', '.join(r.models[:8])}",
                    highlight=False,
                )
            else:
                console.print(
                    f"[red]fail[/] {r.provider} ({r.base_url}): {r.error}", highlight=False
                )
    failed = [r.provider for r in results if not r.ok]
    if failed:
        raise Unavailable(f"provider(s) not working: {', '.join(failed)}")


@app.command("fake-server")
def fake_server(
    host: Annotated[str, typer.Option("--host", help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port (0 = any free one).")] = 8787,
    api_key: Annotated[
        str | None, typer.Option("--api-key", help="Require this key (default: any).")
    ] = None,
) -> None:
    """Run a fake OpenAI-compatible gateway, to try DevFlow fully offline."""
    from devflow.llm.fake import FakeOpenAI

    if port == 0:  # choose the port now, so that the address printed below is the real one
        with socket.socket() as probe:
            probe.bind((host, 0))
            port = probe.getsockname()[1]
    fake = FakeOpenAI(api_key=api_key, host=host, port=port)
    base = fake.base_url
    console.print(
        f"fake OpenAI gateway on {base} (Ctrl-C stops it). Point DevFlow at it with:\n"
        f"  DEVFLOW_LLM__PROVIDERS__AOSENTRY__BASE_URL={base}\n"
        f"  DEVFLOW_LLM__PROVIDERS__AOSENTRY__API_KEY={api_key or 'anything'}\n"
        '  DEVFLOW_LLM__ALIASES=\'{"chat": ["aosentry/fake-chat"], '
        '"embed": ["aosentry/fake-embed"]}\'',
        highlight=False,
    )
    fake.serve_forever()


def _budget_path(project: str) -> str:
    return f"/api/v1/llm/budgets/{quote(project, safe='')}"


def _workflow(workflow: str | None) -> dict[str, str]:
    return {"workflow": workflow} if workflow else {}


def _budget_owner(project: str, workflow: str | None) -> str:
    return f"workflow {project}/{workflow}" if workflow else f"project {project}"


@budget_app.command("list")
def budget_list(
    project: Annotated[str | None, typer.Option("--project", help="One project.")] = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List budgets with this month's spending."""
    page = client(url, token).get(
        "/api/v1/llm/budgets", params={"project": project} if project else {}
    )
    if as_json:
        emit_json(page["items"])
    else:
        table(page["items"], _BUDGET_COLUMNS, title="LLM budgets (USD per month)")


@budget_app.command("show")
def budget_show(
    project: Annotated[str, typer.Argument(help="The project.")],
    workflow: WorkflowOpt = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show one budget with this month's spending."""
    budget = client(url, token).get(_budget_path(project), params=_workflow(workflow))
    if as_json:
        emit_json(budget)
    else:
        table([budget], _BUDGET_COLUMNS)


@budget_app.command("set")
def budget_set(
    project: Annotated[str, typer.Argument(help="The project.")],
    monthly_usd: Annotated[str, typer.Argument(help="Monthly limit in USD, e.g. 25 or 7.50.")],
    workflow: WorkflowOpt = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create or change a monthly budget (project admins)."""
    budget = client(url, token).request(
        "PUT",
        _budget_path(project),
        params=_workflow(workflow),
        json={"monthly_usd": monthly_usd},
    )
    if as_json:
        emit_json(budget)
        return
    console.print(
        f"budget of {_budget_owner(project, workflow)}: ${budget['monthly_usd']} a month "
        f"(${budget['spent']} spent in {budget['period']})",
        highlight=False,
    )


@budget_app.command("delete")
def budget_delete(
    project: Annotated[str, typer.Argument(help="The project.")],
    workflow: WorkflowOpt = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Remove a budget set through the API (project admins)."""
    client(url, token).request("DELETE", _budget_path(project), params=_workflow(workflow))
    console.print(f"budget of {_budget_owner(project, workflow)} removed", highlight=False)


def register(root: typer.Typer) -> None:
    """Add this domain's commands to the root `devflow` command."""
    root.add_typer(app, name="llm")
