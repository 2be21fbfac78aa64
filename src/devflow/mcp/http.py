"""Streamable HTTP at `/mcp` on the main server, behind the same bearer tokens as the API.

Every request is authenticated before the SDK sees it: no token or a bad one is answered
`401` with a `WWW-Authenticate: Bearer` challenge. The principal rides in the ASGI scope to the
tool (see `identity.RequestIdentity`); tools never take it from their arguments.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import orjson
from starlette.types import Receive, Scope, Send

from devflow.core.auth import AUTHENTICATOR
from devflow.core.db import unit_of_work
from devflow.core.errors import DevflowError, Unauthenticated
from devflow.core.services import Services
from devflow.mcp.identity import PRINCIPAL_KEY

log = logging.getLogger("devflow.mcp")

PATH = "/mcp"
_RPC_CODES = {401: -32001, 403: -32003, 503: -32002}  # implementation-defined server errors


class McpEndpoint:
    """The ASGI app mounted at `/mcp`; `run(services)` must enclose serving (the app lifespan).

    The MCP SDK takes a good second to import, so it is loaded in the background once the server
    is up (`devflow up` is ready sooner); a request that comes before it is ready waits for it.
    """

    def __init__(self) -> None:
        self._services: Services | None = None
        self._handle: Callable[[Scope, Receive, Send], Awaitable[None]] | None = None
        self._ready = asyncio.Event()

    @asynccontextmanager
    async def run(self, services: Services) -> AsyncIterator[None]:
        """Load the MCP server for this process in the background and run its session manager."""
        stop = asyncio.Event()
        self._ready.clear()
        holder = asyncio.create_task(self._serve(services, stop), name="mcp-session-manager")
        self._services = services
        try:
            yield
        finally:
            self._services, self._handle = None, None
            stop.set()
            self._ready.set()  # release waiting requests: they are answered 503
            await holder

    async def _serve(self, services: Services, stop: asyncio.Event) -> None:
        try:
            serving = await asyncio.to_thread(importlib.import_module, "devflow.mcp.serving")
            async with serving.session_manager(services) as handle:
                self._handle = handle
                self._ready.set()
                await stop.wait()
        except Exception:
            log.exception("the MCP endpoint failed to start; /mcp answers 503")
        finally:
            self._ready.set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._services is not None:
            await self._ready.wait()
        services, handle = self._services, self._handle
        if services is None or handle is None:
            await _answer(send, 503, "unavailable", "the MCP endpoint is starting or stopping")
            return
        try:
            token = _bearer(scope)
            async with unit_of_work(services.sessions) as session:
                principal = await services.get(AUTHENTICATOR).authenticate(session, token)
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
