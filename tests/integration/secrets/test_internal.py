"""Values other domains keep for DevFlow itself (`devflow.secrets.internal`): sealed and
versioned like any secret, re-sealed by key rotation, never listed or resolved by name, kept and
forgotten on the record, read on the record only when asked."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from devflow.core.db import unit_of_work
from devflow.core.errors import Invalid
from devflow.secrets import forget_internal, keep_internal, read_internal
from devflow.secrets.jobs import blueprint
from devflow.secrets.models import AuditEntry, Secret, SecretVersion
from devflow.settings import load_settings
from tests.factories import api_client, open_test_services, run_jobs, running_app
from tests.secret_values import secret_value

OWNER = "tests.thing:42"
SCOPE = f"internal:{OWNER}"


@pytest.fixture
def settings(db_url, tmp_path: Path):
    return load_settings(database_url=db_url, home=tmp_path / "home")


async def _audit(sessions) -> list[tuple[str, str, str]]:
    async with sessions() as session:
        rows = await session.execute(
            select(AuditEntry.actor, AuditEntry.action, AuditEntry.reason)
            .where(AuditEntry.scope == SCOPE)
            .order_by(AuditEntry.seq)
        )
        return [tuple(row) for row in rows]


class TestInternal:
    async def test_kept_values_are_versioned_hidden_rotated_and_forgotten(
        self, db_url, settings, sessions, admin_token
    ):
        first, second = secret_value("internal-a-"), secret_value("internal-b-")
        async with open_test_services(db_url, settings) as services:
            for value in (first, second):
                async with unit_of_work(services.sessions) as session:
                    await keep_internal(
                        session, services, owner=OWNER, value=value, purpose="signing"
                    )
            async with services.sessions() as session:
                assert await read_internal(
                    session, services, owner=OWNER, purpose="signing"
                ) == second  # fmt: skip
                versions = list(
                    await session.scalars(
                        select(SecretVersion.ciphertext)
                        .join(Secret, Secret.id == SecretVersion.secret_id)
                        .where(Secret.scope == SCOPE)
                    )
                )
        assert len(versions) == 2
        assert all(first.encode() not in v and second.encode() not in v for v in versions if v)
        assert await _audit(sessions) == [
            ("devflow", "write", "created: signing"),
            ("devflow", "write", "new version: signing"),
        ]

        async with running_app(settings) as app, api_client(app, admin_token) as api:
            for params in ({}, {"environment": "internal"}):
                assert (await api.get("/api/v1/secrets/system", params=params)).json() == []
            named = await api.post(
                "/api/v1/secrets/resolve", json={"names": ["value"], "environment": "internal"}
            )
            assert named.status_code == 404
            rotated = await api.post("/api/v1/secrets/keys/rotate", json={})
            assert rotated.status_code == 202, rotated.text
            assert rotated.json()["remaining"] == 2
        await run_jobs(db_url, [blueprint], settings=settings)

        async with open_test_services(db_url, settings) as services:
            async with services.sessions() as session:
                keys = set(
                    await session.scalars(
                        select(SecretVersion.key_id)
                        .join(Secret, Secret.id == SecretVersion.secret_id)
                        .where(Secret.scope == SCOPE)
                    )
                )
                assert keys == {rotated.json()["new"]}
                assert await read_internal(
                    session, services, owner=OWNER, purpose="a check", audited=True
                ) == second  # fmt: skip
            async with unit_of_work(services.sessions) as session:
                await forget_internal(session, owner=OWNER, purpose="owner gone")
            async with services.sessions() as session:
                assert await read_internal(session, services, owner=OWNER, purpose="x") is None
        assert (await _audit(sessions))[-2:] == [
            ("devflow", "read", "a check"),
            ("devflow", "delete", "owner gone"),
        ]

    @pytest.mark.parametrize("owner", ["", "nodomain", "Bad:1", "a:b\n", "x:" + "1" * 60])
    async def test_an_owner_is_a_domain_and_an_id(self, db_url, settings, owner):
        async with (
            open_test_services(db_url, settings) as services,
            services.sessions() as session,
        ):
            with pytest.raises(Invalid, match="<domain>:<id>"):
                await keep_internal(session, services, owner=owner, value="v", purpose="p")
