"""The dashboard as DevFlow serves it, and the session it signs in with: cache headers, the
Content-Security-Policy, client-side routes that never shadow the API or a protocol, the page a
checkout without a build shows, cookie writes that need the dashboard's header, sessions made
from a pasted token that carry no more than the token, and sign-out."""

import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from devflow.core.events import Event
from devflow.settings import load_settings
from devflow.web.routes.dashboard import is_server_path
from devflow.web.routes.events import _frame
from tests.e2e.test_authorization_matrix import app_routes
from tests.factories import api_client, bootstrap_admin, running_app

SCRIPT = "/assets/index-4f2a9c.js"
HEADER = {"X-DevFlow-Request": "1"}
HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


@pytest.fixture
def dist(tmp_path) -> Path:
    """A build as Vite lays it out: index.html and content-hashed assets."""
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text(
        f'<!doctype html><div id="root"></div><script type="module" src="{SCRIPT}"></script>'
    )
    (tmp_path / SCRIPT.lstrip("/")).write_text("console.log('dashboard')")
    return tmp_path


@pytest.fixture
async def app(db_url, dist) -> AsyncIterator[FastAPI]:
    settings = load_settings(
        database_url=db_url, server={"ui_dir": str(dist)}, auth={"session_ttl_hours": 24 * 30}
    )
    async with running_app(settings) as application:
        yield application


@pytest.fixture
async def api(app, sessions) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(app, await bootstrap_admin(sessions)) as client:
        yield client


