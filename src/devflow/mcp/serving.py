"""The MCP SDK side of `/mcp`: the server for this process and the SDK's session manager.

Imported lazily by `devflow.mcp.http` (the SDK is slow to import).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import Receive, Scope, Send

from devflow.core.config import Settings
from devflow.core.services import Services
from devflow.domains import each
from devflow.mcp.http import PATH
from devflow.mcp.identity import RequestIdentity
from devflow.mcp.registry import Runtime
from devflow.mcp.server import build_server

_LOOPBACK = ("127.0.0.1", "localhost", "[::1]")

Handler = Callable[[Scope, Receive, Send], Awaitable[None]]


@asynccontextmanager
async def session_manager(services: Services) -> AsyncIterator[Handler]:
    """Build the MCP server for this process, run its session manager, yield its ASGI handler."""
    sdk_log = logging.getLogger("mcp")
    if sdk_log.level == logging.NOTSET:
        sdk_log.setLevel(logging.WARNING)  # the SDK logs every stateless request at INFO
    runtime = Runtime(services=services, identity=RequestIdentity())
    server = build_server(runtime, list(each("tools")))
    server.streamable_http_app(
        streamable_http_path=PATH,
        stateless_http=services.settings.mcp.stateless,
        json_response=services.settings.mcp.stateless,
        transport_security=transport_security(services.settings),
    )
    manager = server.session_manager
    async with manager.run():
        yield manager.handle_request


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
