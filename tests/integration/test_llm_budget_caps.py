"""Budgets never overshoot: a call goes out with the max_tokens its reservation pays for.

The fake gateway answers exactly `max_tokens` tokens when it is given one, and otherwise echoes
the prompt (a long prompt, a long answer). `fake-chat` costs 1 USD / M input and 2 USD / M output
tokens in the shipped price table.
"""

import asyncio
import json
import subprocess
import sys
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from devflow.core.events import Event
from devflow.identity import service as identity
from devflow.identity.schemas import ProjectCreate
from devflow.llm import BudgetExceeded, LLMClient, Tags
from devflow.llm.budgets import set_budget
from devflow.llm.models import LLMBudgetLedger, LLMCacheEntry, LLMUsage
from devflow.testing import FakeOpenAI, Fault
from tests.factories import make_user

HI = [{"role": "user", "content": "hi"}]  # 1 prompt token
TAGS = Tags(feature="caps", project="web")

# One API server: 40 calls at once, all released together, each asking for a ~2,560-token answer.
SERVER = """
import asyncio, json, sys
from devflow.core.config import DatabaseSettings
from devflow.core.db import create_engine, session_factory
from devflow.llm import BudgetExceeded, LLMClient, Tags
from devflow.llm.settings import LLMSettings

async def main():
    engine = create_engine(sys.argv[1], DatabaseSettings(pool_size=20, max_overflow=20))
    settings = LLMSettings.model_validate_json(sys.argv[2])
    client = LLMClient(settings, sessions=session_factory(engine))
    prompt = [{"role": "user", "content": "x" * 10_240}]
    tags = Tags("caps", project="web")
    print("ready", flush=True)
    sys.stdin.readline()
    calls = (client.chat("chat", prompt, tags=tags) for _ in range(int(sys.argv[3])))
    outcomes = await asyncio.gather(*calls, return_exceptions=True)
    await client.aclose()
    await engine.dispose()
    failed = [o for o in outcomes if isinstance(o, BaseException)]
    refused = [o for o in failed if isinstance(o, BudgetExceeded)]
    other = [repr(o) for o in failed if o not in refused]
    counts = {"ok": len(outcomes) - len(failed), "refused": len(refused), "other": other}
    print(json.dumps(counts), flush=True)

asyncio.run(main())
"""


@pytest.fixture
def fake():
    with FakeOpenAI(cost_header=None) as server:
        yield server


async def ledger(sessions) -> LLMBudgetLedger:
    async with sessions() as session:
        return (await session.scalars(select(LLMBudgetLedger))).one()


async def usage_cost(sessions) -> Decimal:
    async with sessions() as session:
        return Decimal(await session.scalar(select(func.sum(LLMUsage.cost))) or 0)


def chat_requests(fake):
    return [r for r in fake.requests if r.path.endswith("/chat/completions")]


