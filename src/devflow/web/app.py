"""The ASGI application: every domain's router behind one error shape, request ids and logs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.routing import Route

from devflow import __version__
from devflow.core.config import Settings
from devflow.core.db import create_engine, libpq_url, session_factory
from devflow.core.errors import Invalid
from devflow.core.events import EventBus
from devflow.core.http import AppState
from devflow.core.migrate import head_revision
from devflow.core.schemas import error_responses
from devflow.identity import PrincipalCache
from devflow.identity.api import router as identity_router
from devflow.identity.api import signin_router
from devflow.knowledge.api import body_limit as knowledge_body_limit
from devflow.knowledge.api import router as knowledge_router
from devflow.llm.api import router as llm_router
from devflow.mcp.http import PATH as MCP_PATH
from devflow.mcp.http import McpEndpoint
from devflow.registry.api import body_limit as registry_body_limit
from devflow.registry.api import hot_routes as registry_hot_routes
from devflow.registry.api import router as registry_router
from devflow.web.errors import install_error_handlers
from devflow.web.middleware import HotRoutes, RequestContextMiddleware, RequestGuard
from devflow.web.routes import dashboard, events, health, jobs


def _body_limits(settings: Settings) -> Callable[[str], int]:
    """Return the largest request body each path accepts: an upload route's own limit, or the
    API's default for JSON."""
    domains = (registry_body_limit, knowledge_body_limit)
    default = settings.server.max_body_bytes

    def limit_for(path: str) -> int:
        for domain in domains:
            found = domain(settings, path)
            if found is not None:
                return found
        return default

    return limit_for


def create_app(settings: Settings) -> FastAPI:
    """Build the HTTP application for `settings` (database_url must be set).

    Raises:
        Invalid: no database URL.
    """
    if settings.database_url is None:
        raise Invalid(
            "no database configured: set DEVFLOW_DATABASE_URL=postgresql://..., "
            "or run `devflow up` to use the embedded PostgreSQL"
        )
    url = settings.database_url.get_secret_value()
    mcp = McpEndpoint()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(url, settings.database)
        bus = EventBus(libpq_url(url))
        await bus.start()
        app.state.devflow = AppState(
            settings=settings,
            engine=engine,
            sessions=session_factory(engine),
            bus=bus,
            head_revision=head_revision(),
            authenticate=PrincipalCache(settings.auth.principal_cache_seconds).authenticate,
        )
        try:
            async with mcp.run(app.state.devflow):
                yield
        finally:
            await bus.stop()
            await engine.dispose()

    app = FastAPI(
        title="DevFlow",
        version=__version__,
        summary="Self-hosted, AI-native development platform.",
        description="Authenticate with `Authorization: Bearer <token>`; the admin token of a "
        "local install is in `$DEVFLOW_HOME/credentials`. Errors are "
        '`{"error": {"code", "message", "details"}}`.',
        lifespan=lifespan,
        responses=error_responses(),
    )
    install_error_handlers(app)
    app.add_middleware(HotRoutes, routes=registry_hot_routes)  # inside the request context
    app.add_middleware(
        RequestGuard,
        limit_for=_body_limits(settings),
        timeout=settings.server.body_timeout,
        per_client=settings.server.max_bodies_per_client,
    )
    app.add_middleware(RequestContextMiddleware, access_log=settings.log.access_log)
    for router in (
        health.router,
        dashboard.router,
        signin_router,
        identity_router,
        jobs.router,
        events.router,
        llm_router,
        knowledge_router,
        registry_router,
    ):
        app.include_router(router)
    app.router.routes.append(Route(MCP_PATH, mcp))  # streamable HTTP (an ASGI app), bearer-only
    return app