@pytest.fixture
async def browser(app) -> AsyncIterator[httpx.AsyncClient]:
    """A client with no token: what a browser holds is the cookie it is given."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://devflow.test") as client:
        yield client


class TestServing:
    async def test_hashed_assets_are_cached_for_a_year(self, browser):
        response = await browser.get(SCRIPT)
        assert response.status_code == 200
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert "javascript" in response.headers["content-type"]

    async def test_a_missing_asset_is_a_404_not_the_page(self, browser):
        response = await browser.get("/assets/index-gone.js", headers=HTML)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"

    async def test_the_page_is_revalidated_and_carries_a_strict_policy(self, browser):
        response = await browser.get("/", headers=HTML)
        assert response.status_code == 200
        assert SCRIPT in response.text
        assert response.headers["cache-control"] == "no-cache"
        policy = dict(
            part.strip().split(" ", 1)
            for part in response.headers["content-security-policy"].split(";")
        )
        assert policy["default-src"] == "'self'"
        assert policy["script-src"] == "'self'"
        assert policy["connect-src"] == "'self'"
        assert "unsafe-inline" not in response.headers["content-security-policy"]
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["x-frame-options"] == "DENY"

    @pytest.mark.parametrize("path", ["/jobs", "/knowledge/sources/42", "/registry/py/zeb-1.0"])
    async def test_client_side_routes_answer_the_page(self, browser, path):
        response = await browser.get(path, headers=HTML)
        assert response.status_code == 200
        assert SCRIPT in response.text
        assert "script-src 'self'" in response.headers["content-security-policy"]

    async def test_a_script_asking_for_json_gets_a_404(self, browser):
        response = await browser.get("/jobs", headers={"Accept": "application/json"})
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"

    @pytest.mark.parametrize(
        ("path", "status"),
        [
            ("/api/v1/nothing-here", 404),
            ("/api/v1/llm/ping", 405),  # a POST route keeps its 405 for a GET
            ("/auth/nothing-here", 404),
            ("/health", 200),
            ("/docs", 200),
            ("/openapi.json", 200),
            ("/pypi/nope/simple/", 401),
            ("/npm/nope/left-pad", 401),
            ("/v2/", 401),
            ("/mcp", 401),
        ],
    )
    async def test_paths_the_app_owns_keep_their_own_answers(self, browser, path, status):
        response = await browser.get(path, headers=HTML)
        assert response.status_code == status
        assert SCRIPT not in response.text

    def test_every_top_level_path_of_the_server_is_kept_from_the_app(self):
        paths = [route.split(" ", 1)[1] for route in app_routes()]
        # A path parameter stands for any value a client may send there.
        examples = {re.sub(r"\{[^}]*\}", "x", p) for p in paths} - {"/"}
        assert sorted(p for p in examples if not is_server_path(p)) == [], (
            "add their first segment to dashboard.SERVER_PATHS"
        )
        assert is_server_path("/web/site.git/info/refs")
        assert not is_server_path("/knowledge/sources")  # a page of the app

    async def test_without_a_build_the_page_says_how_to_build_it(self, db_url, tmp_path):
        settings = load_settings(database_url=db_url, server={"ui_dir": str(tmp_path / "none")})
        async with running_app(settings) as application:
            transport = httpx.ASGITransport(app=application)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                page = await client.get("/jobs", headers=HTML)
                health = await client.get("/health")
        assert page.status_code == 200
        assert "make ui" in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert health.json()["status"] == "ok"


async def _sign_in_with_link(api: httpx.AsyncClient, browser: httpx.AsyncClient) -> str:
    link = (await api.post("/api/v1/signin-links")).json()["url"]
    response = await browser.get("/" + link.split("://", 1)[1].split("/", 1)[1])
    assert response.status_code == 303
    return browser.cookies["devflow_session"]


class TestCookieWrites:
    async def test_a_cookie_write_without_the_header_is_refused_naming_it(self, api, browser):
        await _sign_in_with_link(api, browser)
        refused = await browser.post("/api/v1/projects", json={"name": "web"})
        assert refused.status_code == 403
        assert "X-DevFlow-Request: 1" in refused.json()["error"]["message"]
        allowed = await browser.post("/api/v1/projects", json={"name": "web"}, headers=HEADER)
        assert allowed.status_code == 201

    async def test_bearer_requests_need_no_header(self, api):
        assert (await api.post("/api/v1/projects", json={"name": "cli"})).status_code == 201


class TestTokenSession:
    async def _paste(self, browser: httpx.AsyncClient, token: str) -> httpx.Response:
        return await browser.post("/api/v1/session", json={"token": token}, headers=HEADER)

    async def test_a_read_only_project_token_gives_a_session_that_cannot_write_or_see_more(
        self, api, browser
    ):
        for name in ("alpha", "beta"):
            assert (await api.post("/api/v1/projects", json={"name": name})).status_code == 201
        created = await api.post(
            "/api/v1/tokens", json={"name": "ro", "scopes": ["read"], "project": "alpha"}
        )
        pasted = await self._paste(browser, created.json()["token"])
        assert pasted.status_code == 204
        cookie = pasted.headers["set-cookie"].lower()
        assert "httponly" in cookie
        assert "samesite=strict" in cookie

        who = (await browser.get("/api/v1/session")).json()
        assert who["scopes"] == ["read"]
        assert who["project"] == "alpha"
        assert who["kind"] == "token-session"
        listed = (await browser.get("/api/v1/projects")).json()["items"]
        assert [p["name"] for p in listed] == ["alpha"]
        assert (await browser.get("/api/v1/projects/beta")).status_code == 404
        write = await browser.post("/api/v1/projects", json={"name": "x"}, headers=HEADER)
        assert write.status_code == 403
        mint = await browser.post(
            "/api/v1/tokens", json={"name": "wider", "scopes": ["write"]}, headers=HEADER
        )
        assert mint.status_code == 403

    async def test_the_session_ends_no_later_than_the_token_nor_do_tokens_it_mints(
        self, api, browser
    ):
        created = (
            await api.post("/api/v1/tokens", json={"name": "short", "expires_in_days": 1})
        ).json()
        assert (await self._paste(browser, created["token"])).status_code == 204
        token_end = datetime.fromisoformat(created["expires_at"])
        session_end = datetime.fromisoformat(
            (await browser.get("/api/v1/session")).json()["expires_at"]
        )
        assert session_end <= token_end
        minted = await browser.post("/api/v1/tokens", json={"name": "child"}, headers=HEADER)
        assert minted.status_code == 201
        assert datetime.fromisoformat(minted.json()["expires_at"]) <= token_end + timedelta(
            seconds=1
        )

    async def test_revoking_the_token_ends_the_sessions_made_from_it(self, api, browser):
        created = (await api.post("/api/v1/tokens", json={"name": "pasted"})).json()
        assert (await self._paste(browser, created["token"])).status_code == 204
        assert (await browser.get("/api/v1/session")).status_code == 200
        assert (await api.delete(f"/api/v1/tokens/{created['id']}")).status_code in {200, 204}
        ended = await browser.get("/api/v1/session")
        assert ended.status_code == 401
        assert "revoked" in ended.json()["error"]["message"]

    async def test_pasting_needs_the_header(self, api, browser):
        created = (await api.post("/api/v1/tokens", json={"name": "t"})).json()
        refused = await browser.post("/api/v1/session", json={"token": created["token"]})
        assert refused.status_code == 403
        assert "devflow_session" not in browser.cookies

    async def test_a_bad_token_is_refused_with_the_reason(self, browser):
        refused = await self._paste(browser, "Bearer dfl_nope")
        assert refused.status_code == 401
        assert "this is not a DevFlow token" in refused.json()["error"]["message"]


class TestSignOut:
    async def test_signing_out_ends_the_session_on_the_server(self, api, browser):
        secret = await _sign_in_with_link(api, browser)
        out = await browser.delete("/api/v1/session", headers=HEADER)
        assert out.status_code == 204
        assert "devflow_session" not in browser.cookies
        browser.cookies.set("devflow_session", secret)  # a copy of the cookie kept elsewhere
        again = await browser.get("/api/v1/session")
        assert again.status_code == 401
        assert "revoked" in again.json()["error"]["message"]

    async def test_signing_out_needs_the_header(self, api, browser):
        await _sign_in_with_link(api, browser)
        assert (await browser.delete("/api/v1/session")).status_code == 403
        assert (await browser.get("/api/v1/session")).status_code == 200


class TestEventFrames:
    """A browser's EventSource hears a named frame only by that name: the dashboard asks for
    unnamed ones, and resumes with `since`, the ids staying in every frame."""

    def _event(self) -> Event:
        return Event(id=7, type="project.created", project_id=None, actor_id=None, payload={})

    def test_frames_are_named_after_their_type_by_default(self):
        assert _frame(self._event(), named=True).startswith(
            b"id: 7\nevent: project.created\ndata: "
        )

    def test_unnamed_frames_keep_their_id_and_type_in_the_data(self):
        frame = _frame(self._event(), named=False)
        assert frame.startswith(b"id: 7\ndata: {")
        assert b'"type":"project.created"' in frame
