"""`GET /api/v1/llm/usage` in-process, with usage written by a client against the fake gateway."""

import pytest

from devflow.core.db import unit_of_work
from devflow.llm import LLMClient, Tags
from devflow.settings import load_settings
from devflow.testing import FakeOpenAI
from tests.factories import api_client, bootstrap_admin, make_user, running_app


@pytest.fixture
async def api(db_url, sessions):
    token = await bootstrap_admin(sessions)
    with FakeOpenAI() as fake:
        client = LLMClient(fake.llm_settings(), sessions=sessions)
        for feature in ("review", "review", "triage"):
            await client.chat("chat", [{"role": "user", "content": "hi"}], tags=Tags(feature))
        await client.aclose()
    async with (
        running_app(load_settings(database_url=db_url)) as app,
        api_client(app, token) as http,
    ):
        yield http


class TestUsageApi:
    async def test_usage_by_feature(self, api):
        answer = await api.get("/api/v1/llm/usage", params={"by": "feature", "since": "1d"})
        assert answer.status_code == 200
        body = answer.json()
        assert [(x["key"], x["calls"]) for x in body["lines"]] == [("review", 2), ("triage", 1)]

    async def test_a_bad_period_is_a_clear_error(self, api):
        answer = await api.get("/api/v1/llm/usage", params={"since": "yesterday"})
        assert answer.status_code == 422
        assert "--since must look like" in answer.json()["error"]["message"]


@pytest.fixture
async def pinging(db_url, sessions):
    """The app with its LLM settings on a fake gateway; yields (admin client, fake, sessions)."""
    token = await bootstrap_admin(sessions)
    with FakeOpenAI() as fake:
        settings = load_settings(database_url=db_url, llm=fake.llm_settings())
        async with running_app(settings) as app, api_client(app, token) as http:
            yield http, fake


class TestPingApi:
    async def test_each_alias_is_called_through_the_servers_client(self, pinging):
        api, fake = pinging
        answer = await api.post("/api/v1/llm/ping")
        assert answer.status_code == 200, answer.text
        results = {r["alias"]: r for r in answer.json()["results"]}
        assert set(results) == {"chat", "review", "chat-fast", "embed"}
        assert all(r["ok"] and r["error"] is None for r in results.values())
        assert (results["chat"]["kind"], results["chat"]["model"]) == ("chat", "fake-chat")
        assert (results["embed"]["kind"], results["embed"]["model"]) == ("embed", "fake-embed")
        assert results["chat-fast"]["provider"] == "fake"
        paths = sorted(r.path for r in fake.requests)
        assert paths.count("/v1/chat/completions") == 3
        assert paths.count("/v1/embeddings") == 1

    async def test_a_failing_model_is_reported_and_the_others_still_answer(self, pinging):
        api, fake = pinging
        fake.fail_model("fake-chat-fast", status=401)
        answer = await api.post("/api/v1/llm/ping", json={"aliases": ["chat", "chat-fast"]})
        assert answer.status_code == 200, answer.text
        chat, fast = answer.json()["results"]
        assert (chat["alias"], chat["ok"]) == ("chat", True)
        assert (fast["alias"], fast["ok"], fast["provider"]) == ("chat-fast", False, None)
        assert "fake/fake-chat-fast" in fast["error"]

    async def test_an_unknown_alias_is_refused_naming_the_configured_ones(self, pinging):
        api, fake = pinging
        answer = await api.post("/api/v1/llm/ping", json={"aliases": ["chat", "gpt-5"]})
        assert answer.status_code == 422
        message = answer.json()["error"]["message"]
        assert "no LLM alias named 'gpt-5'" in message
        assert "chat, chat-fast, embed, review (DEVFLOW_LLM__ALIASES)" in message
        assert fake.requests == []

    @pytest.mark.parametrize(
        "body",
        [
            {"aliases": ["x" * 201]},
            {"aliases": [""]},
            {"aliases": [f"a{i}" for i in range(51)]},
            {"aliases": "chat"},
            [1, 2],
        ],
    )
    async def test_hostile_bodies_get_a_422(self, pinging, body):
        api, fake = pinging
        answer = await api.post("/api/v1/llm/ping", json=body)
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["code"] == "invalid"
        assert fake.requests == []

    async def test_only_an_unrestricted_instance_admin_may_ping(self, pinging, sessions):
        api, fake = pinging
        async with unit_of_work(sessions) as session:
            _, writer = await make_user(session, "writer")
        answer = await api.post("/api/v1/llm/ping", headers={"Authorization": f"Bearer {writer}"})
        assert answer.status_code == 403
        assert "only an instance admin" in answer.json()["error"]["message"]
        assert fake.requests == []
