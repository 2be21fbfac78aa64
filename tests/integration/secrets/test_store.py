"""The secrets store through its REST API: tiers, environments, versions, who may do what,
hostile input, tampering, resolution order and key rotation — on a real PostgreSQL."""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import select, text, update

from devflow.core.auth import Role, Scope
from devflow.core.db import unit_of_work
from devflow.identity import service as identity
from devflow.secrets.crypto import KeyringError, parse_keys
from devflow.secrets.jobs import blueprint
from devflow.secrets.keys import SecretKeys
from devflow.secrets.models import AuditEntry, EncryptionKey, SecretVersion
from devflow.settings import load_settings
from tests.factories import api_client, make_user, run_jobs, running_app
from tests.secret_values import secret_value

VALUE = secret_value("s3cr3t-value-Zq8#pL2-")  # every value here is registered (tests/leak_scan.py)
KEY_A = base64.b64encode(b"A" * 32).decode()
KEY_B = base64.b64encode(b"B" * 32).decode()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def settings(db_url, home):
    return load_settings(database_url=db_url, home=home)


@pytest.fixture
async def app(settings) -> AsyncIterator[FastAPI]:
    async with running_app(settings) as application:
        yield application


async def _member(sessions, admin, username, role, scopes=(Scope.READ, Scope.WRITE)):
    async with unit_of_work(sessions) as session:
        _, token = await make_user(session, username, scopes=scopes)
        if role is not None:
            await identity.set_membership(
                session, principal=admin, project_name="default", username=username, role=role
            )
    return token


@pytest.fixture
async def admin(sessions, admin_token):
    async with unit_of_work(sessions) as session:
        return await identity.authenticate(session, token=admin_token)


P = "/api/v1/projects/default/secrets"


async def _audit(sessions, **where):
    async with sessions() as session:
        query = select(AuditEntry).order_by(AuditEntry.seq)
        for column, value in where.items():
            query = query.where(getattr(AuditEntry, column) == value)
        return list(await session.scalars(query))


class TestStore:
    async def test_set_reveal_version_rollback_delete(self, api, sessions):
        made = await api.put(f"{P}/DB_PASSWORD", json={"value": VALUE, "description": "db"})
        assert made.status_code == 200, made.text
        assert made.json()["version"] == 1
        assert made.json()["value"] is None
        assert VALUE not in made.text
        second = await api.put(f"{P}/DB_PASSWORD", json={"value": VALUE + "-2"})
        assert second.json()["version"] == 2

        shown = await api.get(f"{P}/DB_PASSWORD")
        assert shown.json()["value"] is None
        assert VALUE not in shown.text
        revealed = await api.get(f"{P}/DB_PASSWORD", params={"reveal": "true", "reason": "test"})
        assert revealed.json()["value"] == VALUE + "-2"

        listed = await api.get(P)
        assert [s["name"] for s in listed.json()] == ["DB_PASSWORD"]
        assert VALUE not in listed.text

        history = (await api.get(f"{P}/DB_PASSWORD/history")).json()
        assert [(v["version"], v["current"]) for v in history] == [(2, True), (1, False)]
        back = await api.post(f"{P}/DB_PASSWORD/rollback", json={"version": 1})
        assert back.json()["version"] == 3
        again = await api.get(f"{P}/DB_PASSWORD", params={"reveal": "true"})
        assert again.json()["value"] == VALUE
        same = await api.post(f"{P}/DB_PASSWORD/rollback", json={"version": 3})
        assert same.status_code == 409

        reads = await _audit(sessions, name="DB_PASSWORD", action="read")
        assert [r.version for r in reads] == [2, 3]
        assert reads[0].reason == "test"
        writes = await _audit(sessions, name="DB_PASSWORD", action="write")
        assert [r.version for r in writes] == [1, 2]

        assert (await api.delete(f"{P}/DB_PASSWORD")).status_code == 204
        assert (await api.get(f"{P}/DB_PASSWORD")).status_code == 404
        async with sessions() as session:
            payloads = await session.scalars(text("SELECT payload::text FROM event"))
            assert not [p for p in payloads if VALUE in p]
            sealed = await session.scalars(select(SecretVersion.ciphertext))
            assert not [c for c in sealed if c and VALUE.encode() in c]

    async def test_environments_are_separate(self, api):
        staging_url = secret_value("https://staging.example/?key=")
        prod_url = secret_value("https://prod.example/?key=")
        await api.put(f"{P}/API_URL", json={"value": staging_url, "environment": "staging"})
        await api.put(f"{P}/API_URL", json={"value": prod_url, "environment": "production"})
        staging = await api.get(f"{P}/API_URL", params={"environment": "staging", "reveal": "true"})
        production = await api.get(
            f"{P}/API_URL", params={"environment": "production", "reveal": "true"}
        )
        assert (staging.json()["value"], production.json()["value"]) == (staging_url, prod_url)
        assert (await api.get(f"{P}/API_URL")).status_code == 404  # development has none

    async def test_a_reference_is_stored_and_never_sealed(self, api, sessions):
        made = await api.put(f"{P}/OPENAI_KEY", json={"reference": "op://Dev/OpenAI/credential"})
        assert made.json()["kind"] == "reference"
        assert made.json()["reference"] == "op://Dev/OpenAI/credential"
        async with sessions() as session:
            row = await session.scalar(
                select(SecretVersion).where(SecretVersion.kind == "reference")
            )
            assert row is not None
            assert row.ciphertext is None


