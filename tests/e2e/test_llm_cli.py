"""`devflow llm …` as a user runs it, against a DevFlow server and the fake gateway."""

import asyncio
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devflow.core.config import DatabaseSettings
from devflow.core.db import create_engine, session_factory
from devflow.llm import LLMClient, Tags
from devflow.llm.cli import fake_env
from devflow.llm.settings import LLMProviderSettings, LLMSettings
from devflow.testing import FakeOpenAI
from tests.cli_inprocess import run_cli
from tests.registry_fixtures import RegistryServer, running_server

pytestmark = pytest.mark.e2e

HI = [{"role": "user", "content": "hi"}]


def devflow_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run `devflow` in this process: the commands' behaviour, not the start-up (each test
    class keeps `devflow llm` itself covered by a real `python -m devflow`: the fake server, or
    `devflow_process`)."""
    return run_cli(*args, env=env)


def devflow_process(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
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
        answer = devflow_cli("llm", "ping", "--local", "--json", env=pointed_at(fake_server))
        assert answer.returncode == 0, answer.stderr
        [result] = json.loads(answer.stdout)
        assert result["provider"] == "aosentry"
        assert result["ok"] is True
        assert "fake-chat" in result["models"]

        plain = devflow_cli(
            "llm", "ping", "--local", env=pointed_at(fake_server) | {"COLUMNS": "200"}
        )
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
        answer = devflow_cli("llm", "ping", "--local", env=env | {"COLUMNS": "200"})
        assert answer.returncode == 6  # Unavailable
        assert answer.stdout.startswith("fail aosentry (http://127.0.0.1:9/v1)")
        assert "provider(s) not working: aosentry" in answer.stderr
        assert "Traceback" not in answer.stderr


class TestFakeServerEnvironment:
    def test_each_export_line_is_whole_on_a_narrow_terminal(self):
        env = {**os.environ, "COLUMNS": "40"}
        proc = subprocess.Popen(
            [sys.executable, "-m", "devflow", "llm", "fake-server", "--port", "0"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            assert proc.stdout is not None
            lines = []
            for line in proc.stdout:
                lines.append(line.rstrip("\n"))
                if "DEVFLOW_LLM__ALIASES" in line:
                    break
        finally:
            proc.terminate()
            proc.communicate(timeout=10)
        base = re.search(r"on (http://127\.0\.0\.1:\d+/v1)", lines[0])
        assert base, lines
        exports = [line for line in lines if line.startswith("export ")]
        assert exports == fake_env(base[1], None)
        assert exports[-1] == (
            'export DEVFLOW_LLM__ALIASES=\'{"chat": ["aosentry/fake-chat"], '
            '"embed": ["aosentry/fake-embed"]}\''
        )

    def test_the_lines_set_what_they_say_in_a_shell(self):
        lines = fake_env("http://127.0.0.1:8787/v1", "it's a key")
        done = subprocess.run(
            [
                "sh",
                "-c",
                "; ".join(
                    [
                        *lines,
                        'printf "%s\\n" "$DEVFLOW_LLM__PROVIDERS__AOSENTRY__API_KEY"',
                        'printf "%s\\n" "$DEVFLOW_LLM__ALIASES"',
                    ]
                ),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        key, aliases = done.stdout.splitlines()
        assert key == "it's a key"
        assert json.loads(aliases) == {
            "chat": ["aosentry/fake-chat"],
            "embed": ["aosentry/fake-embed"],
        }


@pytest.fixture(scope="module")
def llm_server(pg_server, template_url, tmp_path_factory):
    """A DevFlow server whose LLM settings point at a fake gateway; yields (server, fake)."""
    del template_url
    with (
        FakeOpenAI() as fake,
        running_server(
            pg_server, tmp_path_factory.mktemp("home"), settings={"llm": fake.llm_settings()}
        ) as server,
    ):
        yield server, fake


def against(server, tmp_path, token: str | None = None) -> dict[str, str]:
    """A shell whose own LLM settings are the defaults (a remote gateway, no key)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEVFLOW_")}
    return env | {
        "DEVFLOW_HOME": str(tmp_path / "home"),
        "DEVFLOW_URL": server.url,
        "DEVFLOW_TOKEN": token or server.token,
        "COLUMNS": "60",
    }


class TestPingAsksTheServer:
    def test_the_servers_aliases_answer_though_this_shells_settings_would_not(
        self, llm_server, tmp_path
    ):
        server, _ = llm_server
        answer = devflow_process("llm", "ping", env=against(server, tmp_path))
        assert answer.returncode == 0, answer.stderr
        lines = answer.stdout.splitlines()
        assert any(line.startswith("ok   chat (chat): fake/fake-chat ") for line in lines)
        assert any(line.startswith("ok   embed (embed): fake/fake-embed ") for line in lines)
        assert len(lines) == 4
        local = devflow_cli("llm", "ping", "--local", env=against(server, tmp_path))
        assert local.returncode == 6  # the shell's own default provider: no key here

    def test_one_alias_as_json_and_a_failing_one_fails_the_command(self, llm_server, tmp_path):
        server, fake = llm_server
        one = devflow_cli(
            "llm", "ping", "--alias", "embed", "--json", env=against(server, tmp_path)
        )
        assert one.returncode == 0, one.stderr
        [result] = json.loads(one.stdout)
        assert (result["alias"], result["ok"], result["model"]) == ("embed", True, "fake-embed")
        fake.fail_model("fake-chat-fast", status=401)
        try:
            failing = devflow_cli(
                "llm", "ping", "--alias", "chat-fast", env=against(server, tmp_path)
            )
        finally:
            fake.clear_faults()
        assert failing.returncode == 6
        assert failing.stdout.startswith("fail chat-fast (chat): ")
        assert "fake/fake-chat-fast" in failing.stdout
        assert "alias(es) not working on the server: chat-fast" in failing.stderr

    def test_a_caller_who_is_no_instance_admin_is_pointed_at_local(self, llm_server, tmp_path):
        server, _ = llm_server
        writer = server.make_user("pinger")
        answer = devflow_cli("llm", "ping", env=against(server, tmp_path, writer))
        assert answer.returncode == 3
        assert "only an instance admin" in answer.stderr
        assert "`devflow llm ping --local`" in answer.stderr


@dataclass
class Served:
    """A DevFlow server (uvicorn in a thread on a database of its own) and the `devflow` CLI
    against it, in a shell with no settings of its own: usage and budgets are the server's
    answers and need no `devflow up` started for them."""

    server: RegistryServer
    home: Path

    def cli(self, *args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DEVFLOW_")}
        env |= {
            "DEVFLOW_HOME": str(self.home),
            "DEVFLOW_URL": self.server.url,
            "DEVFLOW_TOKEN": token or self.server.token,
        }
        return run_cli(*args, env=env)


@pytest.fixture(scope="module")
def devflow(pg_server, template_url, tmp_path_factory) -> Iterator[Served]:
    """This module's server for usage and budgets (a clean database: no other test's calls)."""
    del template_url
    home = tmp_path_factory.mktemp("usage")
    with running_server(pg_server, home / "server") as server:
        yield Served(server, home / "cli")


async def record_calls(url: str) -> None:
    """Make three model calls whose usage rows land in the server's database."""
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
        asyncio.run(record_calls(devflow.server.db_url))
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
