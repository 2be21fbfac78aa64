"""`GET /api/v1/settings`: the server's effective configuration, for instance admins, masked."""

import pytest

from devflow.core.config import describe_settings
from devflow.core.db import unit_of_work
from devflow.domains import scope_catalog
from devflow.identity import service as identity
from devflow.settings import load_settings
from tests.factories import api_client, bootstrap_admin, make_user, running_app

KEY = "sk-live-0123456789abcdef-never-shown"
HEADER = "Bearer hdr-0123456789-never-shown"
DB_PASSWORD = "pg-pass-never-shown"


@pytest.fixture
async def api(db_url, sessions, monkeypatch):
    """The app with an LLM provider key and header set through the environment; yields
    (admin client, app)."""
    monkeypatch.setenv("DEVFLOW_LLM__PROVIDERS__GATEWAY__BASE_URL", "https://llm.example/v1")
    monkeypatch.setenv("DEVFLOW_LLM__PROVIDERS__GATEWAY__API_KEY", KEY)
    monkeypatch.setenv(
        "DEVFLOW_LLM__PROVIDERS__GATEWAY__HEADERS", f'{{"Authorization": "{HEADER}"}}'
    )
    monkeypatch.setenv("DEVFLOW_BLOBS__S3_SECRET_ACCESS_KEY", DB_PASSWORD)
    token = await bootstrap_admin(sessions)
    async with (
        running_app(load_settings(database_url=db_url)) as app,
        api_client(app, token) as http,
    ):
        yield http, app


class TestSettingsApi:
    async def test_an_instance_admin_sees_every_setting_with_its_source(self, api):
        http, _ = api
        answer = await http.get("/api/v1/settings")
        assert answer.status_code == 200, answer.text
        body = answer.json()
        rows = {r["key"]: r for r in body["items"]}
        assert body["total"] == len(rows) > 50
        port = rows["server.port"]
        assert (port["env"], port["value"], port["source"]) == (
            "DEVFLOW_SERVER__PORT",
            3737,
            "default",
        )
        assert port["description"] == "Port the HTTP server listens on."
        providers = rows["llm.providers"]
        assert (providers["source"], providers["secret"]) == ("environment", True)
        assert providers["value"]["gateway"]["api_key"] == "***"
        assert providers["value"]["gateway"]["headers"] == {"Authorization": "***"}
        assert providers["value"]["gateway"]["base_url"] == "https://llm.example/v1"
        assert rows["database_url"]["source"] == "set at start"
        assert rows["blobs.s3_secret_access_key"]["value"] == "***"

    async def test_no_secret_is_ever_in_the_answer(self, api, db_url):
        http, _ = api
        answer = await http.get("/api/v1/settings")
        assert answer.status_code == 200
        for secret in (KEY, HEADER, "hdr-0123456789", DB_PASSWORD):
            assert secret not in answer.text
        # The database URL's password, set at start, is masked like the CLI masks it.
        password = db_url.split("://", 1)[1].split("@", 1)[0].partition(":")[2]
        if password:
            assert password not in answer.text

    async def test_the_answer_matches_config_show(self, api):
        http, app = api
        answer = await http.get("/api/v1/settings")
        shown = [vars(r) for r in describe_settings(app.state.services.settings)]
        assert answer.json()["items"] == shown

    @pytest.mark.parametrize("who", ["member", "restricted_admin"])
    async def test_only_an_unrestricted_instance_admin_may_read_it(self, api, sessions, who):
        http, _ = api
        async with unit_of_work(sessions) as session:
            if who == "member":
                _, token = await make_user(session, "writer")
            else:
                admin = await identity.require_user(session, username="admin")
                project = await identity.get_project(session, name="default")
                assert project is not None
                _, token = await identity.issue_token(
                    session,
                    user=admin,
                    name="restricted",
                    scopes=scope_catalog().parse(("admin",)),
                    project_id=project.id,
                )
        answer = await http.get("/api/v1/settings", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 403
        assert "only an instance admin" in answer.json()["error"]["message"]
        assert KEY not in answer.text

    async def test_without_a_token_nothing_is_shown(self, api):
        http, _ = api
        answer = await http.get("/api/v1/settings", headers={"Authorization": ""})
        assert answer.status_code == 401