@pytest.mark.parametrize(
    ("path", "body", "status", "words"),
    [
        (f"{P}/..etc", {"value": VALUE}, 422, "invalid secret name"),
        (f"{P}/..%2Fetc", {"value": VALUE}, 404, "Not Found"),
        (f"{P}/1STARTS_WITH_DIGIT", {"value": VALUE}, 422, "invalid secret name"),
        (f"{P}/{'A' * 129}", {"value": VALUE}, 422, "invalid secret name"),
        (f"{P}/NUL%00NAME", {"value": VALUE}, 400, "NUL character"),
        (f"{P}/EMPTY", {"value": ""}, 422, "empty"),
        (f"{P}/NUL_VALUE", {"value": "a\x00b"}, 400, "NUL"),
        (f"{P}/HUGE", {"value": "x" * (64 * 1024 + 1)}, 422, "at most"),
        (f"{P}/BOTH", {"value": "v", "reference": "op://a/b/c"}, 422, "either"),
        (f"{P}/NEITHER", {}, 422, "either"),
        (f"{P}/BADREF", {"reference": "op://vault"}, 422, "op://"),
        (f"{P}/BADENV", {"value": VALUE, "environment": "Prod/../x"}, 422, "invalid environment"),
        ("/api/v1/projects/nope/secrets/X", {"value": VALUE}, 404, "no project"),
    ],
)
async def test_hostile_input_is_refused_and_writes_nothing(
    api, sessions, path, body, status, words
):
    answer = await api.put(path, json=body)
    assert answer.status_code == status, answer.text
    assert words in answer.json()["error"]["message"]
    assert VALUE not in answer.text
    async with sessions() as session:
        assert not list(await session.scalars(select(SecretVersion)))


class TestAccess:
    async def test_who_may_do_what(self, app, api, sessions, admin):
        writer = await _member(sessions, admin, "writer", Role.WRITE)
        reader = await _member(sessions, admin, "reader", Role.READ)
        outsider = await _member(sessions, admin, "outsider", None)
        await api.put(f"{P}/TOKEN", json={"value": VALUE})
        await api.put("/api/v1/secrets/system/SYSTEM_KEY", json={"value": VALUE})
        async with (
            api_client(app, writer) as w,
            api_client(app, reader) as r,
            api_client(app, outsider) as o,
        ):
            assert (await w.get(f"{P}/TOKEN", params={"reveal": "true"})).json()["value"] == VALUE
            listed = await r.get(P)
            assert listed.status_code == 200
            assert [s["name"] for s in listed.json()] == ["TOKEN"]
            refused = await r.get(f"{P}/TOKEN", params={"reveal": "true"})
            assert refused.status_code == 403
            assert VALUE not in refused.text
            assert (await r.put(f"{P}/TOKEN", json={"value": secret_value()})).status_code == 403
            assert (await o.get(P)).status_code == 404
            assert (await w.get("/api/v1/secrets/system")).status_code == 403
            assert (
                await w.get("/api/v1/secrets/system/SYSTEM_KEY", params={"reveal": "true"})
            ).status_code == 403
            # Users' own secrets are theirs only.
            await w.put("/api/v1/secrets/user/MINE", json={"value": VALUE})
            assert (await w.get("/api/v1/secrets/user/MINE", params={"reveal": "true"})).json()[
                "value"
            ] == VALUE
            assert (await r.get("/api/v1/secrets/user/MINE")).status_code == 404
            assert (await api.get("/api/v1/secrets/user/MINE")).status_code == 404
            # Resolution walks only the tiers the caller may reveal.
            resolved = await w.post(
                "/api/v1/secrets/resolve", json={"names": ["SYSTEM_KEY"], "reveal": True}
            )
            assert resolved.status_code == 404
            assert VALUE not in resolved.text
        denied = await _audit(sessions, outcome="denied")
        assert {(d.actor, d.action) for d in denied} >= {
            ("reader", "read"),
            ("reader", "write"),
            ("writer", "list"),
            ("writer", "read"),
            ("writer", "resolve"),
        }

    async def test_a_read_only_token_cannot_reveal(self, app, api, sessions, admin):
        token = await _member(sessions, admin, "owner2", Role.OWNER, scopes=(Scope.READ,))
        await api.put(f"{P}/RO", json={"value": VALUE})
        async with api_client(app, token) as client:
            assert (await client.get(P)).status_code == 200
            assert (await client.get(f"{P}/RO", params={"reveal": "true"})).status_code == 403


