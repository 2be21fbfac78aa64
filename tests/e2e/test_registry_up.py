"""The registry inside `devflow up`: the CLI, blobs under $DEVFLOW_HOME and GC run by the worker."""

from __future__ import annotations

import base64
import json
import time

import httpx
import pytest

from tests.e2e.conftest import make_home, start_up
from tests.registry_fixtures import build_wheel


@pytest.fixture(scope="module")
def devflow():
    running = start_up(make_home(), extra_env={"DEVFLOW_REGISTRY__GC_GRACE_SECONDS": "0"})
    yield running
    running.stop()


def test_gc_job_removes_the_blobs_of_a_deleted_version(devflow, tmp_path):
    created = devflow.cli_process("registry", "create", "py", "--format", "pypi", "--json")
    assert created.returncode == 0, created.stderr
    wheel = build_wheel(tmp_path, "gone", "1.0")
    auth = {
        "Authorization": "Basic " + base64.b64encode(f"__token__:{devflow.token}".encode()).decode()
    }
    answer = httpx.post(
        f"{devflow.url}/pypi/py/legacy/",
        data={"name": "gone", "version": "1.0"},
        files={"content": (wheel.name, wheel.read_bytes())},
        headers=auth,
    )
    assert answer.status_code == 200, answer.text
    blobs = devflow.home / "blobs" / "sha256"
    assert len(list(blobs.rglob("*"))) > 0
    api = {"Authorization": f"Bearer {devflow.token}"}
    deleted = httpx.delete(
        f"{devflow.url}/api/v1/registry/repositories/py/packages/gone/versions/1.0", headers=api
    )
    assert deleted.status_code == 204
    run = devflow.cli("registry", "gc", "--json")
    assert run.returncode == 0, run.stderr
    job_id = json.loads(run.stdout)["job_id"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = httpx.get(f"{devflow.url}/api/v1/jobs/{job_id}", headers=api).json()
        if job["status"] in {"succeeded", "failed"}:
            break
        time.sleep(0.2)
    assert job["status"] == "succeeded", job
    assert "removed 2 blobs" in job["message"]
    assert [p for p in blobs.rglob("*") if p.is_file()] == []
