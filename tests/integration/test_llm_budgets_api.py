"""Budgets managed through `/api/v1/llm/budgets`: permissions, bad input, and enforcement."""

import asyncio
from decimal import Decimal

import httpx
import pytest

from devflow.core.auth import Role
from devflow.identity import service as identity
from devflow.identity.schemas import ProjectCreate
from devflow.llm import BudgetExceeded, LLMClient, Tags
from devflow.settings import load_settings
from devflow.testing import FakeOpenAI
from devflow.web import create_app
from tests.factories import make_user

# 1 prompt token ("hi") at 1000 USD/M + 100 output tokens at 1000 USD/M = 0.101 USD a call.
PRICES = {"fake/fake-chat": {"input": 1000, "output": 1000}}
HI = [{"role": "user", "content": "hi"}]


@pytest.fixture
async def people(sessions):
    """alice owns `web`, bob writes to it, carol is not a member; each has a token."""
    tokens = {}
    async with sessions.begin() as session:
        alice, tokens["alice"] = await make_user(session, "alice")
        _, tokens["bob"] = await make_user(session, "bob")
        _, tokens["carol"] = await make_user(session, "carol")
        await identity.create_project(session, principal=alice, data=ProjectCreate(name="web"))
        await identity.set_membership(
            session, principal=alice, project_name="web", username="bob", role=Role.WRITE
        )
    return tokens


@pytest.fixture
async def app(db_url):
    settings = load_settings(
        database_url=db_url, llm={"budgets": {"workflows": {"web/nightly": 2.5}}}
    )
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
def as_user(app, people):
    def make(name: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
            base_url="http://devflow.test",
            headers={"Authorization": f"Bearer {people[name]}"},
        )

    return make


@pytest.fixture
async def alice(as_user):
    async with as_user("alice") as client:
        yield client


class TestManagingBudgets:
    async def test_an_owner_creates_changes_shows_and_deletes_a_budget(self, alice):
        created = await alice.put("/api/v1/llm/budgets/web", json={"monthly_usd": "10"})
        assert created.status_code == 201, created.text
        assert created.json() | {"period": None} == {
            "project": "web",
            "workflow": None,
            "monthly_usd": "10",
            "source": "api",
            "period": None,
            "spent": "0",
            "reserved": "0",
            "used_pct": 0.0,
        }
        changed = await alice.put("/api/v1/llm/budgets/web", json={"monthly_usd": 12.5})
        assert changed.status_code == 200
        assert Decimal(changed.json()["monthly_usd"]) == Decimal("12.5")
        shown = await alice.get("/api/v1/llm/budgets/web")
        assert Decimal(shown.json()["monthly_usd"]) == Decimal("12.5")
        assert (await alice.delete("/api/v1/llm/budgets/web")).status_code == 204
        gone = await alice.get("/api/v1/llm/budgets/web")
        assert gone.status_code == 404
        assert "no LLM budget for project 'web'" in gone.json()["error"]["message"]

    async def test_workflow_budgets_are_separate_and_settings_ones_are_listed(self, alice):
        put = await alice.put(
            "/api/v1/llm/budgets/web", params={"workflow": "review"}, json={"monthly_usd": 1}
        )
        assert put.status_code == 201
        listing = (await alice.get("/api/v1/llm/budgets")).json()
        rows = [(b["workflow"], b["monthly_usd"], b["source"]) for b in listing["items"]]
        assert rows == [("nightly", "2.5", "settings"), ("review", "1", "api")]
        assert (await alice.get("/api/v1/llm/budgets/web")).status_code == 404
        nightly = await alice.get("/api/v1/llm/budgets/web", params={"workflow": "nightly"})
        assert nightly.json()["source"] == "settings"
        refused = await alice.delete("/api/v1/llm/budgets/web", params={"workflow": "nightly"})
        assert refused.status_code == 404
        assert "budgets from settings are changed in settings" in refused.json()["error"]["message"]

    async def test_a_writer_may_read_but_not_change_budgets(self, alice, as_user):
        await alice.put("/api/v1/llm/budgets/web", json={"monthly_usd": 3})
        async with as_user("bob") as bob:
            assert (await bob.get("/api/v1/llm/budgets/web")).status_code == 200
            denied = await bob.put("/api/v1/llm/budgets/web", json={"monthly_usd": 300})
            assert denied.status_code == 403
            assert "this needs admin" in denied.json()["error"]["message"]
            assert (await bob.delete("/api/v1/llm/budgets/web")).status_code == 403
        assert Decimal((await alice.get("/api/v1/llm/budgets/web")).json()["monthly_usd"]) == 3

    async def test_a_non_member_learns_nothing(self, alice, as_user):
        await alice.put("/api/v1/llm/budgets/web", json={"monthly_usd": 3})
        async with as_user("carol") as carol:
            assert (await carol.get("/api/v1/llm/budgets/web")).status_code == 404
            assert (
                await carol.put("/api/v1/llm/budgets/web", json={"monthly_usd": 1})
            ).status_code == 404
            assert (await carol.get("/api/v1/llm/budgets")).json()["items"] == []

    @pytest.mark.parametrize(
        ("body", "needle"),
        [
            ({"monthly_usd": -1}, "greater than or equal to 0"),
            ({"monthly_usd": "ten"}, "monthly_usd"),
            ({}, "monthly_usd"),
        ],
    )
    async def test_bad_amounts_are_refused_and_change_nothing(self, alice, body, needle):
        answer = await alice.put("/api/v1/llm/budgets/web", json=body)
        assert answer.status_code == 422
        assert needle in answer.text
        assert (await alice.get("/api/v1/llm/budgets/web")).status_code == 404

    async def test_an_empty_workflow_name_is_refused(self, alice):
        answer = await alice.put(
            "/api/v1/llm/budgets/web", params={"workflow": ""}, json={"monthly_usd": 1}
        )
        assert answer.status_code == 422
        assert "workflow" in answer.text