class TestTampering:
    async def test_a_changed_or_moved_ciphertext_is_refused_and_audited(self, api, sessions):
        await api.put(f"{P}/ONE", json={"value": VALUE})
        await api.put(f"{P}/TWO", json={"value": secret_value("other-")})
        async with unit_of_work(sessions) as session:
            found = await session.execute(
                text(
                    "SELECT s.name, v.ciphertext FROM secrets_version v "
                    "JOIN secrets_secret s ON s.id = v.secret_id"
                )
            )
            rows = dict(found.all())
            # TWO gets ONE's ciphertext: a valid ciphertext in the wrong place.
            await session.execute(
                text(
                    "UPDATE secrets_version SET ciphertext = :c FROM secrets_secret s "
                    "WHERE s.id = secret_id AND s.name = 'TWO'"
                ),
                {"c": rows["ONE"]},
            )
            flipped = bytearray(rows["ONE"])
            flipped[-1] ^= 1
            await session.execute(
                text(
                    "UPDATE secrets_version SET ciphertext = :c FROM secrets_secret s "
                    "WHERE s.id = secret_id AND s.name = 'ONE'"
                ),
                {"c": bytes(flipped)},
            )
        for name in ("ONE", "TWO"):
            answer = await api.get(f"{P}/{name}", params={"reveal": "true"})
            assert answer.status_code == 422, answer.text
            assert "does not open" in answer.json()["error"]["message"]
            assert VALUE not in answer.text
        failed = await _audit(sessions, outcome="failed", action="read")
        assert {f.name for f in failed} == {"ONE", "TWO"}


class TestResolution:
    async def test_the_most_specific_tier_wins_with_provenance(self, api, sessions):
        from_system, from_user = secret_value("from-system-"), secret_value("from-user-")
        system_only, from_project = secret_value("system-only-"), secret_value("from-project-")
        await api.put("/api/v1/secrets/system/SHARED", json={"value": from_system})
        await api.put("/api/v1/secrets/user/SHARED", json={"value": from_user})
        await api.put("/api/v1/secrets/system/ONLY_SYSTEM", json={"value": system_only})
        resolved = await api.post(
            "/api/v1/secrets/resolve", json={"names": ["SHARED", "ONLY_SYSTEM"], "reveal": True}
        )
        by_name = {r["name"]: r for r in resolved.json()}
        assert (by_name["SHARED"]["tier"], by_name["SHARED"]["value"]) == ("user", from_user)
        await api.put(f"{P}/SHARED", json={"value": from_project})
        resolved = await api.post(
            "/api/v1/secrets/resolve", json={"names": ["SHARED"], "reveal": True}
        )
        assert resolved.json()[0]["tier"] == "project"
        assert resolved.json()[0]["provider"] == "store"
        assert resolved.json()[0]["version"] == 1
        quiet = await api.post("/api/v1/secrets/resolve", json={"names": ["SHARED"]})
        assert quiet.json()[0]["value"] is None
        everything = await api.post("/api/v1/secrets/resolve", json={"reveal": True})
        assert {r["name"]: r["value"] for r in everything.json()} == {
            "SHARED": from_project,
            "ONLY_SYSTEM": system_only,
        }

    async def test_dotenv_files_per_environment_and_project(self, api, app, home):
        folder = home / "secrets" / "env" / "projects"
        folder.mkdir(parents=True)
        generic, quoted, staging_value = (secret_value(v) for v in ("generic-", "quoted ", "st-"))
        (folder / "default.env").write_text(f"FROM_FILE={generic}\nOTHER='{quoted}'\n")
        (folder / "default.staging.env").write_text(f"FROM_FILE={staging_value}\n")
        dev = await api.post(
            "/api/v1/secrets/resolve", json={"names": ["FROM_FILE", "OTHER"], "reveal": True}
        )
        assert [(r["value"], r["provider"], r["tier"]) for r in dev.json()] == [
            (generic, "dotenv", "project"),
            (quoted, "dotenv", "project"),
        ]
        staging = await api.post(
            "/api/v1/secrets/resolve",
            json={"names": ["FROM_FILE"], "reveal": True, "environment": "staging"},
        )
        assert staging.json()[0]["value"] == staging_value
        assert "FROM_FILE" not in os.environ


