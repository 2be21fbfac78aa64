"""Every order of the four providers, and the audit rule: no record, no value."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from sqlalchemy import text

from devflow.core.db import unit_of_work
from devflow.secrets import SECRETS
from devflow.secrets.onepassword.fake import FakeConnect
from devflow.secrets.settings import SecretsSettings
from devflow.settings import load_settings
from tests.factories import api_client, running_app
from tests.secret_values import secret_value

ALL = ("onepassword", "dotenv", "environment", "store")


@pytest.mark.parametrize("stored", ["reference", "value"])
async def test_every_order_of_the_providers(db_url, tmp_path: Path, admin_token, sessions, stored):
    """A name held by three providers of one tier (a tier's stored secret is either a 1Password
    reference or a sealed value): for each of the 24 orders, the first present one answers."""
    (tmp_path / "secrets" / "env").mkdir(parents=True)
    (tmp_path / "secrets" / "env" / "system.env").write_text("ORDERED=from-dotenv\n")
    with FakeConnect() as connect:
        connect.add_item("Ops", "Ordered", fields={"value": "from-onepassword"})
        op = connect.settings(cache_ttl_seconds=0).model_dump()
        op["connect_token"] = connect.token
        settings = load_settings(database_url=db_url, home=tmp_path, secrets={"onepassword": op})
        async with running_app(settings) as app, api_client(app, admin_token) as api:
            body = (
                {"reference": "op://Ops/Ordered/value"}
                if stored == "reference"
                else {"value": "from-store"}
            )
            assert (await api.put("/api/v1/secrets/system/ORDERED", json=body)).status_code == 200
            resolver = app.state.services.get(SECRETS)
            resolver.environ = {"DEVFLOW_SECRET_ORDERED": "from-environment"}
            present = {"dotenv", "environment", "onepassword" if stored == "reference" else "store"}
            base = resolver.settings
            for order in itertools.permutations(ALL):
                conf = base.section(SecretsSettings).model_copy(update={"providers": list(order)})
                resolver.settings = base.model_copy(update={"secrets": conf})
                async with sessions() as session:
                    found = await resolver.resolve_many(
                        session, principal=None, names=["ORDERED"], project=None, user=None,
                        environment="development",
                    )  # fmt: skip
                winner = next(p for p in order if p in present)
                assert (found[0].provider, found[0].value) == (winner, f"from-{winner}"), order


async def test_no_audit_record_no_value(db_url, tmp_path: Path, admin_token, sessions):
    value = secret_value("audited-")
    settings = load_settings(database_url=db_url, home=tmp_path)
    lenient = load_settings(database_url=db_url, home=tmp_path, secrets={"audit_required": False})
    async with running_app(settings) as app, api_client(app, admin_token) as api:
        await api.put("/api/v1/projects/default/secrets/GUARDED", json={"value": value})
        async with unit_of_work(sessions) as session:  # the audit log cannot take a row
            await session.execute(
                text(
                    "CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$ "
                    "BEGIN RAISE EXCEPTION 'audit storage unavailable'; END $$; "
                    "CREATE TRIGGER refuse_audit BEFORE INSERT ON secrets_audit "
                    "FOR EACH ROW EXECUTE FUNCTION refuse_audit()"
                )
            )
        withheld = await api.get(
            "/api/v1/projects/default/secrets/GUARDED", params={"reveal": "true"}
        )
        assert withheld.status_code == 409
        assert "could not be audited" in withheld.json()["error"]["message"]
        assert value not in withheld.text
    async with running_app(lenient) as app, api_client(app, admin_token) as api:
        given = await api.get("/api/v1/projects/default/secrets/GUARDED", params={"reveal": "true"})
        assert given.json()["value"] == value


async def test_provenance_alone_asks_1password_nothing_and_audits_no_read(
    db_url, tmp_path: Path, admin_token, sessions
):
    with FakeConnect() as connect:
        connect.add_item("Ops", "Quiet", fields={"value": secret_value("quiet-")})
        op = connect.settings(cache_ttl_seconds=0).model_dump()
        op["connect_token"] = connect.token
        settings = load_settings(database_url=db_url, home=tmp_path, secrets={"onepassword": op})
        async with running_app(settings) as app, api_client(app, admin_token) as api:
            await api.put(
                "/api/v1/projects/default/secrets/QUIET", json={"reference": "op://Ops/Quiet/value"}
            )
            await api.put("/api/v1/projects/default/secrets/SEALED", json={"value": "x" * 8})
            asked = len(connect.requests)
            shown = await api.post("/api/v1/secrets/resolve", json={})
            assert shown.status_code == 200, shown.text
            assert {(r["name"], r["provider"], r["value"]) for r in shown.json()} == {
                ("QUIET", "onepassword", None),
                ("SEALED", "store", None),
            }
            assert len(connect.requests) == asked
    async with sessions() as session:
        reads = await session.scalar(
            text("SELECT count(*) FROM secrets_audit WHERE action IN ('read', 'resolve')")
        )
    assert reads == 0


async def test_a_job_environment_fetches_each_1password_item_once(
    db_url, tmp_path: Path, admin_token, sessions
):
    fields = {f"f{i}": secret_value(f"batched-{i}-") for i in range(5)}
    with FakeConnect() as connect:
        connect.add_item("Ops", "Deploy", fields=fields)
        op = connect.settings(cache_ttl_seconds=300).model_dump()
        op["connect_token"] = connect.token
        settings = load_settings(database_url=db_url, home=tmp_path, secrets={"onepassword": op})
        async with running_app(settings) as app, api_client(app, admin_token) as api:
            for i in range(5):
                await api.put(
                    f"/api/v1/projects/default/secrets/DEPLOY_{i}",
                    json={"reference": f"op://Ops/Deploy/f{i}"},
                )
            resolved = await api.post("/api/v1/secrets/resolve", json={"reveal": True})
            assert {r["name"]: r["value"] for r in resolved.json()} == {
                f"DEPLOY_{i}": fields[f"f{i}"] for i in range(5)
            }
            assert connect.count("item") == 1  # five fields of one item: one fetch
