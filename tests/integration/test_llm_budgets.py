import asyncio
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from devflow.core import clock
from devflow.core.events import Event
from devflow.identity import service as identity
from devflow.identity.schemas import ProjectCreate
from devflow.llm import BudgetExceeded, LLMClient, Tags, usage_report
from devflow.llm.models import LLMUsage
from devflow.testing import FakeOpenAI
from tests.factories import make_user

# 1 prompt token ("hi") at 1000 USD/M + 100 output tokens at 1000 USD/M = 0.101 USD a call.
PRICES = {"fake/fake-chat": {"input": 1000, "output": 1000}}
HI = [{"role": "user", "content": "hi"}]
CALL_COST = Decimal("0.101")


@pytest.fixture
def fake():
    with FakeOpenAI(cost_header=None) as server:
        yield server


@pytest.fixture
async def alice(sessions):
    async with sessions.begin() as session:
        principal, _ = await make_user(session, "alice")
        project = await identity.create_project(
            session, principal=principal, data=ProjectCreate(name="web")
        )
    return principal, project


async def client_for(fake, sessions, **budgets):
    settings = fake.llm_settings(prices=PRICES, budgets=budgets)
    return LLMClient(settings, sessions=sessions)


async def threshold_events(sessions):
    async with sessions() as session:
        events = await session.scalars(
            select(Event).where(Event.type == "llm.budget.threshold").order_by(Event.id)
        )
        return [(e.payload["budget"], e.payload["threshold_pct"], e.project_id) for e in events]


class TestBudgets:
    async def test_concurrent_calls_get_exactly_what_the_budget_affords(
        self, fake, sessions, alice
    ):
        client = await client_for(fake, sessions, projects={"web": 0.5})
        tags = Tags(feature="t", project="web")
        outcomes = await asyncio.gather(
            *(client.chat("chat", HI, tags=tags, max_tokens=100) for _ in range(10)),
            return_exceptions=True,
        )
        await client.aclose()
        done = [o for o in outcomes if not isinstance(o, BaseException)]
        refused = [o for o in outcomes if isinstance(o, BudgetExceeded)]
        assert len(done) == 4, "0.5 USD affords four calls of 0.101"
        assert len(refused) == 6
        assert all(r.cost == CALL_COST for r in done)
        assert len([r for r in fake.requests if r.path.endswith("/chat/completions")]) == 4
        async with sessions() as session:
            rows = list(await session.scalars(select(LLMUsage)))
        assert sum(r.cost for r in rows) == 4 * CALL_COST
        assert sorted(r.outcome for r in rows) == ["budget_exceeded"] * 6 + ["ok"] * 4

    async def test_each_threshold_crossing_emits_one_event(self, fake, sessions, alice):
        _, project = alice
        client = await client_for(fake, sessions, projects={"web": float(CALL_COST * 4)})
        tags = Tags(feature="t", project="web")
        seen = []
        for _ in range(4):
            await client.chat("chat", HI, tags=tags, max_tokens=100)
            seen.append([level for _, level, _ in await threshold_events(sessions)])
        assert seen == [[], [50], [50], [50, 80, 100]]
        with pytest.raises(BudgetExceeded, match=r"project 'web' LLM budget of \$0\.404"):
            await client.chat("chat", HI, tags=tags, max_tokens=100)
        await client.aclose()
        assert {pid for _, _, pid in await threshold_events(sessions)} == {project.id}

    async def test_a_budget_of_zero_refuses_every_call(self, fake, sessions):
        client = await client_for(fake, sessions, projects={"web": 0})
        with pytest.raises(BudgetExceeded, match="project 'web'"):
            await client.chat("chat", HI, tags=Tags(feature="t", project="web"))
        await client.aclose()
        assert fake.requests == []

    async def test_a_workflow_budget_applies_on_top_of_the_project(self, fake, sessions):
        client = await client_for(
            fake, sessions, projects={"web": 10}, workflows={"web/triage": float(CALL_COST)}
        )
        tags = Tags(feature="t", project="web", workflow="triage")
        await client.chat("chat", HI, tags=tags, max_tokens=100)
        with pytest.raises(BudgetExceeded, match="workflow 'web/triage'") as caught:
            await client.chat("chat", HI, tags=tags, max_tokens=100)
        assert caught.value.details["budget"] == "workflow:web/triage"
        other = Tags(feature="t", project="web", workflow="other")
        assert (await client.chat("chat", HI, tags=other, max_tokens=100)).cost == CALL_COST
        await client.aclose()

    async def test_a_failed_call_releases_its_reservation(self, fake, sessions):
        client = await client_for(fake, sessions, projects={"web": float(CALL_COST)})
        fake.fail_model("fake-chat", status=400)
        tags = Tags(feature="t", project="web")
        with pytest.raises(Exception, match="HTTP 400"):
            await client.chat("chat", HI, tags=tags, max_tokens=100)
        fake.clear_faults()
        assert (await client.chat("chat", HI, tags=tags, max_tokens=100)).cost == CALL_COST
        await client.aclose()


class TestUsageReport:
    async def test_usage_is_summed_by_model_feature_and_project(self, fake, sessions, alice):
        principal, _ = alice
        client = await client_for(fake, sessions)
        await client.chat("chat", HI, tags=Tags(feature="review", project="web"), max_tokens=100)
        await client.chat("chat", HI, tags=Tags(feature="triage", project="web"), temperature=0)
        await client.chat("chat", HI, tags=Tags(feature="triage", project="web"), temperature=0)
        await client.chat("chat", HI, tags=Tags(feature="secret", project="other"))
        await client.aclose()
        since = clock.now() - timedelta(days=7)
        async with sessions() as session:
            by_feature = await usage_report(session, principal=principal, since=since, by="feature")
            by_model = await usage_report(
                session, principal=principal, since=since, by="model", project="web"
            )
        assert [(line.key, line.calls, line.cache_hits) for line in by_feature] == [
            ("review", 1, 0),
            ("triage", 2, 1),
        ]
        [line] = by_model
        assert (line.key, line.calls) == ("fake/fake-chat", 3)
        assert line.cost == CALL_COST + by_feature[1].cost
