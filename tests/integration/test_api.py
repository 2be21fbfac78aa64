"""The HTTP surface in-process: auth, error shape, request ids, readiness, OpenAPI."""

import re

import httpx
import psycopg
import pytest

from devflow.settings import load_settings
from devflow.web import create_app


class TestHealth:
    async def test_health_and_ready_answer_without_a_token(self, api):
        api.headers.pop("Authorization")
        assert (await api.get("/health")).json()["status"] == "ok"
        ready = await api.get("/ready")
        assert ready.status_code == 200
        assert ready.json()["database"] == "ok"

    async def test_ready_is_503_on_an_unmigrated_database(self, pg_server):
        from tests.conftest import drop_database, with_database

        with psycopg.connect(pg_server, autocommit=True) as conn:
            conn.execute('CREATE DATABASE "empty_db"')
        try:
            application = create_app(
                load_settings(database_url=with_database(pg_server, "empty_db"))
            )
            async with application.router.lifespan_context(application):
                transport = httpx.ASGITransport(app=application)
                async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                    ready = await client.get("/ready")
        finally:
            drop_database(pg_server, "empty_db")
        assert ready.status_code == 503
        assert ready.json()["status"] == "unavailable"


class TestAuth:
    @pytest.mark.parametrize(
        "header", [None, "Bearer", "Basic YWRtaW46eA==", "Bearer nope", "Bearer dfl_" + "z" * 43]
    )
    async def test_bad_or_missing_credentials_get_401_with_a_challenge(self, api, header):
        api.headers.pop("Authorization")
        headers = {"Authorization": header} if header else {}
        response = await api.get("/api/v1/projects", headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.json()["error"]["code"] == "unauthenticated"

    async def test_a_token_without_the_scope_gets_403(self, api):
        created = await api.post("/api/v1/tokens", json={"name": "ro", "scopes": ["read"]})
        assert created.status_code == 201
        readonly = {"Authorization": f"Bearer {created.json()['token']}"}
        assert (await api.get("/api/v1/projects", headers=readonly)).status_code == 200
        denied = await api.post("/api/v1/projects", json={"name": "x"}, headers=readonly)
        assert denied.status_code == 403
        assert denied.json()["error"]["details"] == {"required_scope": "write"}

    async def test_a_revoked_token_stops_working_at_once(self, api):
        created = (await api.post("/api/v1/tokens", json={"name": "tmp"})).json()
        assert "token" in created
        other = {"Authorization": f"Bearer {created['token']}"}
        assert (await api.get("/api/v1/me", headers=other)).status_code == 200
        assert (await api.delete(f"/api/v1/tokens/{created['id']}")).status_code == 200
        refused = await api.get("/api/v1/me", headers=other)
        assert refused.status_code == 401
        assert "revoked" in refused.json()["error"]["message"]

    async def test_the_scopes_are_cores_and_each_domains(self, api):
        scopes = {s["name"]: s for s in (await api.get("/api/v1/scopes")).json()}
        assert list(scopes)[:3] == ["read", "write", "admin"]
        assert scopes["registry:read"]["implied_by"] == ["registry:publish"]
        assert scopes["registry:publish"]["default"] is True
        assert scopes["admin"]["default"] is False

    async def test_a_domains_scope_is_given_and_an_unknown_one_refused(self, api):
        publisher = await api.post(
            "/api/v1/tokens", json={"name": "ci", "scopes": ["registry:publish"]}
        )
        assert publisher.status_code == 201
        assert publisher.json()["scopes"] == ["registry:publish"]
        headers = {"Authorization": f"Bearer {publisher.json()['token']}"}
        # publish carries read; it carries nothing of core's
        assert (await api.get("/api/v1/registry/repositories", headers=headers)).status_code == 200
        assert (await api.get("/api/v1/projects", headers=headers)).status_code == 403
        unknown = await api.post("/api/v1/tokens", json={"name": "x", "scopes": ["registry:root"]})
        assert unknown.status_code == 422
        assert (
            "known scopes: read, write, admin, registry:read" in unknown.json()["error"]["message"]
        )
        defaults = await api.post("/api/v1/tokens", json={"name": "plain"})
        assert set(defaults.json()["scopes"]) == {
            "read",
            "write",
            "registry:read",
            "registry:publish",
        }

    async def test_token_listings_never_contain_secrets(self, api, admin_token):
        listing = await api.get("/api/v1/tokens")
        assert admin_token not in listing.text
        assert all("token" not in item for item in listing.json()["items"])


class TestErrors:
    async def test_an_invalid_body_gets_422_naming_the_field(self, api):
        response = await api.post("/api/v1/projects", json={"name": "Not Valid!"})
        assert response.status_code == 422
        error = response.json()["error"]
        assert error["code"] == "invalid"
        assert error["details"]["errors"][0]["field"] == "name"

    async def test_a_validators_message_reaches_the_caller_without_pydantics_prefix(self, api):
        response = await api.post("/api/v1/knowledge/search", json={"query": "   "})
        assert response.status_code == 422
        message = response.json()["error"]["message"]
        assert message.startswith("the request is invalid: query: the query is empty")
        assert "Value error" not in response.text

    async def test_a_value_outside_a_choice_is_refused_naming_the_choices(self, api):
        response = await api.post(
            "/api/v1/knowledge/search", json={"query": "keys", "mode": "fuzzy"}
        )
        assert response.status_code == 422
        assert response.json()["error"]["message"] == (
            "the request is invalid: mode: 'fuzzy' is not allowed: "
            "choose one of hybrid, keyword, semantic"
        )

    async def test_malformed_json_gets_422_not_500(self, api):
        response = await api.post(
            "/api/v1/projects", content=b"{nope", headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 422

    async def test_a_conflict_gets_409(self, api):
        assert (await api.post("/api/v1/projects", json={"name": "web"})).status_code == 201
        again = await api.post("/api/v1/projects", json={"name": "web"})
        assert again.status_code == 409
        assert again.json()["error"]["code"] == "conflict"

    async def test_unknown_routes_use_the_same_shape(self, api):
        response = await api.get("/api/v1/nothing-here")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"

    async def test_a_crash_is_500_with_a_request_id_and_no_traceback(self, app, api):
        async def boom() -> None:
            raise RuntimeError("secret internals")

        app.add_api_route("/boom", boom)
        response = await api.get("/boom", headers={"X-Request-ID": "req-42"})
        assert response.status_code == 500
        assert "req-42" in response.json()["error"]["message"]
        assert "secret internals" not in response.text
        assert "Traceback" not in response.text


class TestRequestIds:
    async def test_every_response_has_one_and_a_callers_id_is_kept(self, api):
        generated = await api.get("/health")
        assert len(generated.headers["x-request-id"]) == 16
        kept = await api.get("/health", headers={"X-Request-ID": "trace-abc"})
        assert kept.headers["x-request-id"] == "trace-abc"
        hostile = await api.get("/health", headers={"X-Request-ID": "a\tb" * 50})
        assert hostile.headers["x-request-id"] != "a\tb" * 50


class TestOpenApi:
    async def test_the_api_is_described(self, api):
        spec = (await api.get("/openapi.json")).json()
        for path in (
            "/api/v1/projects",
            "/api/v1/tokens",
            "/api/v1/events",
            "/api/v1/jobs/{job_id}",
            "/ready",
        ):
            assert path in spec["paths"]
        assert (await api.get("/docs")).status_code == 200

    @pytest.mark.parametrize("page", ["/docs", "/redoc"])
    async def test_the_reference_pages_load_nothing_from_the_internet(self, api, page):
        html = (await api.get(page)).text
        assets = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert assets, html
        assert [a for a in assets if not a.startswith(("/docs/assets/", "/openapi.json"))] == []
        for asset in assets:
            if asset.startswith("/docs/assets/"):
                answer = await api.get(asset)
                assert answer.status_code == 200, asset
                assert answer.content


class TestProjectsApi:
    async def test_the_default_project_exists_and_members_can_be_added(self, api):
        names = [p["name"] for p in (await api.get("/api/v1/projects")).json()["items"]]
        assert names == ["default"]
        assert (await api.post("/api/v1/users", json={"username": "bob"})).status_code == 201
        added = await api.put(
            "/api/v1/projects/default/members", json={"username": "bob", "role": "write"}
        )
        assert added.status_code == 204
        members = (await api.get("/api/v1/projects/default")).json()["members"]
        assert {"username": "bob", "role": "write"}.items() <= members[1].items()


class TestSignIn:
    async def test_a_sign_in_link_sets_a_session_cookie_once(self, api):
        link = (await api.post("/api/v1/signin-links")).json()["url"]
        path = link.split("://", 1)[1].split("/", 1)[1]
        api.headers.pop("Authorization")
        first = await api.get(f"/{path}")
        assert first.status_code == 303
        assert "devflow_session" in first.headers["set-cookie"]
        assert "httponly" in first.headers["set-cookie"].lower()
        who = await api.get("/api/v1/session")
        assert who.status_code == 200
        assert who.json()["user"]["username"] == "admin"
        api.cookies.clear()
        assert (await api.get(f"/{path}")).status_code == 401

    async def test_the_session_cookie_writes_only_with_the_dashboards_header(self, api):
        link = (await api.post("/api/v1/signin-links")).json()["url"]
        api.headers.pop("Authorization")
        await api.get("/" + link.split("://", 1)[1].split("/", 1)[1])
        assert (await api.get("/api/v1/projects")).status_code == 200
        refused = await api.post("/api/v1/projects", json={"name": "csrf"})
        assert refused.status_code == 403
        assert "X-DevFlow-Request: 1" in refused.json()["error"]["message"]
        allowed = await api.post(
            "/api/v1/projects", json={"name": "csrf"}, headers={"X-DevFlow-Request": "1"}
        )
        assert allowed.status_code == 201
