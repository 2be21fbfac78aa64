"""1Password resolution against the fake Connect server and a fake `op` CLI: lookups, batching,
the TTL cache and single flight, errors that name the reference (never a value), and the sealed
last-known-good cache that stands in during an outage."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import stat
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from devflow.core.errors import Invalid
from devflow.secrets.onepassword import (
    NotConfigured,
    OnePassword,
    OnePasswordAuthError,
    OnePasswordSettings,
    ReferenceNotFound,
    Resolved1P,
    Unreachable,
)
from devflow.secrets.onepassword.fake import FakeConnect, FakeOp
from tests.secret_values import register

# Registered: no log or event of the suite may hold them (tests/leak_scan.py).
DB_PASSWORD = register("s3cret-db-pa55word")
API_TOKEN = register("tok-api-9f8e7d6c5b4a")
PROD_KEY = register("prod-key-0a1b2c3d")
VALUES = (DB_PASSWORD, API_TOKEN, PROD_KEY)


class AesGcmSealer:
    """The test's stand-in for the secrets key ring: AES-GCM under a random key."""

    def __init__(self) -> None:
        self._aead = AESGCM(AESGCM.generate_key(bit_length=256))

    def seal(self, plaintext: bytes, context: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, plaintext, context)

    def open(self, sealed: bytes, context: bytes) -> bytes:
        return self._aead.decrypt(sealed[:12], sealed[12:], context)


class Clock:
    """Injected time: a wall clock and a monotonic one that move only when told."""

    def __init__(self) -> None:
        self.wall = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
        self.mono = 1000.0

    def advance(self, seconds: float) -> None:
        self.wall += timedelta(seconds=seconds)
        self.mono += seconds


@pytest.fixture
def connect():
    with FakeConnect() as fake:
        fake.add_item(
            "Infra",
            "Database",
            fields={"password": DB_PASSWORD, "username": "devflow"},
            sections={"api": {"token": API_TOKEN}, "prod": {"key": PROD_KEY}},
        )
        fake.add_item("Infra", "Empty", fields={"blank": ""})
        yield fake


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def make(clock) -> AsyncIterator[Callable[..., OnePassword]]:
    """Make `OnePassword`s on the injected clock; each is closed after the test."""
    made: list[OnePassword] = []

    def factory(settings: OnePasswordSettings, **kwargs) -> OnePassword:
        kwargs.setdefault("now", lambda: clock.wall)
        kwargs.setdefault("monotonic", lambda: clock.mono)
        op = OnePassword(settings, **kwargs)
        made.append(op)
        return op

    yield factory
    for op in made:
        await op.aclose()


def lkg_settings(fake, **overrides) -> OnePasswordSettings:
    return fake.settings(last_known_good=True, cache_ttl_seconds=0, **overrides)


