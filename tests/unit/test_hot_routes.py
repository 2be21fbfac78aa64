"""HotRoutes: the registry's hot reads are matched before FastAPI's router, changing no answer."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import BaseRoute, Match, Route

from devflow.registry.api import HOT_ROUTES
from devflow.registry.api import router as registry_router
from devflow.settings import load_settings
from devflow.web import create_app
from devflow.web.middleware import HotRoutes, RequestContextMiddleware


async def _hot(request: Request) -> PlainTextResponse:
    return PlainTextResponse(f"hot {request.path_params['name']}")


async def _app_route(request: Request) -> PlainTextResponse:
    return PlainTextResponse(f"app {request.method}")


def _client() -> httpx.AsyncClient:
    hot = Route("/pkg/{name}", _hot, methods=["GET"])
    inner = Starlette(routes=[Route("/pkg/{name}", _app_route, methods=["PUT"]), hot])
    app = RequestContextMiddleware(HotRoutes(inner, routes=[hot]), access_log=False)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_a_hot_route_answers_itself_and_the_rest_goes_on_to_the_app():
    async with _client() as client:
        got = await client.get("/pkg/left-pad")
        head = await client.head("/pkg/left-pad")
        put = await client.put("/pkg/left-pad")  # same path, another method
        other = await client.get("/elsewhere")
    assert (got.status_code, got.text) == (200, "hot left-pad")
    assert got.headers["x-request-id"]  # still inside the request context
    assert head.status_code == 200
    assert (put.status_code, put.text) == (200, "app PUT")
    assert other.status_code == 404


@pytest.fixture(scope="module")
def other_routes() -> list[BaseRoute]:
    """The app's top-level routes apart from the registry's: health, identity, knowledge …"""
    app = create_app(load_settings(database_url="postgresql+psycopg://u:p@127.0.0.1:1/db"))
    return [
        route
        for route in app.router.routes
        if getattr(route, "original_router", None) is not registry_router
    ]


@pytest.mark.parametrize(
    "path",
    [
        "/pypi/team/simple/requests/",
        "/pypi/team/files/requests-2.0-py3-none-any.whl",
        "/pypi/team/files/requests-2.0-py3-none-any.whl.metadata",
        "/npm/web/left-pad",
        "/npm/web/@scope%2fpkg",
        "/npm/web/left-pad/-/left-pad-1.0.0.tgz",
        "/npm/web/-/whoami",
    ],
)
def test_no_route_outside_the_registry_claims_a_hot_path(path, other_routes):
    scope = {"type": "http", "method": "GET", "path": path, "root_path": "", "headers": []}
    assert [r for r in HOT_ROUTES if r.matches(dict(scope))[0] is Match.FULL]
    assert other_routes
    assert not [r for r in other_routes if r.matches(dict(scope))[0] is not Match.NONE]