class TestBudgetsNeverOvershoot:
    async def test_two_servers_of_forty_concurrent_long_answers_spend_at_most_the_limit(
        self, fake, db_url, sessions
    ):
        limit = Decimal("0.08")
        settings = fake.llm_settings(budgets={"projects": {"web": float(limit)}})
        servers = [
            subprocess.Popen(
                [sys.executable, "-c", SERVER, db_url, settings.model_dump_json(), "40"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        try:
            for server in servers:
                assert server.stdout is not None
                assert server.stdout.readline().strip() == "ready", server.stderr
            for server in servers:  # release both at once
                assert server.stdin is not None
                server.stdin.write("go\n")
                server.stdin.flush()
            finished = [server.communicate(timeout=180) for server in servers]
        finally:
            for server in servers:
                if server.poll() is None:
                    server.kill()
                    server.communicate()
        outcomes = [json.loads(out) for out, _ in finished]
        assert [o["other"] for o in outcomes] == [[], []], [err for _, err in finished]
        assert sum(o["ok"] + o["refused"] for o in outcomes) == 80
        assert sum(o["ok"] for o in outcomes) > 0
        assert sum(o["refused"] for o in outcomes) > 0
        row = await ledger(sessions)
        assert max(row.spent - limit, Decimal(0)) == 0, f"overshoot: ${row.spent - limit}"
        assert row.reserved == 0
        assert await usage_cost(sessions) == row.spent
        sent = [r.body.get("max_tokens") for r in chat_requests(fake)]
        assert sent, "some calls went out"
        assert all(isinstance(m, int) and m <= 1024 for m in sent)

    async def test_a_budgeted_call_without_max_tokens_goes_out_with_what_it_reserved(
        self, fake, sessions
    ):
        client = LLMClient(fake.llm_settings(budgets={"projects": {"web": 1}}), sessions=sessions)
        result = await client.chat("chat", HI, tags=TAGS)
        unbudgeted = await client.chat("chat", HI, tags=Tags("caps", project="other"))
        await client.aclose()
        budgeted, free = chat_requests(fake)
        assert budgeted.body["max_tokens"] == 1024  # budgets.default_output_tokens
        assert "max_tokens" not in free.body, "calls without a budget are sent as asked"
        assert result.tokens_out == 1024
        assert result.cost == Decimal("0.002049")  # 1 x 1e-6 + 1024 x 2e-6: all it reserved
        assert (await ledger(sessions)).spent == result.cost
        assert unbudgeted.content == "fake-chat says: hi"

    async def test_the_cap_goes_in_the_parameter_the_provider_wants(self, fake, sessions):
        settings = fake.llm_settings(budgets={"projects": {"web": 1}})
        settings.providers["fake"].max_tokens_param = "max_completion_tokens"
        client = LLMClient(settings, sessions=sessions)
        await client.chat("chat", HI, tags=TAGS)
        await client.aclose()
        [sent] = chat_requests(fake)
        assert (sent.body.get("max_tokens"), sent.body["max_completion_tokens"]) == (None, 1024)

    async def test_when_little_is_left_a_plain_answer_is_shortened_to_fit(self, fake, sessions):
        client = LLMClient(
            fake.llm_settings(budgets={"projects": {"web": 0.003}}), sessions=sessions
        )
        await client.chat("chat", HI, tags=TAGS)  # 0.002049 of 0.003
        with pytest.raises(BudgetExceeded, match=r"has \$0\.000951 left"):
            await client.chat("chat", HI, tags=TAGS, json_mode=True)  # cut JSON is worthless
        short = await client.chat("chat", HI, tags=TAGS, temperature=0)
        with pytest.raises(BudgetExceeded, match="is spent") as refused:
            await client.chat("chat", HI, tags=TAGS)
        await client.aclose()
        assert chat_requests(fake)[-1].body["max_tokens"] == 475  # (0.000951 - 1e-6) / 2e-6
        assert (short.tokens_out, short.cost, short.finish_reason) == (
            475,
            Decimal("0.000951"),
            "length",
        )
        assert (await ledger(sessions)).spent == Decimal("0.003")
        assert refused.value.details["state"] == "spent"
        async with sessions() as session:
            cached = await session.scalar(select(func.count()).select_from(LLMCacheEntry))
        assert cached == 0, "an answer the budget cut short is not what was asked: not cached"

    async def test_too_little_for_the_shortest_answer_is_refused(self, fake, sessions):
        client = LLMClient(
            fake.llm_settings(budgets={"projects": {"web": 0.0001}}), sessions=sessions
        )
        with pytest.raises(BudgetExceeded, match="this call needs up to") as refused:
            await client.chat("chat", HI, tags=TAGS)  # 64 tokens would cost 0.000129
        await client.aclose()
        assert refused.value.details["state"] == "too_little_left"
        assert chat_requests(fake) == []


class TestRefusals:
    async def test_a_budget_held_by_calls_in_flight_is_not_called_spent(self, fake, sessions):
        # One call of 100 output tokens reserves 0.000201: the whole budget.
        client = LLMClient(
            fake.llm_settings(budgets={"projects": {"web": 0.000201}}), sessions=sessions
        )
        fake.add_fault(Fault(kind="stall", delay=1.0))
        first = asyncio.create_task(client.chat("chat", HI, tags=TAGS, max_tokens=100))
        while not chat_requests(fake):
            await asyncio.sleep(0.01)
        with pytest.raises(BudgetExceeded) as refused:
            await client.chat("chat", HI, tags=TAGS, max_tokens=100)
        message = refused.value.message
        assert "is spent" not in message
        assert "$0.000000 spent and $0.000201 reserved by calls in flight" in message
        assert "frees up as they finish" in message
        assert refused.value.details["state"] == "held_in_flight"
        await first
        with pytest.raises(BudgetExceeded, match=r"is spent \(\$0\.000201\); it renews on"):
            await client.chat("chat", HI, tags=TAGS, max_tokens=100)
        await client.aclose()

    async def test_a_cancelled_call_is_charged_what_it_reserved_and_holds_nothing(
        self, fake, sessions
    ):
        client = LLMClient(fake.llm_settings(budgets={"projects": {"web": 1}}), sessions=sessions)
        fake.add_fault(Fault(kind="stall", delay=2.0))
        call = asyncio.create_task(client.chat("chat", HI, tags=TAGS, max_tokens=100))
        while not chat_requests(fake):
            await asyncio.sleep(0.01)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        await client.aclose()
        row = await ledger(sessions)
        assert (row.reserved, row.spent) == (0, Decimal("0.000201"))
        async with sessions() as session:
            outcomes = list(await session.scalars(select(LLMUsage.outcome)))
        assert outcomes == ["abandoned"]


class TestOverruns:
    async def test_a_cost_above_the_reservation_is_charged_and_stops_the_budget(self, sessions):
        async with sessions.begin() as session:
            alice, _ = await make_user(session, "alice")
            await identity.create_project(session, principal=alice, data=ProjectCreate(name="web"))
        # The gateway's cost header says twice what the price table does.
        with FakeOpenAI(prices={"fake-chat": (2e-6, 4e-6)}) as fake:
            settings = fake.llm_settings(budgets={"projects": {"web": 1}})
            client = LLMClient(settings, sessions=sessions, budget_refresh=0)
            first = await client.chat("chat", HI, tags=TAGS, max_tokens=100)
            assert first.cost == Decimal("0.000402")  # it reserved 0.000201
            with pytest.raises(BudgetExceeded, match="is stopped: a call cost more") as refused:
                await client.chat("chat", HI, tags=TAGS, max_tokens=100)
            assert refused.value.details["state"] == "stopped"
            assert len(chat_requests(fake)) == 1
            row = await ledger(sessions)
            assert (row.spent, row.reserved) == (Decimal("0.000402"), 0)
            async with sessions() as session:
                stops = list(
                    await session.scalars(select(Event).where(Event.type == "llm.budget.stopped"))
                )
            assert [e.payload["budget"] for e in stops] == ["project:web"]

            # A project admin sets the budget again: calls pass (until the next overrun).
            async with sessions.begin() as session:
                await set_budget(
                    session, principal=alice, project="web", workflow=None, monthly_usd=Decimal(2)
                )
            assert (await client.chat("chat", HI, tags=TAGS, max_tokens=100)).cost > 0
            await client.aclose()