class TestConnect:
    async def test_a_field_resolves_to_its_value(self, connect, make, clock):
        op = make(connect.settings())
        resolved = await op.resolve("op://Infra/Database/password")
        assert resolved.value == DB_PASSWORD
        assert resolved.reference == "op://Infra/Database/password"
        assert resolved.fetched_at == clock.wall
        assert not resolved.stale
        assert op.backend == "connect"

    async def test_every_request_carries_the_bearer_token(self, connect, make):
        await make(connect.settings()).resolve("op://Infra/Database/password")
        assert connect.requests
        assert all(r.authorized for r in connect.requests)

    async def test_a_section_is_matched_by_label_or_by_id(self, connect, make):
        item = connect.add_item("Infra", "Keys", sections={"api": {"token": "by-section"}})
        section_id = item["sections"][0]["id"]
        op = make(connect.settings())
        assert (await op.resolve("op://Infra/Keys/api/token")).value == "by-section"
        assert (await op.resolve(f"op://Infra/Keys/{section_id}/token")).value == "by-section"

    async def test_a_field_in_a_section_is_found_without_naming_the_section(self, connect, make):
        op = make(connect.settings())
        assert (await op.resolve("op://Infra/Database/token")).value == API_TOKEN

    async def test_a_field_is_matched_by_id(self, connect, make):
        item = connect.add_item("Infra", "ById", fields={"secret": "found-by-id"})
        field_id = item["fields"][0]["id"]
        op = make(connect.settings())
        assert (await op.resolve(f"op://Infra/ById/{field_id}")).value == "found-by-id"

    async def test_vault_and_item_may_be_named_by_id(self, connect, make):
        item = connect.add_item("Infra", "Named", fields={"secret": "by-ids"})
        vault_id = item["vault"]["id"]
        op = make(connect.settings())
        resolved = await op.resolve(f"op://{vault_id}/{item['id']}/secret")
        assert resolved.value == "by-ids"
        assert connect.count("vaults") == 0  # no lookups by name were needed
        assert connect.count("items") == 0

    async def test_an_empty_field_resolves_to_empty_text_and_is_cached(self, connect, make):
        op = make(connect.settings())
        assert (await op.resolve("op://Infra/Empty/blank")).value == ""
        before = len(connect.requests)
        assert (await op.resolve("op://Infra/Empty/blank")).value == ""
        assert len(connect.requests) == before

    async def test_names_with_spaces_and_quotes_resolve(self, connect, make):
        connect.add_item('Team "A" Vault', 'Prod "main" DB', fields={"pass word": "quoted"})
        op = make(connect.settings())
        resolved = await op.resolve('op://Team "A" Vault/Prod "main" DB/pass word')
        assert resolved.value == "quoted"


class TestBatching:
    async def test_one_item_fetch_serves_every_field_of_that_item(self, connect, make):
        op = make(connect.settings())
        refs = [
            "op://Infra/Database/password",
            "op://Infra/Database/username",
            "op://Infra/Database/api/token",
            "op://Infra/Database/prod/key",
            "op://Infra/Empty/blank",
        ]
        results = await op.resolve_many(refs)
        assert [r.value for r in results.values() if isinstance(r, Resolved1P)] == [
            DB_PASSWORD,
            "devflow",
            API_TOKEN,
            PROD_KEY,
            "",
        ]
        assert connect.count("vaults") == 1  # the vault is looked up once for both items
        assert connect.count("items") == 2
        assert connect.count("item") == 2

    async def test_a_batch_answers_each_reference_with_its_value_or_its_error(self, connect, make):
        op = make(connect.settings())
        results = await op.resolve_many(
            ["op://Infra/Database/password", "op://Infra/Database/nope", "not a reference"]
        )
        assert results["op://Infra/Database/password"].value == DB_PASSWORD
        assert isinstance(results["op://Infra/Database/nope"], ReferenceNotFound)
        assert isinstance(results["not a reference"], Invalid)

    async def test_the_ttl_cache_answers_without_a_request(self, connect, make, clock):
        op = make(connect.settings(cache_ttl_seconds=60))
        first = await op.resolve("op://Infra/Database/password")
        before = len(connect.requests)
        clock.advance(59)
        again = await op.resolve("op://Infra/Database/password")
        assert len(connect.requests) == before
        assert again.fetched_at == first.fetched_at

    async def test_an_expired_value_is_asked_for_again(self, connect, make, clock):
        op = make(connect.settings(cache_ttl_seconds=60))
        await op.resolve("op://Infra/Database/password")
        clock.advance(61)
        await op.resolve("op://Infra/Database/password")
        assert connect.count("item") == 2

    async def test_a_zero_ttl_asks_every_time(self, connect, make):
        op = make(connect.settings(cache_ttl_seconds=0))
        await op.resolve("op://Infra/Database/password")
        await op.resolve("op://Infra/Database/password")
        assert connect.count("item") == 2

    async def test_concurrent_resolutions_of_one_reference_share_one_request(self, connect, make):
        op = make(connect.settings(cache_ttl_seconds=0))
        results = await asyncio.gather(
            *(op.resolve("op://Infra/Database/password") for _ in range(20)),
            op.resolve_many(["op://Infra/Database/password", "op://Infra/Database/username"]),
        )
        assert {r.value for r in results[:20]} == {DB_PASSWORD}
        assert results[20]["op://Infra/Database/username"].value == "devflow"
        # The first call's batch is one lookup chain; the last call joins it for `password`
        # and asks for `username` alone.
        assert connect.count("vaults") == 2
        assert connect.count("item") == 2

    async def test_a_caller_that_gives_up_does_not_cancel_the_others(self, connect, make):
        connect.stall(0.3)
        op = make(connect.settings(cache_ttl_seconds=0))
        quitter = asyncio.ensure_future(op.resolve("op://Infra/Database/password"))
        stayer = asyncio.ensure_future(op.resolve("op://Infra/Database/password"))
        await asyncio.sleep(0)
        quitter.cancel()
        resolved = await stayer
        assert resolved.value == DB_PASSWORD
        assert quitter.cancelled()


