"""`devflow llm …` as a user runs it: subprocesses against `devflow up` and the fake gateway."""

import asyncio
import json
import os
import re
import subprocess
import sys

import pytest

from devflow.core.config import DatabaseSettings
from devflow.core.db import create_engine, session_factory
from devflow.llm import LLMClient, Tags
from devflow.llm.settings import LLMProviderSettings, LLMSettings
from devflow.testing import FakeOpenAI

pytestmark = pytest.mark.e2e

HI = [{"role": "user", "content": "hi"}]


def devflow_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "devflow", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def fake_server():
    """`devflow llm fake-server --port 0` in its own process; yields its base URL."""
    env = {**os.environ, "COLUMNS": "200"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "devflow", "llm", "fake-server", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        printed = ""
        for line in proc.stdout:
            printed += line
            if "AOSENTRY__API_KEY" in line:
                break
        found = re.search(r"fake OpenAI gateway on (http://127\.0\.0\.1:\d+/v1)", printed)
        assert found, printed
        base = found[1]
        assert f"DEVFLOW_LLM__PROVIDERS__AOSENTRY__BASE_URL={base}" in printed
        yield base
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


def pointed_at(base: str) -> dict[str, str]:
    """The environment the fake-server command tells a user to set."""
    return {
        **os.environ,
        "DEVFLOW_LLM__PROVIDERS__AOSENTRY__BASE_URL": base,
        "DEVFLOW_LLM__PROVIDERS__AOSENTRY__API_KEY": "anything",
        "DEVFLOW_LLM__ALIASES": '{"chat": ["aosentry/fake-chat"]}',
    }


class TestFakeServerAndPing:
    def test_ping_lists_the_fake_gateways_models(self, fake_server):
        answer = devflow_cli("llm", "ping", "--json", env=pointed_at(fake_server))
        assert answer.returncode == 0, answer.stderr
        [result] = json.loads(answer.stdout)
        assert result["provider"] == "aosentry"
        assert result["ok"] is True
        assert "fake-chat" in result["models"]

        plain = devflow_cli("llm", "ping", env=pointed_at(fake_server) | {"COLUMNS": "200"})
        assert plain.returncode == 0
        assert plain.stdout.startswith("ok   aosentry (" + fake_server)

    def test_the_fake_gateway_answers_an_llm_client(self, fake_server):
        settings = LLMSettings(
            default_provider="gw",
            providers={"gw": LLMProviderSettings(base_url=fake_server, key_required=False)},
            aliases={"chat": ["gw/fake-chat"]},
        )

        async def ask():
            client = LLMClient(settings)
            try:
                return await client.chat("chat", HI, tags=Tags("cli-test"))
            finally:
                await client.aclose()

        answer = asyncio.run(ask())
        assert (answer.provider, answer.model) == ("gw", "fake-chat")
        assert answer.content

    def test_a_dead_provider_is_reported_and_fails_the_command(self, fake_server):
        env = pointed_at("http://127.0.0.1:9/v1")
        answer = devflow_cli("llm", "ping", env=env | {"COLUMNS": "200"})
        assert answer.returncode == 6  # Unavailable
        assert answer.stdout.startswith("fail aosentry (http://127.0.0.1:9/v1)")
        assert "provider(s) not working: aosentry" in answer.stderr
        assert "Traceback" not in answer.stderr


def database_url(devflow) -> str:
    state = json.loads((devflow.home / "pg.json").read_text())
    return f"postgresql://devflow:{state['password']}@127.0.0.1:{state['port']}/devflow"


async def record_calls(url: str) -> None:
    """Make three model calls whose usage rows land in devflow up's database."""
    engine = create_engine(url, DatabaseSettings())
    try:
        with FakeOpenAI() as fake:
            client = LLMClient(fake.llm_settings(), sessions=session_factory(engine))
            for feature in ("review", "review", "triage"):
                await client.chat("chat", HI, tags=Tags(feature, project="default"))
            await client.aclose()
    finally:
        await engine.dispose()


class TestUsage:
    def test_usage_by_feature_as_json_and_as_a_table(self, devflow):
        asyncio.run(record_calls(database_url(devflow)))
        answer = devflow.cli("llm", "usage", "--by", "feature", "--since", "1d", "--json")
        assert answer.returncode == 0, answer.stderr
        report = json.loads(answer.stdout)
        assert [(x["key"], x["calls"]) for x in report["lines"]] == [("review", 2), ("triage", 1)]
        assert report["project"] is None

        table = devflow.cli("llm", "usage", "--by", "feature", "--project", "default")
        assert table.returncode == 0, table.stderr
        assert "review" in table.stdout
        assert "total cost:" in table.stdout

    def test_a_bad_period_and_an_unknown_project_are_clear_errors(self, devflow):
        bad = devflow.cli("llm", "usage", "--since", "yesterday")
        assert bad.returncode == 2
        assert "--since must look like" in bad.stderr
        unknown = devflow.cli("llm", "usage", "--project", "nope")
        assert unknown.returncode == 4
        assert "no project 'nope'" in unknown.stderr


class TestBudgets:
    def test_an_admin_sets_shows_lists_and_deletes_a_budget(self, devflow):
        created = devflow.cli("llm", "budget", "set", "default", "12.50")
        assert created.returncode == 0, created.stderr
        assert "budget of project default: $12.5 a month" in created.stdout
        workflow = devflow.cli("llm", "budget", "set", "default", "2", "--workflow", "nightly")
        assert workflow.returncode == 0, workflow.stderr

        shown = json.loads(devflow.cli("llm", "budget", "show", "default", "--json").stdout)
        assert (shown["monthly_usd"], shown["source"], shown["spent"]) == ("12.5", "api", "0")
        listed = json.loads(devflow.cli("llm", "budget", "list", "--json").stdout)
        assert [(b["workflow"], b["monthly_usd"]) for b in listed] == [
            (None, "12.5"),
            ("nightly", "2"),
        ]

        assert devflow.cli("llm", "budget", "delete", "default").returncode == 0
        gone = devflow.cli("llm", "budget", "show", "default")
        assert gone.returncode == 4
        assert "no LLM budget for project 'default'" in gone.stderr
        left = json.loads(devflow.cli("llm", "budget", "list", "--json").stdout)
        assert [b["workflow"] for b in left] == ["nightly"]

    def test_a_read_only_token_cannot_set_a_budget_and_bad_amounts_are_refused(self, devflow):
        reader = json.loads(
            devflow.cli("token", "create", "reader", "--scope", "read", "--json").stdout
        )["token"]
        denied = devflow.cli("llm", "budget", "set", "default", "99", token=reader)
        assert denied.returncode == 3
        assert "lacks the 'write' scope" in denied.stderr
        negative = devflow.cli("llm", "budget", "set", "default", "--", "-5")
        assert negative.returncode == 2
        assert "greater than or equal to 0" in negative.stderr
        nonsense = devflow.cli("llm", "budget", "set", "default", "lots")
        assert nonsense.returncode == 2
        assert "monthly_usd" in nonsense.stderr
        assert "Traceback" not in nonsense.stderr
