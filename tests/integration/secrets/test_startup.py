"""The server does not start with a wrong or missing secrets key: the message names the fix,
and nothing was sealed or opened with the wrong key."""

from __future__ import annotations

import base64

import pytest

from devflow.settings import load_settings
from tests.factories import api_client, running_app
from tests.secret_values import secret_value

KEY_A = base64.b64encode(b"a" * 32).decode()
KEY_B = base64.b64encode(b"b" * 32).decode()
VALUE = secret_value("startup-")


async def test_a_wrong_key_or_a_missing_one_stops_the_server(db_url, tmp_path, admin_token):
    good = load_settings(database_url=db_url, home=tmp_path, secrets={"keys": f"k1:{KEY_A}"})
    async with running_app(good) as app, api_client(app, admin_token) as api:
        made = await api.put("/api/v1/secrets/system/KEPT", json={"value": VALUE})
        assert made.status_code == 200
    wrong = load_settings(database_url=db_url, home=tmp_path, secrets={"keys": f"k1:{KEY_B}"})
    with pytest.raises(SystemExit, match="is not the key that sealed the stored values"):
        async with running_app(wrong):
            pass
    missing = load_settings(database_url=db_url, home=tmp_path, secrets={"keys": f"k2:{KEY_B}"})
    with pytest.raises(SystemExit, match=r"key 'k1' seals 1 stored value\(s\) but is not in"):
        async with running_app(missing):
            pass
    malformed = load_settings(database_url=db_url, home=tmp_path, secrets={"keys": "k1:c2hvcnQ="})
    with pytest.raises(SystemExit, match="is 5 bytes; AES-256 keys are 32"):
        async with running_app(malformed):
            pass
    async with running_app(good) as app, api_client(app, admin_token) as api:
        kept = await api.get("/api/v1/secrets/system/KEPT", params={"reveal": "true"})
        assert kept.json()["value"] == VALUE