class TestConnectErrors:
    @pytest.mark.parametrize(
        ("ref", "names"),
        [
            ("op://Nowhere/Database/password", "no vault named 'Nowhere'"),
            ("op://Infra/Nothing/password", "no item titled 'Nothing'"),
            ("op://Infra/Database/nothing", "no field 'nothing'"),
            ("op://Infra/Database/nosection/token", "no section 'nosection'"),
            ("op://Infra/Database/api/password", "no field 'password' in section 'api'"),
        ],
    )
    async def test_what_does_not_exist_is_not_found_naming_the_reference(
        self, connect, make, ref, names
    ):
        with pytest.raises(ReferenceNotFound) as caught:
            await make(connect.settings()).resolve(ref)
        assert ref in caught.value.message
        assert names in caught.value.message
        assert caught.value.reference == ref
        assert not any(value in caught.value.message for value in VALUES)

    async def test_two_items_of_one_title_are_refused_not_guessed(self, connect, make):
        connect.add_item("Infra", "Twin", fields={"f": "one"})
        connect.add_item("Infra", "Twin", fields={"f": "two"})
        with pytest.raises(ReferenceNotFound, match="name it by its id"):
            await make(connect.settings()).resolve("op://Infra/Twin/f")

    async def test_a_wrong_token_is_an_auth_error(self, connect, make):
        settings = connect.settings(connect_token="wrong")
        with pytest.raises(OnePasswordAuthError) as caught:
            await make(settings).resolve("op://Infra/Database/password")
        assert "op://Infra/Database/password" in caught.value.message
        assert "refused the token" in caught.value.message
        assert "wrong" not in caught.value.message

    async def test_a_server_that_is_down_is_unreachable_naming_the_reference(self, connect, make):
        connect.go_down()
        with pytest.raises(Unreachable) as caught:
            await make(connect.settings()).resolve("op://Infra/Database/password")
        assert "op://Infra/Database/password" in caught.value.message
        assert "cannot reach" in caught.value.message

    @pytest.mark.parametrize("status", [500, 502, 503, 429])
    async def test_a_server_error_is_unreachable(self, connect, make, status):
        connect.fail(status)
        with pytest.raises(Unreachable, match=str(status)):
            await make(connect.settings()).resolve("op://Infra/Database/password")

    async def test_a_stalled_server_is_unreachable_after_the_timeout(self, connect, make):
        connect.stall(30)
        op = make(connect.settings(timeout_seconds=0.2))
        with pytest.raises(Unreachable, match="did not answer"):
            await op.resolve("op://Infra/Database/password")

    async def test_errors_are_not_cached(self, connect, make):
        connect.fail(503)
        op = make(connect.settings(cache_ttl_seconds=60))
        with pytest.raises(Unreachable):
            await op.resolve("op://Infra/Database/password")
        connect.clear_faults()
        assert (await op.resolve("op://Infra/Database/password")).value == DB_PASSWORD


