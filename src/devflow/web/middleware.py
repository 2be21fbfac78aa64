"""Request ids, access logs and hot-route dispatch, as plain ASGI middleware (cheaper than
BaseHTTPMiddleware)."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Sequence

import orjson
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from devflow.core.logging import request_id_var

log = logging.getLogger("devflow.access")

REQUEST_ID_HEADER = "x-request-id"


_crash_start: Message = {
    "type": "http.response.start",
    "status": 500,
    "headers": [(b"content-type", b"application/json")],
}


def _crash_body(request_id: str) -> bytes:
    message = f"internal error; quote request id {request_id} when reporting it"
    return orjson.dumps({"error": {"code": "internal", "message": message, "details": {}}})


def _valid_request_id(value: str) -> bool:
    return 0 < len(value) <= 64 and all(c.isalnum() or c in "-_." for c in value)  # noqa: PLR2004


class RequestContextMiddleware:
    """Give every request an id (or keep the caller's), echo it, and log one line per request."""

    def __init__(self, app: ASGIApp, *, access_log: bool) -> None:
        self.app = app
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = ""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        request_id = incoming if _valid_request_id(incoming) else secrets.token_hex(8)
        token = request_id_var.set(request_id)
        began = time.perf_counter()
        status = 500
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            # Logged here, inside the request's context, and answered without internals.
            log.exception("unhandled error on %s %s", scope["method"], scope["path"])
            if not started:
                await send_with_id(_crash_start)
                await send_with_id({"type": "http.response.body", "body": _crash_body(request_id)})
        finally:
            if self.access_log:
                log.info(
                    "%s %s %s",
                    scope["method"],
                    scope["path"],
                    status,
                    extra={
                        "status": status,
                        "method": scope["method"],
                        "path": scope["path"],
                        "ms": round((time.perf_counter() - began) * 1000, 2),
                    },
                )
            request_id_var.reset(token)


class HotRoutes:
    """Match a few high-traffic routes before the framework's router does.

    FastAPI matches a request by trying each route of each included router in turn, and does so
    twice; with this app's routes that is 0.3-0.4 ms of CPU for a path near the end of the list,
    more than a cached package-index read costs itself. The routes given here are plain Starlette
    routes whose paths no other route claims (the registry's index pages, packuments and files),
    so trying them first changes no answer. A path they do not match, or match only by path and
    not by method, goes on to the app unchanged. They stay registered in their routers too.
    """

    def __init__(self, app: ASGIApp, *, routes: Sequence[Route]) -> None:
        self.app = app
        self.routes = tuple(routes)
        self.prefixes = tuple({"/" + r.path.split("/")[1] + "/" for r in self.routes})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self.prefixes):
            for route in self.routes:
                match, child_scope = route.matches(scope)
                if match is Match.FULL:
                    scope.update(child_scope)
                    await route.handle(scope, receive, send)
                    return
        await self.app(scope, receive, send)
