"""Rotation policies carried out by the periodic tick, 1Password references resolved through
the cascade (Connect fake, last-known-good during an outage), and the environment handed to jobs
with its masker — on a real PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from devflow.core import clock
from devflow.core.auth import Role, Scope
from devflow.core.db import unit_of_work
from devflow.core.errors import Unauthenticated
from devflow.core.events import Event
from devflow.identity import service as identity
from devflow.secrets import SECRETS, rotation
from devflow.secrets.models import AuditEntry, RotationPolicy
from devflow.secrets.onepassword.fake import FakeConnect
from devflow.secrets.scopes import of_project
from devflow.settings import load_settings
from tests.factories import api_client, make_user, running_app

P = "/api/v1/projects/default/secrets"


@pytest.fixture
async def app(db_url, tmp_path: Path) -> AsyncIterator[FastAPI]:
    async with running_app(load_settings(database_url=db_url, home=tmp_path)) as application:
        yield application


async def _tick(app: FastAPI, sessions) -> dict[str, int]:
    resolver = app.state.services.get(SECRETS)
    async with unit_of_work(sessions) as session:
        return await rotation.tick(session, resolver.context())


async def _events(sessions, prefix: str) -> list[Event]:
    async with sessions() as session:
        return list(
            await session.scalars(
                select(Event).where(Event.type.startswith(prefix)).order_by(Event.id)
            )
        )


class TestTokenRotation:
    async def test_a_token_is_issued_verified_and_the_old_one_revoked(self, app, api, sessions):
        async with unit_of_work(sessions) as session:
            _, token = await make_user(session, "robot", scopes=(Scope.READ,))
        await api.put(f"{P}/ROBOT_TOKEN", json={"value": token})
        policy = await api.put(
            f"{P}/ROBOT_TOKEN/rotation",
            json={"rotator": "devflow-token", "interval_seconds": 86400, "overlap_seconds": 0},
        )
        assert policy.status_code == 200, policy.text
        assert policy.json()["state"] == "idle"
        rotated = await api.post(f"{P}/ROBOT_TOKEN/rotate")
        assert rotated.json()["state"] == "verified", rotated.text
        new = (await api.get(f"{P}/ROBOT_TOKEN", params={"reveal": "true"})).json()
        assert new["version"] == 2
        assert new["value"] != token
        async with app.state.services.sessions() as session:
            owner = await identity.authenticate(session, token=new["value"])
            assert owner.username == "robot"
            assert owner.scopes == frozenset({"read"})  # no stronger than the old one
            await identity.authenticate(session, token=token)  # still valid in the overlap
        assert (await _tick(app, sessions))["revoked"] == 1
        async with app.state.services.sessions() as session:
            with pytest.raises(Unauthenticated):
                await identity.authenticate(session, token=token)
        kinds = [e.type for e in await _events(sessions, "secret.rotation.")]
        assert kinds == [
            "secret.rotation.issued",
            "secret.rotation.verified",
            "secret.rotation.revoked",
        ]
        assert all(token not in str(e.payload) for e in await _events(sessions, "secret."))
        again = (await api.get(f"{P}/ROBOT_TOKEN/rotation")).json()
        assert again["state"] == "idle"
        assert again["last_rotated_at"] is not None

    async def test_due_rotations_run_in_the_tick(self, app, api, sessions):
        async with unit_of_work(sessions) as session:
            _, token = await make_user(session, "bot2")
        await api.put(f"{P}/BOT", json={"value": token})
        await api.put(
            f"{P}/BOT/rotation",
            json={"rotator": "devflow-token", "interval_seconds": 3600, "overlap_seconds": 600},
        )
        assert (await _tick(app, sessions))["issued"] == 0  # not due yet
        async with unit_of_work(sessions) as session:
            await session.execute(
                update(RotationPolicy).values(next_due_at=clock.now() - timedelta(seconds=1))
            )
        assert (await _tick(app, sessions))["issued"] == 1
        shown = (await api.get(f"{P}/BOT/rotation")).json()
        assert shown["state"] == "verified"
        assert shown["revoke_after"] is not None
        assert (await _tick(app, sessions))["revoked"] == 0  # inside the overlap

    async def test_only_the_owner_or_an_admin_may_have_a_token_rotated(self, app, api, sessions):
        async with unit_of_work(sessions) as session:
            admin = await identity.authenticate(
                session, token=api.headers["Authorization"].split()[1]
            )
            _, writer = await make_user(session, "writer")
            await identity.set_membership(
                session,
                principal=admin,
                project_name="default",
                username="writer",
                role=Role.WRITE,
            )
        await api.put(f"{P}/ADMIN_TOKEN", json={"value": api.headers["Authorization"].split()[1]})
        async with api_client(app, writer) as client:
            refused = await client.put(
                f"{P}/ADMIN_TOKEN/rotation",
                json={"rotator": "devflow-token", "interval_seconds": 3600},
            )
        assert refused.status_code == 403
        assert "only they or an instance admin" in refused.json()["error"]["message"]

    async def test_a_token_rotator_needs_a_token(self, api):
        await api.put(f"{P}/NOT_A_TOKEN", json={"value": "just-a-password"})
        answer = await api.put(
            f"{P}/NOT_A_TOKEN/rotation",
            json={"rotator": "devflow-token", "interval_seconds": 3600},
        )
        assert answer.status_code == 422
        assert "manual rotator" in answer.json()["error"]["message"]
        assert "just-a-password" not in answer.text


class TestManualRotation:
    async def test_a_due_secret_gets_one_reminder_a_day_until_set(self, app, api, sessions):
        await api.put(f"{P}/VENDOR_KEY", json={"value": "vendor-key-1"})
        await api.put(
            f"{P}/VENDOR_KEY/rotation", json={"rotator": "manual", "interval_seconds": 60}
        )
        async with unit_of_work(sessions) as session:
            await session.execute(
                update(RotationPolicy).values(next_due_at=clock.now() - timedelta(seconds=1))
            )
        assert (await _tick(app, sessions))["reminded"] == 1
        assert (await _tick(app, sessions))["reminded"] == 0
        reminders = await _events(sessions, "secret.rotation.reminder")
        assert [e.payload["name"] for e in reminders] == ["VENDOR_KEY"]
        manual = await api.post(f"{P}/VENDOR_KEY/rotate")
        assert manual.status_code == 422
        await api.put(f"{P}/VENDOR_KEY", json={"value": "vendor-key-2"})
        shown = (await api.get(f"{P}/VENDOR_KEY/rotation")).json()
        assert shown["reminded_at"] is None
        assert shown["next_due_at"] > clock.now().isoformat()


class TestOnePasswordThroughTheCascade:
    async def test_a_stored_reference_resolves_and_survives_an_outage(
        self, db_url, tmp_path, admin_token, sessions
    ):
        with FakeConnect() as connect:
            connect.add_item("Dev", "OpenAI", fields={"credential": "sk-from-1password"})
            op = connect.settings(last_known_good=True, cache_ttl_seconds=0).model_dump()
            op["connect_token"] = connect.token
            settings = load_settings(
                database_url=db_url, home=tmp_path, secrets={"onepassword": op}
            )
            async with running_app(settings) as app, api_client(app, admin_token) as api:
                await api.put(f"{P}/OPENAI_KEY", json={"reference": "op://Dev/OpenAI/credential"})
                first = await api.post(
                    "/api/v1/secrets/resolve", json={"names": ["OPENAI_KEY"], "reveal": True}
                )
                assert first.json()[0]["value"] == "sk-from-1password"
                assert first.json()[0]["provider"] == "onepassword"
                assert first.json()[0]["reference"] == "op://Dev/OpenAI/credential"
                assert first.json()[0]["stale"] is False
                connect.go_down()
                stale = await api.post(
                    "/api/v1/secrets/resolve", json={"names": ["OPENAI_KEY"], "reveal": True}
                )
                assert stale.json()[0]["value"] == "sk-from-1password"
                assert stale.json()[0]["stale"] is True
                await api.put(f"{P}/MISSING", json={"reference": "op://Dev/Nothing/here"})
                connect.come_back()
                missing = await api.post(
                    "/api/v1/secrets/resolve", json={"names": ["MISSING"], "reveal": True}
                )
                assert missing.status_code == 422
                assert "op://Dev/Nothing/here" in missing.json()["error"]["message"]
        async with sessions() as session:
            reads = list(
                await session.scalars(
                    select(AuditEntry).where(
                        AuditEntry.name == "OPENAI_KEY", AuditEntry.action == "read"
                    )
                )
            )
        assert [r.provider for r in reads] == ["onepassword", "onepassword"]
        assert "stale" in reads[1].reason


async def test_the_environment_of_a_job_and_its_masker(app, api, sessions):
    await api.put("/api/v1/secrets/system/SHARED_URL", json={"value": "https://system.example"})
    await api.put(f"{P}/DEPLOY_TOKEN", json={"value": "deploy-token-value"})
    resolver = app.state.services.get(SECRETS)
    async with sessions() as session:
        admin = await identity.authenticate(session, token=api.headers["Authorization"].split()[1])
        project = await of_project(session, admin, "default")
        values, masker = await resolver.environment_for(
            session, principal=None, project=project, user=None, environment="development"
        )
    assert values == {"DEPLOY_TOKEN": "deploy-token-value", "SHARED_URL": "https://system.example"}
    assert masker.mask("pushing with deploy-token-value to https://system.example") == (
        "pushing with *** to ***"
    )
