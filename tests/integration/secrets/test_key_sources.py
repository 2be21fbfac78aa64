"""Keys from 1Password, the key-encryption key's own rotation, and the audit chain checked
through the API after a row was changed behind DevFlow's back."""

from __future__ import annotations

import base64
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, text, update

from devflow.core import clock
from devflow.core.db import unit_of_work
from devflow.core.events import Event
from devflow.secrets import SECRETS, rotation
from devflow.secrets.models import EncryptionKey
from devflow.secrets.onepassword.fake import FakeConnect
from devflow.settings import load_settings
from tests.factories import api_client, running_app
from tests.secret_values import secret_value

KEY = base64.b64encode(b"k" * 32).decode()


async def test_keys_can_live_in_1password_only(db_url, tmp_path: Path, admin_token):
    value = secret_value("op-keyed-")
    with FakeConnect() as connect:
        connect.add_item("Ops", "DevFlow keys", fields={"keys": f"op1:{KEY}"})
        op = connect.settings().model_dump()
        op["connect_token"] = connect.token
        settings = load_settings(
            database_url=db_url,
            home=tmp_path,
            secrets={"key_reference": "op://Ops/DevFlow keys/keys", "onepassword": op},
        )
        async with running_app(settings) as app, api_client(app, admin_token) as api:
            await api.put("/api/v1/secrets/system/SEALED", json={"value": value})
            keys = (await api.get("/api/v1/secrets/keys")).json()
            assert [(k["key_id"], k["state"]) for k in keys] == [("op1", "active")]
            opened = await api.get("/api/v1/secrets/system/SEALED", params={"reveal": "true"})
            assert opened.json()["value"] == value
    assert not (tmp_path / "secrets" / "keys").exists()  # no key file was made


async def test_the_key_encryption_key_rotates_itself_or_reminds(db_url, tmp_path, sessions):
    own = load_settings(database_url=db_url, home=tmp_path, secrets={"key_rotation_days": 30})
    async with running_app(own) as app:
        resolver = app.state.services.get(SECRETS)
        first = (await resolver.keys.ring()).active
        async with unit_of_work(sessions) as session:
            assert await rotation.tick_keys(session, resolver.context(), resolver.conf) is None
            await session.execute(
                update(EncryptionKey).values(activated_at=clock.now() - timedelta(days=31))
            )
        async with unit_of_work(sessions) as session:
            new = await rotation.tick_keys(session, resolver.context(), resolver.conf)
        assert new is not None
        assert new != first
        async with sessions() as session:
            states = dict(
                (await session.execute(select(EncryptionKey.key_id, EncryptionKey.state))).all()
            )
            queued = await session.scalar(
                text(
                    "SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'secrets.reencrypt'"
                )
            )
        assert states == {first: "retiring", new: "active"}
        assert queued == 1
    keys = f"{new}:{_key_of(tmp_path, new)},{first}:{_key_of(tmp_path, first)}"
    given = load_settings(
        database_url=db_url,
        home=tmp_path / "other",
        secrets={"key_rotation_days": 30, "keys": keys},
    )
    async with running_app(given) as app:
        resolver = app.state.services.get(SECRETS)
        async with unit_of_work(sessions) as session:
            await session.execute(
                update(EncryptionKey)
                .where(EncryptionKey.state == "active")
                .values(activated_at=clock.now() - timedelta(days=31))
            )
        for _ in range(2):
            async with unit_of_work(sessions) as session:
                assert await rotation.tick_keys(session, resolver.context(), resolver.conf) is None
        async with sessions() as session:
            due = list(
                await session.scalars(select(Event).where(Event.type == "secret.key.rotation_due"))
            )
        assert len(due) == 1  # one reminder a day
        assert due[0].payload["source"] == "DEVFLOW_SECRETS__KEYS"


def _key_of(home: Path, key_id: str) -> str:
    for line in (home / "secrets" / "keys").read_text().splitlines():
        if line.startswith(f"{key_id}:"):
            return line.split(":", 1)[1]
    raise AssertionError(key_id)


async def test_a_changed_audit_row_is_found_through_the_api(
    db_url, tmp_path, admin_token, sessions
):
    settings = load_settings(database_url=db_url, home=tmp_path)
    async with running_app(settings) as app, api_client(app, admin_token) as api:
        for i in range(3):
            await api.put(f"/api/v1/secrets/system/CHAINED_{i}", json={"value": secret_value()})
        assert (await api.post("/api/v1/secrets/audit/verify")).json()["ok"] is True
        async with unit_of_work(sessions) as session:  # what a superuser could do by hand
            await session.execute(
                text("ALTER TABLE secrets_audit DISABLE TRIGGER secrets_audit_append_only")
            )
            seq = await session.scalar(
                text("SELECT seq FROM secrets_audit WHERE name = 'CHAINED_1'")
            )
            await session.execute(
                text("UPDATE secrets_audit SET actor = 'someone-else' WHERE seq = :s"), {"s": seq}
            )
            await session.execute(
                text("ALTER TABLE secrets_audit ENABLE TRIGGER secrets_audit_append_only")
            )
        report = (await api.post("/api/v1/secrets/audit/verify")).json()
        assert report["ok"] is False
        assert report["broken_at"] == seq
        assert "was changed" in report["problem"]
