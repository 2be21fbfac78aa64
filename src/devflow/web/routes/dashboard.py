"""The dashboard's entry page (server-rendered; richer views arrive with their domains)."""

from __future__ import annotations

from html import escape

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from devflow import __version__
from devflow.core.auth import AUTHENTICATOR
from devflow.core.errors import Unauthenticated
from devflow.core.http import SESSION_COOKIE, ServicesDep, SessionDep, bearer_token
from devflow.core.reads import READ_POOL
from devflow.identity import list_projects

router = APIRouter(include_in_schema=False)

_STYLE = (
    "body{font:15px system-ui,sans-serif;max-width:52rem;margin:3rem auto;padding:0 1rem;"
    "color:#1d2330}h1{font-size:1.5rem}li{margin:.3rem 0}.muted{color:#667085}"
    "code{background:#eef1f5;padding:.1rem .3rem;border-radius:3px}"
)
_PAGE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>DevFlow</title>'
    '<meta name="viewport" content="width=device-width,initial-scale=1">'
    "<style>{style}</style></head><body>"
    '<h1>DevFlow <span class="muted">{version}</span></h1>{body}'
    '<p class="muted">API reference: <a href="/docs">/docs</a></p></body></html>'
)


@router.get("/", response_class=HTMLResponse)
async def index(request: Request, session: SessionDep, services: ServicesDep) -> HTMLResponse:
    """Show who is signed in and their projects, or how to sign in."""
    token = request.cookies.get(SESSION_COOKIE) or bearer_token(request)
    principal = None
    if token:
        try:
            principal = await services.get(AUTHENTICATOR).authenticate(session, token)
        except Unauthenticated:
            principal = None
    if principal is None:
        body = (
            "<p>You are not signed in. Run <code>devflow signin-link</code> on the machine "
            "where DevFlow runs and open the link it prints.</p>"
        )
        return HTMLResponse(
            _PAGE.format(style=_STYLE, version=__version__, body=body), status_code=401
        )
    projects = await list_projects(services.get(READ_POOL), principal=principal)
    items = "".join(
        f"<li><strong>{escape(p.name)}</strong> <span class='muted'>{escape(p.description)}</span>"
        "</li>"
        for p in projects
    )
    body = (
        f"<p>Signed in as <strong>{escape(principal.username)}</strong>.</p>"
        f"<h2>Projects</h2><ul>{items}</ul>"
    )
    return HTMLResponse(_PAGE.format(style=_STYLE, version=__version__, body=body))
