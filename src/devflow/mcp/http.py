"""Streamable HTTP at `/mcp` on the main server, behind the same bearer tokens as the API.

Every request is authenticated before the SDK sees it: no token or a bad one is answered
`401` with a `WWW-Authenticate: Bearer` challenge. The principal rides in the ASGI scope to the
tool (see `identity.RequestIdentity`); tools never take it from their arguments.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import orjson
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import Receive, Scope, Send

from devflow.core.config import Settings
from devflow.core.db import unit_of_work
from devflow.core.errors import DevflowError, Unauthenticated
from devflow.core.http import AppState
from devflow.mcp.identity import PRINCIPAL_KEY, RequestIdentity
from devflow.mcp.registry import Runtime
from devflow.mcp.server import build_server
from devflow.mcp.tools import contributions

log = logging.getLogger("devflow.mcp")

PATH = "/mcp"
_LOOPBACK = ("127.0.0.1", "localhost", "[::1]")
_RPC_CODES = {401: -32001, 403: -32003, 503: -32002}  # implementation-defined server errors


class McpEndpoint:
    """The ASGI app mounted at `/mcp`; `run(state)` must enclose serving (the app lifespan)."""

    def __init__(self) -> None:
        self._state: AppState | None = None
        self._handle: Callable[[Scope, Receive, Send], Awaitable[None]] | None = None

    @asynccontextmanager
    async def run(self, state: AppState) -> AsyncIterator[None]:
        """Build the MCP server for this process and run the SDK's session manager."""
        sdk_log = logging.getLogger("mcp")
        if sdk_log.level == logging.NOTSET:
            sdk_log.setLevel(logging.WARNING)  # the SDK logs every stateless request at INFO
        runtime = Runtime(
            settings=state.settings, sessions=state.sessions, identity=RequestIdentity()
        )
        server = build_server(runtime, contributions())
        server.streamable_http_app(
            streamable_http_path=PATH,
            stateless_http=state.settings.mcp.stateless,
            json_response=state.settings.mcp.stateless,
            transport_security=transport_security(state.settings),
        )
        manager = server.session_manager
        started, stop = asyncio.Event(), asyncio.Event()

        async def hold() -> None:
            # The manager's task group is entered and left by this one task, whichever tasks
            # enter and leave the app's lifespan (test harnesses use two).
            async with manager.run():
                started.set()
                await stop.wait()

        holder = asyncio.create_task(hold(), name="mcp-session-manager")
        waiter = asyncio.create_task(started.wait())
        await asyncio.wait([holder, waiter], return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if holder.done():
            holder.result()  # the manager failed to start: raise its error
        self._state, self._handle = state, manager.handle_request
        try:
            yield
        finally:
            self._state, self._handle = None, None
            stop.set()
            await holder

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state, handle = self._state, self._handle
        if state is None or handle is None:
            await _answer(send, 503, "unavailable", "the MCP endpoint is starting or stopping")
            return
        try:
            token = _bearer(scope)
            async with unit_of_work(state.sessions) as session:
                principal = await state.authenticate(session, token)
        except Unauthenticated as exc:
            challenge = f'Bearer realm="devflow", error="invalid_token", error_description="{exc}"'
            if "required" in exc.message:
                challenge = 'Bearer realm="devflow"'  # RFC 6750 3.1: no error code without a token
            await _answer(send, 401, exc.code, exc.message, challenge=challenge)
            return
        except DevflowError as exc:
            await _answer(send, exc.status, exc.code, exc.message)
            return
        scope.setdefault("state", {})[PRINCIPAL_KEY] = principal
        await handle(scope, receive, send)


def _bearer(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"authorization":
            header: str = value.decode("latin-1")
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Unauthenticated("use `Authorization: Bearer <token>`")
            return token.strip()
    raise Unauthenticated(
        "authentication required: send `Authorization: Bearer <token>` (your admin token is in "
        "$DEVFLOW_HOME/credentials; `devflow mcp config <client> --http` prints a ready config)"
    )


async def _answer(
    send: Send, status: int, code: str, message: str, *, challenge: str | None = None
) -> None:
    # A JSON-RPC error (the protocol's own shape), so MCP clients show the message to the user.
    error = {"code": _RPC_CODES.get(status, -32000), "message": message, "data": {"code": code}}
    body = orjson.dumps({"jsonrpc": "2.0", "id": None, "error": error})
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    if challenge:
        headers.append((b"www-authenticate", challenge.encode("latin-1", "replace")))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def transport_security(settings: Settings) -> TransportSecuritySettings:
    """Return the SDK's DNS-rebinding guard for this deployment.

    On a loopback bind the `Host` must be a local name (or the external URL's, or one listed in
    `mcp.allowed_hosts`). A server bound to another address is meant to be reached under names
    DevFlow cannot know, and every request needs a bearer token (no cookies), so the guard is off.
    """
    extra = settings.mcp.allowed_hosts
    if "*" in extra or settings.server.host not in {"127.0.0.1", "localhost", "::1"}:
        return TransportSecuritySettings(enable_dns_rebinding_protection=False)
    hosts = [*_LOOPBACK, *(f"{h}:*" for h in _LOOPBACK), *extra]
    origins = [f"http://{h}:*" for h in _LOOPBACK]
    if settings.server.external_url:
        external = urlsplit(settings.server.external_url)
        hosts += [external.netloc, f"{external.hostname}:*"]
        origins.append(f"{external.scheme}://{external.netloc}")
    return TransportSecuritySettings(allowed_hosts=hosts, allowed_origins=origins)
