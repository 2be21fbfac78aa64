"""The registry with the S3 blob store (moto's server over HTTP) behind the real clients."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time

import boto3
import httpx
import pytest

from devflow.core.embedded_pg import free_port
from tests.registry_fixtures import (
    build_wheel,
    index_url,
    run_client,
    running_server,
    twine_upload,
)

BUCKET = "devflow-packages"
CORE_BUCKET = "devflow-blobs"


@pytest.fixture(scope="module")
def s3_url():
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait(timeout=10)


def s3(url: str | None = None):
    return boto3.client(
        "s3",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


@pytest.fixture(scope="module")
def server(pg_server, template_url, tmp_path_factory, s3_url):
    del template_url
    s3(s3_url).create_bucket(Bucket=BUCKET)
    # The registry's former names of the blob store's settings (DEVFLOW_REGISTRY__BLOB_BACKEND
    # …), which keep working; `test_the_blobs_section_chooses_the_bucket` uses the new ones.
    settings = {
        "blob_backend": "s3",
        "s3_bucket": BUCKET,
        "s3_prefix": "registry/",
        "s3_endpoint_url": s3_url,
        "s3_access_key_id": "test",
        "s3_secret_access_key": "test",
    }
    with running_server(pg_server, tmp_path_factory.mktemp("home"), **settings) as running:
        running.create_repo("py", "pypi")
        yield running


def test_twine_uploads_into_the_bucket_and_pip_installs_from_it(server, s3_url, tmp_path):
    wheel = build_wheel(tmp_path, "clouded", "1.0")
    upload = twine_upload(f"{server.url}/pypi/py/legacy/", server.token, tmp_path, wheel)
    assert upload.returncode == 0, upload.stdout + upload.stderr
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    key = f"registry/sha256/{digest[:2]}/{digest[2:4]}/{digest}"
    stored = s3(s3_url).get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert stored == wheel.read_bytes()
    assert not (server.home / "blobs").exists()  # nothing went to the local disk
    target = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "install", "--no-cache-dir", "--target", str(target)]
    run_client([*pip, "--index-url", index_url(server), "clouded"], tmp_path)
    assert (target / "clouded" / "__init__.py").exists()
    ranged = httpx.get(
        f"{server.url}/pypi/py/files/{wheel.name}",
        headers={"Authorization": f"Bearer {server.token}", "Range": "bytes=0-3"},
    )
    assert ranged.status_code == 206
    assert ranged.content == wheel.read_bytes()[:4]


def test_the_blobs_section_chooses_the_bucket(pg_server, template_url, s3_url, tmp_path):
    del template_url
    s3(s3_url).create_bucket(Bucket=CORE_BUCKET)
    blobs = {
        "backend": "s3",
        "s3_bucket": CORE_BUCKET,
        "s3_prefix": "core/",
        "s3_endpoint_url": s3_url,
        "s3_access_key_id": "test",
        "s3_secret_access_key": "test",
    }
    with running_server(pg_server, tmp_path / "home", settings={"blobs": blobs}) as running:
        running.create_repo("py", "pypi")
        wheel = build_wheel(tmp_path, "bucketed", "1.0")
        upload = twine_upload(f"{running.url}/pypi/py/legacy/", running.token, tmp_path, wheel)
        assert upload.returncode == 0, upload.stdout + upload.stderr
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    key = f"core/sha256/{digest[:2]}/{digest[2:4]}/{digest}"
    assert s3(s3_url).get_object(Bucket=CORE_BUCKET, Key=key)["Body"].read() == wheel.read_bytes()
    assert not (tmp_path / "home" / "blobs").exists()
