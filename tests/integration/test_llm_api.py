"""`GET /api/v1/llm/usage` in-process, with usage written by a client against the fake gateway."""

from datetime import timedelta

import httpx
import pytest

from devflow.core.config import load_settings
from devflow.core.db import create_engine, session_factory, unit_of_work
from devflow.identity.service import bootstrap
from devflow.llm import LLMClient, Tags
from devflow.testing import FakeOpenAI
from devflow.web import create_app


@pytest.fixture
async def api(db_url):
    settings = load_settings(database_url=db_url)
    engine = create_engine(db_url, settings.database)
    async with unit_of_work(session_factory(engine)) as session:
        done = await bootstrap(session, admin_username="admin", code_ttl=timedelta(minutes=5))
    with FakeOpenAI() as fake:
        client = LLMClient(fake.llm_settings(), sessions=session_factory(engine))
        for feature in ("review", "review", "triage"):
            await client.chat("chat", [{"role": "user", "content": "hi"}], tags=Tags(feature))
        await client.aclose()
    await engine.dispose()
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://devflow.test",
            headers={"Authorization": f"Bearer {done.token}"},
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
