"""Request ids, access logs, request-body guards and hot-route dispatch, as plain ASGI
middleware (cheaper than BaseHTTPMiddleware)."""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from collections import Counter
from collections.abc import Callable, Sequence

import orjson
from starlette.exceptions import HTTPException
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from devflow.core.auth import token_from_authorization
from devflow.core.errors import Unauthenticated
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


class RequestGuard:
    """Refuse what no route should see, and bound what a request body may cost.

    - A NUL character anywhere in the path or query string, or escaped (`\\u0000`) in a JSON
      body, is refused with 400: PostgreSQL cannot store it and file systems cannot name it, so
      no route can do anything right with one. So is any control character in the path, which
      names nothing and which the router's patterns do not match.
    - A declared `Content-Length` above the path's limit is refused with 413 at once, before a
      byte of the body is read (and before authentication or a database connection).
    - A body that sends nothing for `timeout` seconds is refused with 408, so a client cannot
      hold a request open forever by never finishing its body.
    - One credential (or, without one, one client address) may have `per_client` requests at
      once whose bodies have kept the server waiting longer than a grace period (a second, or a
      quarter of `timeout` when that is shorter); one more that stalls that long is refused with
      429. A body in transit arrives well within the grace, so a client may send many small
      requests at once even on a busy server. Together with routes that read bodies before they
      take a database connection, a publisher cannot starve the rest of the API.

    Refusals found while the body streams are raised as HTTPException from `receive`: FastAPI
    re-raises those while parsing a body (it turns other errors into 400), every layer in
    between rolls back, and the app's handler renders the standard error shape.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        limit_for: Callable[[str], int],
        timeout: float,
        per_client: int,
    ) -> None:
        self.app = app
        self.limit_for = limit_for
        self.timeout = timeout
        self.per_client = per_client
        self.grace = min(_GRACE, timeout / 4)
        self.waiting: Counter[int] = Counter()  # by client: requests waiting for body bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _CONTROL.search(scope["path"]) or _has_nul(scope.get("query_string", b"")):
            await _refuse(send, 400, "bad_request", _NUL_MESSAGE)
            return
        body = _BodyHeaders.of(scope)
        if not body.declared and not body.chunked:
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        if body.declared > limit:
            await _refuse(send, 413, "too_large", _too_large(body.declared, limit))
            return
        reader = _GuardedBody(self, body, receive, limit)
        await self.app(scope, reader.receive, send)


_NUL_MESSAGE = (
    "the request contains a NUL character (%00 or \\u0000), or its path a control character "
    "(%00-%1F, %7F), which no name in DevFlow may hold; remove it"
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_JSON_NUL = b"\\u0000"
# Seconds a body may keep the server waiting before it counts as stalled (see RequestGuard).
_GRACE = 1.0


def _has_nul(raw: bytes) -> bool:
    return b"\x00" in raw or b"%00" in raw


class _BodyHeaders:
    """What the headers say about a request's body and whose it is."""

    __slots__ = ("chunked", "client", "declared", "json")

    def __init__(self, declared: int, *, chunked: bool, json: bool, client: int) -> None:
        self.declared = declared
        self.chunked = chunked
        self.json = json
        self.client = client

    @classmethod
    def of(cls, scope: Scope) -> _BodyHeaders:
        declared, chunked, json = 0, False, False
        credential: str | None = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                # A garbled length is the HTTP parser's to refuse; a huge one is simply over
                # every limit.
                declared = int(value) if value.isdigit() else 0
            elif name == b"transfer-encoding":
                chunked = True
            elif name == b"content-type":
                media = value.split(b";", 1)[0].strip().lower()
                json = media == b"application/json" or media.endswith(b"+json")
            elif name == b"authorization":
                credential = _token_of(value.decode("latin-1"))
            elif name == b"cookie" and credential is None:
                credential = value.decode("latin-1")
        if credential is None:
            client = scope.get("client")
            credential = "address " + (client[0] if client else "")
        return cls(declared, chunked=chunked, json=json, client=hash(credential))


