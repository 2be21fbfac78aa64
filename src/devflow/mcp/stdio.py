"""`devflow mcp`: the gateway over stdio, as a bridge to the running server's `/mcp` endpoint.

The agent spawns this process and speaks MCP on stdin/stdout; every request is forwarded to
the server's streamable HTTP endpoint with the caller's token, so both transports run the very
same tools, settings and permission checks in one place (the server, with its warm caches and
embedder). Why a bridge and not a second database client: docs/decisions (MCP over stdio).

The bridge answers `initialize` itself and connects upstream lazily, so an agent that starts
before `devflow up` gets working tools as soon as the server is up, and a call made while it is
down returns an error that says how to fix it instead of a dead server.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, TypeVar

import anyio
import httpx2
import mcp_types
from anyio.abc import TaskGroup
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server import Server
from mcp.server.stdio import stdio_server
from mcp.shared.exceptions import MCPError

from devflow import __version__
from devflow.mcp.http import PATH
from devflow.mcp.server import INSTRUCTIONS

log = logging.getLogger("devflow.mcp")

T = TypeVar("T")
UNREACHABLE = -32002  # implementation-defined JSON-RPC server error: the server cannot be reached


class Upstream:
    """One MCP client session to the server, opened on first use and reopened after a failure.

    Each connection lives in a task of its own, because the SDK client's task group must be
    entered and left by the same task; handlers only borrow the connected client.
    """

    def __init__(self, url: str, token: str, *, timeout: float = 60.0) -> None:
        self.endpoint = url.rstrip("/") + PATH
        self._token = token
        self._timeout = timeout
        self._tasks: TaskGroup | None = None
        self._client: Client | None = None
        self._close = anyio.Event()
        self._lock = anyio.Lock()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Hold the connection tasks; leaving closes the connection."""
        async with anyio.create_task_group() as tasks:
            self._tasks = tasks
            try:
                yield
            finally:
                self._close.set()
                tasks.cancel_scope.cancel()
                self._tasks = None

    async def call(self, operation: Callable[[Client], Awaitable[T]]) -> T:
        """Run `operation` on the connected client; reconnect once if the connection broke.

        Raises:
            MCPError: the server cannot be reached, with how to fix it.
        """
        error = "DevFlow is not reachable"
        for _ in range(2):
            client = await self._connected()
            try:
                return await operation(client)
            except MCPError:
                raise
            except Exception as exc:  # noqa: BLE001 - a broken transport: drop it, try once more
                error = _describe(exc, self.endpoint)
                await self._drop(client)
        raise MCPError(code=UNREACHABLE, message=error)

    async def _drop(self, client: Client) -> None:
        async with self._lock:
            if self._client is client:
                self._client = None
                self._close.set()

    async def _connected(self) -> Client:
        async with self._lock:
            if self._client is not None:
                return self._client
            if self._tasks is None:
                raise RuntimeError("Upstream.call() outside Upstream.running()")
            ready, close = anyio.Event(), anyio.Event()
            outcome: list[Client | BaseException] = []

            async def hold() -> None:
                try:
                    async with self._connect() as client:
                        outcome.append(client)
                        ready.set()
                        await close.wait()
                except Exception as exc:  # noqa: BLE001 - reported to the caller below
                    if not outcome:
                        outcome.append(exc)
                    else:
                        log.info("connection to %s closed: %r", self.endpoint, exc)
                finally:
                    ready.set()

            self._tasks.start_soon(hold)
            with anyio.move_on_after(self._timeout):
                await ready.wait()
            result = outcome[0] if outcome else TimeoutError()
            if not isinstance(result, Client):
                close.set()
                raise MCPError(code=UNREACHABLE, message=_describe(result, self.endpoint))
            self._client, self._close = result, close
            return result

    @asynccontextmanager
    async def _connect(self) -> AsyncIterator[Client]:
        async with AsyncExitStack() as stack:
            http = await stack.enter_async_context(
                httpx2.AsyncClient(
                    headers={"Authorization": f"Bearer {self._token}"},
                    timeout=httpx2.Timeout(30.0, read=300.0),
                )
            )
            transport = streamable_http_client(self.endpoint, http_client=http)
            client = Client(
                transport,
                cache=None,
                client_info=mcp_types.Implementation(name="devflow-mcp-stdio", version=__version__),
            )
            yield await stack.enter_async_context(client)


def _describe(exc: BaseException, endpoint: str) -> str:
    if isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        return _describe(exc.exceptions[0], endpoint)
    if isinstance(exc, httpx2.ConnectError | ConnectionError | OSError):
        return f"DevFlow is not running at {endpoint}: start it with `devflow up` (or pass --url)"
    if isinstance(exc, TimeoutError):
        return f"DevFlow at {endpoint} did not answer in time"
    return f"DevFlow at {endpoint} failed: {exc}"


def build_bridge(upstream: Upstream) -> Server[None]:
    """Return a low-level MCP server whose every request is answered by `upstream`."""

    async def list_tools(
        _: Any, params: mcp_types.PaginatedRequestParams | None
    ) -> mcp_types.ListToolsResult:
        cursor = params.cursor if params else None
        return await upstream.call(lambda c: c.list_tools(cursor=cursor))

    async def call_tool(
        _: Any, params: mcp_types.CallToolRequestParams
    ) -> mcp_types.CallToolResult:
        try:
            return await upstream.call(lambda c: c.call_tool(params.name, params.arguments))
        except MCPError as exc:
            if exc.error.code != UNREACHABLE:
                raise
            # The agent reads tool results, not transport errors: tell it what to do.
            text = mcp_types.TextContent(type="text", text=exc.error.message)
            return mcp_types.CallToolResult(content=[text], is_error=True)

    async def list_resources(
        _: Any, params: mcp_types.PaginatedRequestParams | None
    ) -> mcp_types.ListResourcesResult:
        cursor = params.cursor if params else None
        return await upstream.call(lambda c: c.list_resources(cursor=cursor))

    async def list_templates(
        _: Any, params: mcp_types.PaginatedRequestParams | None
    ) -> mcp_types.ListResourceTemplatesResult:
        cursor = params.cursor if params else None
        return await upstream.call(lambda c: c.list_resource_templates(cursor=cursor))

    async def read_resource(
        _: Any, params: mcp_types.ReadResourceRequestParams
    ) -> mcp_types.ReadResourceResult:
        return await upstream.call(lambda c: c.read_resource(str(params.uri)))

    @asynccontextmanager
    async def lifespan(_: Server[None]) -> AsyncIterator[None]:
        async with upstream.running():
            yield

    return Server(
        "devflow",
        version=__version__,
        instructions=INSTRUCTIONS,
        lifespan=lifespan,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_resources=list_resources,
        on_list_resource_templates=list_templates,
        on_read_resource=read_resource,
    )


async def serve_stdio(url: str, token: str) -> None:
    """Serve MCP on stdin/stdout, forwarding to the server at `url`, until stdin closes."""
    bridge = build_bridge(Upstream(url, token))
    async with stdio_server() as (read_stream, write_stream):
        await bridge.run(read_stream, write_stream, bridge.create_initialization_options())
