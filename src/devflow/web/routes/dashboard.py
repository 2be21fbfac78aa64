"""The dashboard: the single-page app built from ui/ and every domain's ui/ folder, served by
DevFlow itself (same origin: the session cookie works and no CORS is needed).

- `/assets/…` are the build's content-hashed files: cached for a year, immutable, and sent as
  the `.br` or `.gz` twin the build wrote beside each when the browser accepts it.
- `/` and every client-side route answer `index.html`, revalidated on each visit (`no-cache`),
  so a new build is picked up at once.
- A client-side route is a GET for HTML (a browser's navigation) whose first path segment no
  route of the app owns: `/api`, `/auth`, `/docs`, `/mcp`, `/health`, `/ready` and the
  protocols (`/pypi`, `/npm`, `/v2` …) keep their own 404s, 405s and error shapes, and so does
  a script asking for JSON anywhere.
- Without a build (a checkout where `make ui` has not run) `/` says how to build it; the API
  runs either way.
"""

from __future__ import annotations

import mimetypes
import stat
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import FileResponse
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from devflow.core.http import error_response

DIST = Path(__file__).resolve().parent.parent / "ui_dist"
"""Where `make ui` (Vite) writes the build, inside the package so that the wheel carries it."""

ASSETS = "/assets"
IMMUTABLE = "public, max-age=31536000, immutable"

# No inline script or style anywhere; the app talks to its own origin only.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # A sign-in link's code is in the URL it redirects from: never hand it to another site.
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

_NOT_BUILT = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>DevFlow</title></head>'
    "<body><h1>DevFlow</h1><p>The dashboard is not built in this checkout. Run "
    "<code>make ui</code> (it needs Node.js 20 and npm), or <code>make run</code>, which builds "
    "it when Node.js is there, then reload this page.</p>"
    '<p>The API runs without it: <a href="/docs">/docs</a>.</p></body></html>'
)


def accepted_encodings(header: str) -> set[str]:
    """Return the content codings an `Accept-Encoding` header accepts (those not given q=0)."""
    accepted = set()
    for item in header.split(","):
        name, _, params = item.strip().partition(";")
        quality = params.strip().removeprefix("q=").strip() if params else "1"
        try:
            if name.strip() and float(quality) > 0:
                accepted.add(name.strip().lower())
        except ValueError:
            continue
    return accepted


class _Assets(StaticFiles):
    """The build's hashed files: a name changes whenever its content does, so cache forever."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await self._compressed(path, scope) or await super().get_response(path, scope)
        if response.status_code == 200:  # noqa: PLR2004
            response.headers["Cache-Control"] = IMMUTABLE
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Vary"] = "Accept-Encoding"
        return response

    async def _compressed(self, path: str, scope: Scope) -> Response | None:
        """The `.br` or `.gz` twin of `path` the build wrote, if the browser accepts it."""
        accepted = accepted_encodings(Headers(scope=scope).get("accept-encoding", ""))
        for coding, suffix in _CODINGS:
            if coding not in accepted:
                continue
            full, found = self.lookup_path(path + suffix)
            if found is not None and stat.S_ISREG(found.st_mode):
                media_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
                return FileResponse(
                    full,
                    stat_result=found,
                    media_type=media_type,
                    headers={"Content-Encoding": coding},
                )
        return None


_CODINGS = (("br", ".br"), ("gzip", ".gz"))


# The first path segments the server answers itself: a browser navigating there gets the
# server's answer, never the app. A new top-level route of the server (a protocol such as
# `/git`) is added here; tests/integration/test_dashboard.py fails until it is. Git hosting's
# `/<project>/<repo>.git/…` is the server's too, told by its second segment (`is_server_path`).
SERVER_PATHS = frozenset(
    {
        "api", "auth", "assets", "docs", "redoc", "openapi.json", "health", "ready", "mcp",
        "pypi", "npm", "v2",
    }
)  # fmt: skip


def is_server_path(path: str) -> bool:
    """Return whether the server, not the dashboard, answers `path` (whatever it finds there)."""
    segments = path.strip("/").split("/", 2)
    return segments[0] in SERVER_PATHS or (len(segments) > 1 and segments[1].endswith(".git"))


def install(app: FastAPI, dist: Path) -> None:
    """Serve the dashboard built into `dist` on `app`, after every other route is added."""
    index = dist / "index.html"

    async def page() -> Response:
        if not index.is_file():
            return HTMLResponse(_NOT_BUILT, headers=PAGE_HEADERS)
        return FileResponse(index, media_type="text/html", headers=PAGE_HEADERS)

    async def not_found(request: Request, exc: HTTPException) -> Response:
        if (
            request.method in {"GET", "HEAD"}
            and not is_server_path(request.url.path)
            and "text/html" in request.headers.get("accept", "")
        ):
            return await page()
        return error_response(404, "not_found", str(exc.detail), headers=exc.headers)

    app.router.routes.append(Mount(ASSETS, _Assets(directory=dist / "assets", check_dir=False)))
    app.add_api_route("/", page, methods=["GET", "HEAD"], include_in_schema=False)
    app.add_exception_handler(404, not_found)  # type: ignore[arg-type]