def _token_of(header: str) -> str:
    """The token a header carries in whichever wire form (one token is one client), or the
    header itself when it carries none."""
    try:
        return token_from_authorization(header) or header
    except Unauthenticated:
        return header


class _GuardedBody:
    """One request's `receive`, with the guard's idle timeout, size limit and NUL check."""

    def __init__(
        self, guard: RequestGuard, headers: _BodyHeaders, receive: Receive, limit: int
    ) -> None:
        self._guard = guard
        self._headers = headers
        self._receive = receive
        self._limit = limit
        self._open = True
        self._received = 0
        self._tail = b""  # the end of the previous chunk, for escapes split between chunks

    async def receive(self) -> Message:
        """Return the next message, refusing a stalled, oversized or NUL-carrying body."""
        if not self._open:  # the body is complete: wait for a disconnect, unbounded
            return await self._receive()
        message = await self._next()
        if message["type"] != "http.request":
            self._open = False
            return message
        chunk: bytes = message.get("body", b"")
        self._received += len(chunk)
        if self._received > self._limit:
            self._open = False
            raise HTTPException(413, _too_large(self._received, self._limit))
        if self._headers.json and self._json_nul(chunk):
            self._open = False
            raise HTTPException(400, _NUL_MESSAGE)
        if not message.get("more_body", False):
            self._open = False
        return message

    async def _next(self) -> Message:
        """The next message; when it has not arrived within the grace period, wait for it as
        one of the client's stalled requests (at most `per_client`), `timeout` seconds in all."""
        guard, client = self._guard, self._headers.client
        pending = asyncio.ensure_future(self._receive())
        try:
            await asyncio.wait({pending}, timeout=guard.grace)
        except asyncio.CancelledError:
            pending.cancel()
            raise
        if pending.done():
            return pending.result()
        if guard.waiting[client] >= guard.per_client:
            pending.cancel()
            self._open = False
            raise HTTPException(
                429,
                f"{guard.per_client} requests from this client are waiting for their bodies "
                "already; finish or cancel one, or raise DEVFLOW_SERVER__MAX_BODIES_PER_CLIENT",
                headers={"Retry-After": "1", "Connection": "close"},
            )
        guard.waiting[client] += 1
        try:
            return await asyncio.wait_for(pending, guard.timeout - guard.grace)
        except TimeoutError:
            self._open = False
            raise HTTPException(
                408,
                f"the request body sent nothing for {guard.timeout:g} s; send it again "
                "(DEVFLOW_SERVER__BODY_TIMEOUT sets the limit)",
                headers={"Connection": "close"},
            ) from None
        finally:
            guard.waiting[client] -= 1
            if guard.waiting[client] <= 0:
                del guard.waiting[client]

    def _json_nul(self, chunk: bytes) -> bool:
        """Return whether `\\u0000` is escaped in the JSON text (not a literal backslash)."""
        data = self._tail + chunk
        at = data.find(_JSON_NUL, max(0, len(self._tail) - len(_JSON_NUL) + 1))
        while at != -1:
            backslashes = len(data[:at]) - len(data[:at].rstrip(b"\\"))
            if backslashes % 2 == 0:  # the backslash at `at` starts an escape
                return True
            at = data.find(_JSON_NUL, at + 1)
        self._tail = data[-64:]
        return False


def _too_large(size: int, limit: int) -> str:
    return (
        f"the request body is {size} bytes; this endpoint accepts at most {limit}. Send less, "
        "or raise the limit in the settings (server.max_body_bytes for the API, "
        "registry.max_upload_bytes and knowledge.max_upload_bytes for uploads, "
        "repos.max_push_bytes for git pushes)"
    )


async def _refuse(
    send: Send, status: int, code: str, message: str, *, retry_after: bool = False
) -> None:
    headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
    if retry_after:
        headers.append((b"retry-after", b"1"))
    body = orjson.dumps({"error": {"code": code, "message": message, "details": {}}})
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
