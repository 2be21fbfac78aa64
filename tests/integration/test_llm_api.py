"""`GET /api/v1/llm/usage` in-process, with usage written by a client against the fake gateway."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from devflow.core import clock
from devflow.core.auth import Role
from devflow.core.db import unit_of_work
from devflow.identity import service as identity
from devflow.identity.schemas import ProjectCreate
from devflow.llm import LLMClient, Tags
from devflow.llm.models import LLMUsage
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


def _hour(at: datetime) -> str:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0).isoformat()


def _day(at: datetime) -> str:
    return at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0).isoformat()


def _usage(at: datetime, project: str | None, workflow: str | None, model: str, cost: str):
    return LLMUsage(
        created_at=at,
        project=project,
        workflow=workflow,
        feature="review",
        kind="chat",
        alias="chat",
        provider="fake",
        model=model,
        tokens_in=10,
        tokens_out=5,
        cost=Decimal(cost),
        outcome="ok",
    )


@pytest.fixture
async def history(db_url, sessions):
    """Usage rows at known times: two projects, workflows and models over three days.

    Yields (admin client, the rows' times, a client for bob who reads only `web`).
    """
    token = await bootstrap_admin(sessions)
    now = clock.now()
    times = {"old": now - timedelta(days=2, hours=3), "day": now - timedelta(days=1), "now": now}
    async with unit_of_work(sessions) as session:
        alice, _ = await make_user(session, "alice")
        _, bob = await make_user(session, "bob")
        for name in ("web", "ops"):
            await identity.create_project(session, principal=alice, data=ProjectCreate(name=name))
        await identity.set_membership(
            session, principal=alice, project_name="web", username="bob", role=Role.READ
        )
        session.add_all(
            [
                _usage(times["old"], "web", "nightly", "fake-chat", "0.5"),
                _usage(times["day"], "web", "nightly", "fake-chat", "0.25"),
                _usage(times["day"], "web", None, "fake-chat-fast", "0.125"),
                _usage(times["now"], "ops", "deploy", "fake-chat", "1"),
                _usage(times["now"], "web", "nightly", "fake-chat", "2"),
                _usage(now - timedelta(days=40), "web", "nightly", "fake-chat", "9"),
            ]
        )
    async with (
        running_app(load_settings(database_url=db_url)) as app,
        api_client(app, token) as http,
    ):
        yield http, times, bob


def _series(body: dict) -> list[tuple[str, str, int, str]]:
    return [(x["bucket"], x["key"], x["calls"], x["cost"]) for x in body["lines"]]


class TestUsageSeries:
    async def test_daily_buckets_grouped_by_project(self, history):
        api, times, _ = history
        answer = await api.get(
            "/api/v1/llm/usage", params={"by": "project", "bucket": "day", "since": "7d"}
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert (body["by"], body["bucket"]) == ("project", "day")
        old, day, now = (_day(times[k]) for k in ("old", "day", "now"))
        expected = [(old, "web", 1, "0.5"), (day, "web", 2, "0.375")]
        expected += [(now, "ops", 1, "1"), (now, "web", 1, "2")]
        assert _normalised(body) == expected
        assert Decimal(body["total_cost"]) == Decimal("3.875")
        assert datetime.fromisoformat(body["until"]) >= datetime.fromisoformat(body["since"])

    async def test_hourly_buckets_grouped_by_workflow_in_one_project(self, history):
        api, times, _ = history
        answer = await api.get(
            "/api/v1/llm/usage",
            params={"by": "workflow", "bucket": "hour", "since": "2d", "project": "web"},
        )
        assert answer.status_code == 200, answer.text
        assert _normalised(answer.json()) == [
            (_hour(times["day"]), "(none)", 1, "0.125"),
            (_hour(times["day"]), "nightly", 1, "0.25"),
            (_hour(times["now"]), "nightly", 1, "2"),
        ]

    async def test_by_model_over_time(self, history):
        api, times, _ = history
        answer = await api.get("/api/v1/llm/usage", params={"by": "model", "bucket": "day"})
        assert [(b, k) for b, k, _, _ in _normalised(answer.json())] == [
            (_day(times["old"]), "fake/fake-chat"),
            (_day(times["day"]), "fake/fake-chat"),
            (_day(times["day"]), "fake/fake-chat-fast"),
            (_day(times["now"]), "fake/fake-chat"),
        ]

    async def test_without_a_bucket_the_report_is_unchanged(self, history):
        api, _, _ = history
        answer = await api.get("/api/v1/llm/usage", params={"by": "workflow"})
        body = answer.json()
        assert body["bucket"] is None
        assert [(x["key"], x["calls"], x["bucket"]) for x in body["lines"]] == [
            ("(none)", 1, None),
            ("deploy", 1, None),
            ("nightly", 3, None),
        ]

    async def test_a_reader_sees_only_the_projects_it_reads(self, history):
        api, _, bob = history
        answer = await api.get(
            "/api/v1/llm/usage",
            params={"by": "project", "bucket": "day"},
            headers={"Authorization": f"Bearer {bob}"},
        )
        assert answer.status_code == 200, answer.text
        assert {x["key"] for x in answer.json()["lines"]} == {"web"}

    async def test_hourly_buckets_over_more_than_a_month_are_refused(self, history):
        api, _, _ = history
        answer = await api.get("/api/v1/llm/usage", params={"bucket": "hour", "since": "5w"})
        assert answer.status_code == 422
        assert "hourly buckets cover at most 31 days" in answer.json()["error"]["message"]
        month = await api.get("/api/v1/llm/usage", params={"bucket": "hour", "since": "31d"})
        assert month.status_code == 200, month.text

    @pytest.mark.parametrize(
        ("params", "choices"),
        [
            ({"bucket": "week"}, "choose one of hour, day"),
            ({"by": "alias"}, "choose one of model, feature, day, project, workflow"),
        ],
    )
    async def test_an_unknown_bucket_or_group_names_the_choices(self, history, params, choices):
        api, _, _ = history
        answer = await api.get("/api/v1/llm/usage", params=params)
        assert answer.status_code == 422
        assert choices in answer.json()["error"]["message"]


def _normalised(body: dict) -> list[tuple[str, str, int, str]]:
    """Lines as (bucket in UTC ISO form, key, calls, cost without trailing zeros)."""
    return [
        (
            datetime.fromisoformat(b).astimezone(UTC).isoformat(),
            k,
            n,
            str(Decimal(c).normalize()),
        )
        for b, k, n, c in _series(body)
    ]


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
