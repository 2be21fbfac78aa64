"""`GET /api/v1/llm/usage` in-process, with usage written by a client against the fake gateway."""

import httpx
import pytest

from devflow.llm import LLMClient, Tags
from devflow.settings import load_settings
from devflow.testing import FakeOpenAI
from devflow.web import create_app
from tests.factories import bootstrap_admin


@pytest.fixture
async def api(db_url, sessions):
    token = await bootstrap_admin(sessions)
    with FakeOpenAI() as fake:
        client = LLMClient(fake.llm_settings(), sessions=sessions)
        for feature in ("review", "review", "triage"):
            await client.chat("chat", [{"role": "user", "content": "hi"}], tags=Tags(feature))
        await client.aclose()
    app = create_app(load_settings(database_url=db_url))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://devflow.test",
            headers={"Authorization": f"Bearer {token}"},
        ) as http:
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
