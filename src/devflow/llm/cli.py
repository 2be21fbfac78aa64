"""`devflow llm`: usage reports, provider checks and the offline fake gateway."""

from __future__ import annotations

import asyncio
import json
import shlex
import socket
from typing import Annotated
from urllib.parse import quote

import typer
from rich.markup import escape

from devflow.core.cli import (
    JsonOpt,
    TimeoutOpt,
    TokenOpt,
    UrlOpt,
    client,
    console,
    emit_json,
    table,
)
from devflow.core.config import load_section
from devflow.core.errors import PermissionDenied, Unavailable
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
    by: Annotated[
        str, typer.Option("--by", help="model, feature, day, project or workflow.")
    ] = "model",
    url: UrlOpt = None,
    token: TokenOpt = None,
    timeout: TimeoutOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show LLM calls, tokens and cost (asks the running server)."""
    params = {"since": since, "by": by} | ({"project": project} if project else {})
    report = client(url, token, timeout).get("/api/v1/llm/usage", params=params)
    if as_json:
        emit_json(report)
        return
    columns = ["key", "calls", "cache_hits", "errors", "tokens_in", "tokens_out", "cost"]
    table(report["lines"], columns, title=f"LLM usage since {report['since']} by {by}")
    console.print(f"total cost: ${float(report['total_cost']):.6f}", highlight=False)


_PING_TIMEOUT = 300.0
"""Seconds `llm ping` waits: every alias may retry and fall back through its chain."""


@app.command("ping")
def ping(
    alias: Annotated[
        list[str] | None,
        typer.Option("--alias", help="Only this alias (repeatable; default: every one)."),
    ] = None,
    local: Annotated[
        bool,
        typer.Option(
            "--local",
            help="Check the providers in this shell's settings (GET /models; costs nothing) "
            "instead of asking the server.",
        ),
    ] = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
    timeout: TimeoutOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Ask the running server to call each model alias once; print what works (instance admins).

    The calls go through the server's own settings and LLM client, so this checks what DevFlow
    will really use; each is a real, tiny call.
    """
    if local:
        _ping_local(as_json=as_json)
        return
    body = {"aliases": alias} if alias else {}
    try:
        report = client(url, token, timeout).post(
            "/api/v1/llm/ping", json=body, timeout=_PING_TIMEOUT
        )
    except PermissionDenied as exc:
        raise PermissionDenied(
            f"{exc.message}: pinging the server's models costs money and shows its settings. "
            "`devflow llm ping --local` checks the providers of this shell's settings instead"
        ) from None
    results = report["results"]
    if as_json:
        emit_json(results)
    else:
        for r in results:
            if r["ok"]:
                console.print(
                    f"[green]ok[/]   {r['alias']} ({r['kind']}): {r['provider']}/{r['model']} "
                    f"{r['latency_ms']:.0f} ms",
                    highlight=False,
                    soft_wrap=True,
                )
            else:
                console.print(
                    f"[red]fail[/] {r['alias']} ({r['kind']}): {escape(r['error'] or '')}",
                    highlight=False,
                    soft_wrap=True,
                )
    failed = [r["alias"] for r in results if not r["ok"]]
    if failed:
        raise Unavailable(
            f"alias(es) not working on the server: {', '.join(failed)}; each result above says "
            "why. Fix the server's DEVFLOW_LLM__* settings, restart it and ping again"
        )


def _ping_local(*, as_json: bool) -> None:
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
                    soft_wrap=True,
                )
            else:
                console.print(
                    f"[red]fail[/] {r.provider} ({r.base_url}): {escape(r.error or '')}",
                    highlight=False,
                    soft_wrap=True,
                )
    failed = [r.provider for r in results if not r.ok]
    if failed:
        raise Unavailable(
            f"provider(s) not working: {', '.join(failed)}; each result above says why. Fix "
            "DEVFLOW_LLM__PROVIDERS__* in this shell's settings and ping again"
        )


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
        f"fake OpenAI gateway on {base} (Ctrl-C stops it). Point DevFlow at it: run these in "
        "the shell that starts `devflow up`, then restart it:",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
    # One line per variable, never wrapped whatever the terminal's width: copy-pasted whole.
    for line in fake_env(base, api_key):
        console.print(line, highlight=False, markup=False, soft_wrap=True)
    fake.serve_forever()


def fake_env(base_url: str, api_key: str | None) -> list[str]:
    """Return the `export` lines that point DevFlow's LLM settings at a fake gateway."""
    aliases = json.dumps({"chat": ["aosentry/fake-chat"], "embed": ["aosentry/fake-embed"]})
    values = {
        "DEVFLOW_LLM__PROVIDERS__AOSENTRY__BASE_URL": base_url,
        "DEVFLOW_LLM__PROVIDERS__AOSENTRY__API_KEY": api_key or "anything",
        "DEVFLOW_LLM__ALIASES": aliases,
    }
    return [f"export {name}={shlex.quote(value)}" for name, value in values.items()]


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
    timeout: TimeoutOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List budgets with this month's spending."""
    page = client(url, token, timeout).get(
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
    timeout: TimeoutOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show one budget with this month's spending."""
    budget = client(url, token, timeout).get(_budget_path(project), params=_workflow(workflow))
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
    timeout: TimeoutOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create or change a monthly budget (project admins)."""
    budget = client(url, token, timeout).request(
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
    timeout: TimeoutOpt = None,
) -> None:
    """Remove a budget set through the API (project admins)."""
    client(url, token, timeout).request("DELETE", _budget_path(project), params=_workflow(workflow))
    console.print(f"budget of {_budget_owner(project, workflow)} removed", highlight=False)


def register(root: typer.Typer) -> None:
    """Add this domain's commands to the root `devflow` command."""
    root.add_typer(app, name="llm")