class TestLastKnownGood:
    async def test_an_outage_serves_the_last_known_good_value_as_stale(
        self, connect, make, clock, tmp_path
    ):
        path = tmp_path / "home" / "secrets" / "op-cache"
        sealer = AesGcmSealer()
        op = make(lkg_settings(connect), sealer=sealer, home=tmp_path / "home")
        fresh = await op.resolve("op://Infra/Database/password")
        assert path.is_file()
        connect.go_down()
        clock.advance(3600)
        stale = await op.resolve("op://Infra/Database/password")
        assert stale.value == DB_PASSWORD
        assert stale.stale
        assert stale.fetched_at == fresh.fetched_at

    async def test_a_new_process_serves_it_too(self, connect, make, tmp_path):
        path = tmp_path / "op-cache"
        sealer = AesGcmSealer()
        await make(lkg_settings(connect), sealer=sealer, cache_path=path).resolve(
            "op://Infra/Database/api/token"
        )
        connect.fail(503)
        later = make(lkg_settings(connect), sealer=sealer, cache_path=path)
        assert (await later.resolve("op://Infra/Database/api/token")).value == API_TOKEN

    async def test_the_cache_file_is_private_and_holds_no_value_or_reference(
        self, connect, make, tmp_path
    ):
        path = tmp_path / "secrets" / "op-cache"
        op = make(lkg_settings(connect), sealer=AesGcmSealer(), cache_path=path)
        await op.resolve_many(["op://Infra/Database/password", "op://Infra/Database/api/token"])
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        raw = path.read_bytes()
        assert b"Database" not in raw
        assert not any(value.encode() in raw for value in VALUES)
        assert len(json.loads(raw)["entries"]) == 2
        assert [p.name for p in path.parent.iterdir()] == ["op-cache"]  # no temporary left

    async def test_a_value_older_than_the_maximum_age_is_not_served(
        self, connect, make, clock, tmp_path
    ):
        settings = lkg_settings(connect, last_known_good_max_age_seconds=3600)
        op = make(settings, sealer=AesGcmSealer(), cache_path=tmp_path / "op-cache")
        await op.resolve("op://Infra/Database/password")
        connect.go_down()
        clock.advance(3601)
        with pytest.raises(Unreachable):
            await op.resolve("op://Infra/Database/password")

    async def test_it_stands_in_for_an_outage_only(self, connect, make, tmp_path):
        op = make(lkg_settings(connect), sealer=AesGcmSealer(), cache_path=tmp_path / "c")
        await op.resolve("op://Infra/Database/password")
        bad_token = make(
            lkg_settings(connect, connect_token="wrong"),
            sealer=AesGcmSealer(),
            cache_path=tmp_path / "c",
        )
        with pytest.raises(OnePasswordAuthError):
            await bad_token.resolve("op://Infra/Database/password")

    async def test_a_corrupt_cache_file_is_ignored_with_a_warning(
        self, connect, make, tmp_path, caplog
    ):
        caplog.set_level(logging.DEBUG)
        path = tmp_path / "op-cache"
        path.write_bytes(b"\x00garbage{")
        op = make(lkg_settings(connect), sealer=AesGcmSealer(), cache_path=path)
        assert (await op.resolve("op://Infra/Database/password")).value == DB_PASSWORD
        assert "ignored" in caplog.text
        assert json.loads(path.read_bytes())["entries"]  # replaced by a good one
        path.write_bytes(b'{"format": "something else"}')
        connect.go_down()
        with pytest.raises(Unreachable):
            await op.resolve("op://Infra/Database/password")

    async def test_an_entry_that_does_not_open_is_ignored_with_a_warning(
        self, connect, make, tmp_path, caplog
    ):
        caplog.set_level(logging.DEBUG)
        path = tmp_path / "op-cache"
        first = make(lkg_settings(connect), sealer=AesGcmSealer(), cache_path=path)
        await first.resolve("op://Infra/Database/password")
        connect.go_down()
        other_key = make(lkg_settings(connect), sealer=AesGcmSealer(), cache_path=path)
        with pytest.raises(Unreachable):
            await other_key.resolve("op://Infra/Database/password")
        assert "cannot be opened" in caplog.text

    async def test_an_entry_moved_to_another_reference_does_not_open(self, connect, make, tmp_path):
        path = tmp_path / "op-cache"
        sealer = AesGcmSealer()
        op = make(lkg_settings(connect), sealer=sealer, cache_path=path)
        await op.resolve_many(["op://Infra/Database/password", "op://Infra/Database/username"])
        data = json.loads(path.read_bytes())
        entries = data["entries"]
        a, b = entries
        entries[a], entries[b] = entries[b], entries[a]
        path.write_text(json.dumps(data))
        connect.go_down()
        with pytest.raises(Unreachable):
            await op.resolve("op://Infra/Database/password")

    async def test_a_sealer_that_cannot_seal_yet_loses_no_value(
        self, connect, make, tmp_path, caplog
    ):
        class Unloaded:
            def seal(self, plaintext, context):
                raise RuntimeError("the secrets keys are not loaded yet")

            def open(self, sealed, context):
                raise RuntimeError("the secrets keys are not loaded yet")

        caplog.set_level(logging.DEBUG)
        op = make(lkg_settings(connect), sealer=Unloaded(), cache_path=tmp_path / "c")
        assert (await op.resolve("op://Infra/Database/password")).value == DB_PASSWORD
        assert "cannot be sealed" in caplog.text

    def test_it_needs_a_sealer_and_a_place(self, connect):
        with pytest.raises(Invalid, match="sealer"):
            OnePassword(lkg_settings(connect), cache_path=None)

    async def test_the_cache_file_is_written_whole_even_if_an_old_one_was_open(
        self, connect, make, tmp_path
    ):
        path = tmp_path / "op-cache"
        path.write_text("{}")
        path.chmod(0o644)  # an old file's mode is not kept: the rename replaces it
        op = make(lkg_settings(connect), sealer=AesGcmSealer(), cache_path=path)
        await op.resolve("op://Infra/Database/password")
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


