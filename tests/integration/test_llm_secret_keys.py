"""Provider API keys named by reference: `secret://NAME` from DevFlow's store (system tier,
audited) and `op://…` through the secrets domain's 1Password, made by the process's services
as the server makes them; a rotated key is picked up on the provider's first 401."""

from __future__ import annotations

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from devflow.core.db import unit_of_work
from devflow.core.errors import NotFound
from devflow.llm import LLM_CLIENT, ProviderRejected, Tags
from devflow.secrets import SECRETS
from devflow.secrets.models import AuditEntry
from devflow.secrets.onepassword.fake import FakeConnect, FakeOp
from devflow.secrets.schemas import SecretWrite
from devflow.secrets.scopes import system
from devflow.secrets.service import set_secret
from devflow.settings import load_settings
from devflow.testing import FakeOpenAI
from tests.factories import open_test_services

TAGS = Tags(feature="tests", project="web")
HELLO = [{"role": "user", "content": "hello"}]
KEY = "sk-from-the-store-7Qp2"
ROTATED = "sk-rotated-Lm93"


@pytest.fixture
def fake():
    with FakeOpenAI(api_key=KEY) as server:
        yield server


def _settings(db_url, tmp_path, fake, api_key, **secrets):
    llm = fake.llm_settings()
    llm.providers["fake"].api_key = SecretStr(api_key)
    return load_settings(database_url=db_url, home=tmp_path / "home", llm=llm, secrets=secrets)


async def _store(services, name, value):
    resolver = services.get(SECRETS)
    async with unit_of_work(services.sessions) as session:
        await set_secret(
            session, resolver.context(), principal=None, where=system(), name=name,
            environment="development", data=SecretWrite(value=value),
        )  # fmt: skip


async def _reads(services, name):
    async with services.sessions() as session:
        rows = await session.scalars(
            select(AuditEntry).where(AuditEntry.name == name).order_by(AuditEntry.seq)
        )
        return [(r.actor, r.action, r.outcome, r.reason) for r in rows if r.action != "write"]


class TestSecretReference:
    async def test_the_key_comes_from_the_system_tier_and_its_read_is_audited(
        self, db_url, tmp_path, fake
    ):
        settings = _settings(db_url, tmp_path, fake, "secret://OPENAI_KEY")
        async with open_test_services(db_url, settings) as services:
            await _store(services, "OPENAI_KEY", KEY)
            client = services.get(LLM_CLIENT)
            assert (await client.chat("chat", HELLO, tags=TAGS)).content
            assert (await client.chat("chat", HELLO, tags=TAGS)).content
            reads = await _reads(services, "OPENAI_KEY")
        assert [r.headers["authorization"] for r in fake.requests] == [f"Bearer {KEY}"] * 2
        # Resolved once, when the provider's client was made: one read, not one per call.
        assert reads == [("devflow", "read", "ok", "llm provider fake")]

    async def test_an_unknown_name_says_how_to_set_it_and_is_audited(self, db_url, tmp_path, fake):
        settings = _settings(db_url, tmp_path, fake, "secret://OPENAI_KEY")
        async with open_test_services(db_url, settings) as services:
            with pytest.raises(NotFound) as caught:
                await services.get(LLM_CLIENT).chat("chat", HELLO, tags=TAGS)
            reads = await _reads(services, "OPENAI_KEY")
        assert caught.value.message == (
            "provider 'fake': secret://OPENAI_KEY is not set in the system tier "
            "(devflow secrets set OPENAI_KEY --system)"
        )
        assert reads == [("devflow", "resolve", "denied", reads[0][3])]
        assert fake.requests == []

    async def test_a_rotated_key_is_picked_up_on_the_first_401(self, db_url, tmp_path, fake):
        settings = _settings(db_url, tmp_path, fake, "secret://OPENAI_KEY")
        async with open_test_services(db_url, settings) as services:
            await _store(services, "OPENAI_KEY", KEY)
            client = services.get(LLM_CLIENT)
            await client.chat("chat", HELLO, tags=TAGS)
            fake.api_key = ROTATED  # the provider revokes the old key …
            await _store(services, "OPENAI_KEY", ROTATED)  # … and a new version is stored
            fake.clear_requests()
            assert (await client.chat("chat", HELLO, tags=TAGS, cache=False)).content
            reads = await _reads(services, "OPENAI_KEY")
        assert [r.headers["authorization"] for r in fake.requests] == [
            f"Bearer {KEY}",
            f"Bearer {ROTATED}",
        ]
        assert len(reads) == 2

    async def test_a_401_with_an_unchanged_key_is_not_sent_again(self, db_url, tmp_path, fake):
        settings = _settings(db_url, tmp_path, fake, "secret://OPENAI_KEY")
        async with open_test_services(db_url, settings) as services:
            await _store(services, "OPENAI_KEY", "sk-wrong")
            with pytest.raises(ProviderRejected, match="HTTP 401"):
                await services.get(LLM_CLIENT).chat("chat", HELLO, tags=TAGS)
        assert len(fake.requests) == 1


class TestOnePasswordReference:
    async def test_through_a_connect_server(self, db_url, tmp_path, fake):
        with FakeConnect() as connect:
            connect.add_item("AI", "OpenAI", fields={"credential": KEY})
            settings = _settings(
                db_url, tmp_path, fake, "op://AI/OpenAI/credential", onepassword=connect.settings()
            )
            async with open_test_services(db_url, settings) as services:
                assert (await services.get(LLM_CLIENT).chat("chat", HELLO, tags=TAGS)).content
            assert connect.count("item") == 1
        assert fake.requests[-1].headers["authorization"] == f"Bearer {KEY}"

    async def test_through_the_op_cli_when_no_connect_server_is_set(self, db_url, tmp_path, fake):
        op = FakeOp.install(tmp_path / "bin", {"op://AI/OpenAI/credential": KEY})
        settings = _settings(
            db_url, tmp_path, fake, "op://AI/OpenAI/credential", onepassword=op.settings()
        )
        async with open_test_services(db_url, settings) as services:
            assert (await services.get(LLM_CLIENT).chat("chat", HELLO, tags=TAGS)).content
        assert op.calls == [["read", "--no-newline", "op://AI/OpenAI/credential"]]

    async def test_a_missing_item_names_the_provider_and_the_reference(
        self, db_url, tmp_path, fake
    ):
        with FakeConnect() as connect:
            connect.add_vault("AI")
            settings = _settings(
                db_url, tmp_path, fake, "op://AI/OpenAI/credential", onepassword=connect.settings()
            )
            async with open_test_services(db_url, settings) as services:
                with pytest.raises(NotFound) as caught:
                    await services.get(LLM_CLIENT).chat("chat", HELLO, tags=TAGS)
        assert caught.value.message.startswith("provider 'fake': op://AI/OpenAI/credential")
        assert fake.requests == []