class TestEnforcement:
    async def test_a_budget_set_through_the_api_limits_calls(self, alice, sessions):
        await alice.put("/api/v1/llm/budgets/web", json={"monthly_usd": "0.5"})
        with FakeOpenAI(cost_header=None) as fake:
            client = LLMClient(fake.llm_settings(prices=PRICES), sessions=sessions)
            outcomes = await asyncio.gather(
                *(
                    client.chat("chat", HI, tags=Tags("t", project="web"), max_tokens=100)
                    for _ in range(6)
                ),
                return_exceptions=True,
            )
            await client.aclose()
        assert sum(not isinstance(o, BaseException) for o in outcomes) == 4  # 4 x 0.101 <= 0.5
        refused = [o for o in outcomes if isinstance(o, BudgetExceeded)]
        assert len(refused) == 2
        assert "project 'web'" in refused[0].message
        shown = (await alice.get("/api/v1/llm/budgets/web")).json()
        assert Decimal(shown["spent"]) == Decimal("0.404")
        assert shown["used_pct"] == 80.8

    async def test_an_api_budget_replaces_the_settings_one(self, alice, sessions):
        await alice.put(
            "/api/v1/llm/budgets/web", params={"workflow": "nightly"}, json={"monthly_usd": 0}
        )
        with FakeOpenAI(cost_header=None) as fake:
            settings = fake.llm_settings(prices=PRICES, budgets={"workflows": {"web/nightly": 100}})
            client = LLMClient(settings, sessions=sessions)
            tags = Tags("t", project="web", workflow="nightly")
            with pytest.raises(BudgetExceeded, match="workflow 'web/nightly'"):
                await client.chat("chat", HI, tags=tags, max_tokens=100)
            other = await client.chat("chat", HI, tags=Tags("t", project="web"), max_tokens=100)
            await client.aclose()
        assert other.cost == Decimal("0.101")
