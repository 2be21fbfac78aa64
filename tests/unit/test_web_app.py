"""How the app factory configures FastAPI."""

import pytest

from devflow.settings import load_settings
from devflow.web import create_app

URL = "postgresql+psycopg://u:p@127.0.0.1:1/db"


@pytest.mark.parametrize("on", [False, True])
def test_fastapis_telemetry_runs_only_when_an_operator_asks(on, monkeypatch):
    if on:
        monkeypatch.setenv("DEVFLOW_SERVER__TELEMETRY", "true")
    app = create_app(load_settings(database_url=URL))
    kinds = ("tracing", "metrics", "logs", "operation_spans")
    assert [app._telemetry[k] for k in kinds] == [on] * 4