class TestNoValueInLogsOrErrors:
    async def test_values_never_reach_the_logs(self, connect, make, tmp_path, caplog):
        caplog.set_level(logging.DEBUG)
        path = tmp_path / "op-cache"
        op = make(lkg_settings(connect), sealer=AesGcmSealer(), cache_path=path)
        refs = [
            "op://Infra/Database/password",
            "op://Infra/Database/api/token",
            "op://Infra/Database/prod/key",
        ]
        await op.resolve_many(refs)
        connect.go_down()
        stale = await op.resolve_many([*refs, "op://Infra/Database/missing"])
        assert all(stale[ref].stale for ref in refs)
        assert isinstance(stale["op://Infra/Database/missing"], Unreachable)
        path.write_bytes(base64.b64encode(b"garbage"))
        await op.resolve_many(refs)
        assert "last-known-good" in caplog.text
        assert not any(value in caplog.text for value in VALUES)

    async def test_a_resolved_value_is_left_out_of_its_repr(self, connect, make):
        resolved = await make(connect.settings()).resolve("op://Infra/Database/password")
        assert DB_PASSWORD not in repr(resolved)
        assert DB_PASSWORD not in str(resolved)


class TestOpCli:
    @pytest.fixture
    def fake_op(self, tmp_path, monkeypatch):
        monkeypatch.delenv("OP_SERVICE_ACCOUNT_TOKEN", raising=False)
        return FakeOp.install(
            tmp_path / "bin",
            {
                "op://Infra/Database/password": DB_PASSWORD,
                "op://Infra/Database/api/token": API_TOKEN,
            },
        )

    async def test_op_found_on_path_resolves_without_a_newline(self, fake_op, make, monkeypatch):
        monkeypatch.setenv("PATH", f"{fake_op.folder}{os.pathsep}{os.environ['PATH']}")
        op = make(OnePasswordSettings())
        resolved = await op.resolve("op://Infra/Database/password")
        assert resolved.value == DB_PASSWORD
        assert op.backend == "op"
        assert fake_op.calls == [["read", "--no-newline", "op://Infra/Database/password"]]

    async def test_sections_are_passed_through(self, fake_op, make):
        resolved = await make(fake_op.settings()).resolve("op://Infra/Database/api/token")
        assert resolved.value == API_TOKEN

    async def test_the_ttl_cache_spares_a_run(self, fake_op, make):
        op = make(fake_op.settings(cache_ttl_seconds=60))
        await op.resolve("op://Infra/Database/password")
        await op.resolve("op://Infra/Database/password")
        assert len(fake_op.calls) == 1

    async def test_concurrent_resolutions_share_one_run(self, fake_op, make):
        op = make(fake_op.settings(cache_ttl_seconds=0))
        results = await asyncio.gather(
            *(op.resolve("op://Infra/Database/password") for _ in range(5))
        )
        assert {r.value for r in results} == {DB_PASSWORD}
        assert len(fake_op.calls) == 1

    @pytest.mark.parametrize(
        ("ref", "said"),
        [
            ("op://Nowhere/Database/password", "isn't a vault"),
            ("op://Infra/Nothing/password", "could not find item"),
            ("op://Infra/Database/nothing", "isn't a field"),
        ],
    )
    async def test_what_does_not_exist_is_not_found_naming_the_reference(
        self, fake_op, make, ref, said
    ):
        with pytest.raises(ReferenceNotFound) as caught:
            await make(fake_op.settings()).resolve(ref)
        assert ref in caught.value.message
        assert said in caught.value.message
        assert "[ERROR]" not in caught.value.message

    async def test_the_service_account_token_is_handed_to_op(self, tmp_path, make):
        fake = FakeOp.install(tmp_path / "bin", {"op://V/I/f": "v"}, token="ops_token")
        op = make(fake.settings(service_account_token="ops_token"))
        assert (await op.resolve("op://V/I/f")).value == "v"

    async def test_op_without_a_token_is_an_auth_error(self, tmp_path, make, monkeypatch):
        monkeypatch.delenv("OP_SERVICE_ACCOUNT_TOKEN", raising=False)
        fake = FakeOp.install(tmp_path / "bin", {"op://V/I/f": "v"}, token="ops_token")
        with pytest.raises(OnePasswordAuthError, match="op://V/I/f"):
            await make(fake.settings()).resolve("op://V/I/f")

    async def test_an_outage_is_unreachable_and_the_last_known_good_stands_in(
        self, fake_op, make, tmp_path
    ):
        sealer = AesGcmSealer()
        settings = fake_op.settings(last_known_good=True, cache_ttl_seconds=0)
        op = make(settings, sealer=sealer, cache_path=tmp_path / "op-cache")
        await op.resolve("op://Infra/Database/password")
        fake_op.go_down()
        stale = await op.resolve("op://Infra/Database/password")
        assert (stale.value, stale.stale) == (DB_PASSWORD, True)
        with pytest.raises(Unreachable, match="op://Infra/Database/api/token"):
            await op.resolve("op://Infra/Database/api/token")  # never fetched

    async def test_op_that_does_not_answer_is_stopped_after_the_timeout(self, fake_op, make):
        fake_op.stall(30)
        op = make(fake_op.settings(timeout_seconds=0.5))
        with pytest.raises(Unreachable, match="did not answer"):
            await op.resolve("op://Infra/Database/password")


class TestNotConfigured:
    async def test_without_connect_or_op_the_error_says_what_to_set(self, make, tmp_path):
        op = make(OnePasswordSettings(op_path=str(tmp_path / "no-op-here")))
        with pytest.raises(NotConfigured) as caught:
            await op.resolve("op://Infra/Database/password")
        assert "DEVFLOW_SECRETS__ONEPASSWORD__CONNECT_HOST" in caught.value.message
        assert "op://Infra/Database/password" in caught.value.message
        assert op.backend is None

    async def test_op_installed_later_is_found(self, make, tmp_path):
        path = tmp_path / "bin" / "op"
        op = make(OnePasswordSettings(op_path=str(path)))
        with pytest.raises(NotConfigured):
            await op.resolve("op://V/I/f")
        FakeOp.install(path.parent, {"op://V/I/f": "v"})
        assert (await op.resolve("op://V/I/f")).value == "v"