class TestKeys:
    async def test_first_start_writes_a_private_key_file(self, api, home):
        await api.put(f"{P}/K", json={"value": VALUE})
        key_file = home / "secrets" / "keys"
        assert key_file.stat().st_mode & 0o777 == 0o600
        assert len(parse_keys(key_file.read_text(), source="test")) == 1

    async def test_a_wrong_or_missing_key_stops_the_start(self, db_url, sessions, tmp_path):
        first = load_settings(
            database_url=db_url, home=tmp_path / "a", secrets={"keys": f"k1:{KEY_A}"}
        )
        keys = SecretKeys(first, sessions)
        assert (await keys.ring()).active == "k1"
        async with unit_of_work(sessions) as session:
            ring = await keys.sealing_ring(session)
        wrong = load_settings(
            database_url=db_url, home=tmp_path / "a", secrets={"keys": f"k1:{KEY_B}"}
        )
        with pytest.raises(KeyringError, match="not the key that sealed"):
            await SecretKeys(wrong, sessions).ring()
        assert ring.active == "k1"

    async def test_rotation_reencrypts_everything_and_retires_the_old_key(
        self, db_url, home, sessions, admin_token, settings
    ):
        async with running_app(settings) as app, api_client(app, admin_token) as api:
            values = [secret_value(f"value-{i}-") for i in range(30)]
            for i, value in enumerate(values):
                await api.put(f"{P}/S{i}", json={"value": value})
            old = (await api.get("/api/v1/secrets/keys")).json()
            assert [(k["state"], k["sealed"]) for k in old] == [("active", 30)]
            rotated = await api.post("/api/v1/secrets/keys/rotate", json={})
            assert rotated.status_code == 202, rotated.text
            assert rotated.json()["remaining"] == 30
            # Values still open while they wait for the job.
            assert (await api.get(f"{P}/S3", params={"reveal": "true"})).json()["value"] == values[
                3
            ]
        await run_jobs(db_url, [blueprint], settings=settings)
        async with running_app(settings) as app, api_client(app, admin_token) as api:
            keys = {k["key_id"]: k for k in (await api.get("/api/v1/secrets/keys")).json()}
            assert keys[old[0]["key_id"]]["state"] == "retired"
            assert keys[rotated.json()["new"]]["sealed"] == 30
            assert (await api.get(f"{P}/S29", params={"reveal": "true"})).json()["value"] == values[
                29
            ]
            assert (await api.post("/api/v1/secrets/audit/verify")).json()["ok"] is True
        async with sessions() as session:
            assert (
                await session.scalar(
                    select(EncryptionKey.state).where(EncryptionKey.key_id == old[0]["key_id"])
                )
                == "retired"
            )

    async def test_keys_from_the_environment_rotate_to_a_given_key(
        self, db_url, tmp_path, sessions, admin_token
    ):
        settings = load_settings(
            database_url=db_url, home=tmp_path, secrets={"keys": f"k1:{KEY_A}"}
        )
        async with running_app(settings) as app, api_client(app, admin_token) as api:
            await api.put(f"{P}/E", json={"value": VALUE})
            refused = await api.post("/api/v1/secrets/keys/rotate", json={})
            assert refused.status_code == 422
            assert "DEVFLOW_SECRETS__KEYS" in refused.json()["error"]["message"]
            unknown = await api.post("/api/v1/secrets/keys/rotate", json={"to": "k2"})
            assert unknown.status_code == 422
        both = load_settings(
            database_url=db_url, home=tmp_path, secrets={"keys": f"k1:{KEY_A},k2:{KEY_B}"}
        )
        async with running_app(both) as app, api_client(app, admin_token) as api:
            done = await api.post("/api/v1/secrets/keys/rotate", json={"to": "k2"})
            assert done.json()["old"] == "k1"
            assert done.json()["new"] == "k2"
        await run_jobs(db_url, [blueprint], settings=both)
        only_new = load_settings(
            database_url=db_url, home=tmp_path, secrets={"keys": f"k2:{KEY_B}"}
        )
        async with running_app(only_new) as app, api_client(app, admin_token) as api:
            assert (await api.get(f"{P}/E", params={"reveal": "true"})).json()["value"] == VALUE
        async with unit_of_work(sessions) as session:
            await session.execute(
                update(EncryptionKey).where(EncryptionKey.key_id == "k1").values(state="retiring")
            )
            await session.execute(update(SecretVersion).values(key_id="k1"))
        with pytest.raises(KeyringError, match="seals 1 stored value"):
            await SecretKeys(only_new, sessions).ring()
