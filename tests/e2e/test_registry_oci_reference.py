"""The same OCI scenarios against DevFlow and against Debian's `docker-registry` (distribution, the
CNCF reference registry): status codes, error codes and the headers clients rely on must agree.

Skipped when `docker-registry` is not installed (`make install-test` installs it). The reference
runs without auth, DevFlow with a registry token; distribution 2.8 has no referrers API, so
referrers are covered by the DevFlow-only tests.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import pytest

from devflow.core.embedded_pg import free_port
from tests.e2e.test_registry_oci import OCI_MANIFEST, client, image_manifest, sha
from tests.registry_fixtures import running_server

NAME = "default/compare"


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Iterator[httpx.Client]:
    binary = shutil.which("docker-registry")
    if binary is None:
        pytest.skip("docker-registry (Debian package) is not installed: no reference to compare")
    work = tmp_path_factory.mktemp("reference")
    port = free_port()
    config = work / "config.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
        f"storage:\n  filesystem:\n    rootdirectory: {work / 'data'}\n"
        "  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    with (work / "log").open("wb") as log:
        proc = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=log)
        try:
            url = f"http://127.0.0.1:{port}"
            _wait(url, proc)
            with httpx.Client(base_url=url, timeout=60) as api:
                yield api
        finally:
            # distribution drains connections on a signal and may linger: kill it if it does.
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait(url: str, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        if proc.poll() is not None:
            pytest.fail(f"docker-registry exited with {proc.returncode}")
        try:
            httpx.get(f"{url}/v2/", timeout=2)
        except httpx.TransportError:
            time.sleep(0.1)
        else:
            return
    pytest.fail("docker-registry did not answer")


@pytest.fixture(scope="module")
def devflow(pg_server, template_url, tmp_path_factory) -> Iterator[httpx.Client]:
    del template_url
    with (
        running_server(pg_server, tmp_path_factory.mktemp("home")) as server,
        client(server) as api,
    ):
        yield api


def push(api: httpx.Client, data: bytes, name: str = NAME) -> None:
    # POST then PUT: distribution 2.8 answers a single monolithic POST with 202 (the spec lets a
    # registry choose; DevFlow stores it at once with 201).
    start = api.post(f"/v2/{name}/blobs/uploads/")
    assert start.status_code == 202, start.text
    done = api.put(at(start.headers["location"], sha(data)), content=data)
    assert done.status_code == 201, done.text


def at(location: str, digest: str) -> str:
    """`location` with `digest=` added (httpx's params= would drop the reference's `_state`)."""
    return location + ("&" if "?" in location else "?") + urlencode({"digest": digest})


def outcome(answer: httpx.Response, *headers: str) -> dict[str, Any]:
    """What must agree: the status, the spec error code and the named headers."""
    found: dict[str, Any] = {"status": answer.status_code}
    if answer.status_code >= 400 and answer.request.method != "HEAD":
        found["code"] = answer.json()["errors"][0]["code"]
    for header in headers:
        value = answer.headers.get(header)
        if header == "location" and value is not None:
            value = urlsplit(value).path  # absolute (reference) or relative (DevFlow): both valid
        found[header] = value
    return found


def unknown_blob(api: httpx.Client) -> list[dict[str, Any]]:
    missing = sha(b"never pushed")
    return [
        outcome(api.get(f"/v2/{NAME}/blobs/{missing}")),
        outcome(api.head(f"/v2/{NAME}/blobs/{missing}")),
    ]


def unknown_manifest(api: httpx.Client) -> list[dict[str, Any]]:
    return [
        outcome(api.get(f"/v2/{NAME}/manifests/no-such-tag")),
        outcome(api.get(f"/v2/{NAME}/manifests/{sha(b'no such manifest')}")),
        outcome(api.head(f"/v2/{NAME}/manifests/no-such-tag")),
    ]


def digest_mismatch(api: httpx.Client) -> list[dict[str, Any]]:
    start = api.post(f"/v2/{NAME}/blobs/uploads/")
    wrong = api.put(at(start.headers["location"], sha(b"x")), content=b"y")
    start = api.post(f"/v2/{NAME}/blobs/uploads/")
    algorithm = api.put(at(start.headers["location"], "sha512:" + "0" * 128))
    return [outcome(wrong), outcome(algorithm)]


def chunked_upload(api: httpx.Client) -> list[dict[str, Any]]:
    data = b"abcdefghij" * 10
    start = api.post(f"/v2/{NAME}/blobs/uploads/")
    location = start.headers["location"]
    first = api.patch(
        location,
        content=data[:40],
        headers={"Content-Range": "0-39", "Content-Type": "application/octet-stream"},
    )
    location = first.headers["location"]
    status = api.get(location)
    # No out-of-order chunk here: distribution 2.8 ignores Content-Range and appends it (the spec
    # and DevFlow answer 416; tests/e2e/test_registry_oci.py covers that).
    second = api.patch(
        location,
        content=data[40:],
        headers={"Content-Range": "40-99", "Content-Type": "application/octet-stream"},
    )
    done = api.put(at(second.headers["location"], sha(data)))
    return [
        outcome(start, "range"),
        outcome(first, "range"),
        outcome(status, "range"),
        outcome(second, "range"),
        outcome(done, "location", "docker-content-digest"),
        outcome(api.get(f"/v2/{NAME}/blobs/{sha(data)}"), "docker-content-digest"),
        {"body": api.get(f"/v2/{NAME}/blobs/{sha(data)}").content == data},
    ]


def unknown_upload(api: httpx.Client) -> list[dict[str, Any]]:
    # Status only: distribution says BLOB_UPLOAD_INVALID (its upload state token is missing),
    # the spec and DevFlow BLOB_UPLOAD_UNKNOWN.
    location = f"/v2/{NAME}/blobs/uploads/{uuid.uuid4()}"
    return [
        {"status": api.get(location).status_code},
        {"status": api.patch(location, content=b"x").status_code},
        {"status": api.put(at(location, sha(b"x")), content=b"x").status_code},
    ]


def range_read(api: httpx.Client) -> list[dict[str, Any]]:
    data = bytes(range(200))
    push(api, data)
    part = api.get(f"/v2/{NAME}/blobs/{sha(data)}", headers={"Range": "bytes=10-19"})
    return [outcome(part, "content-range", "content-length"), {"body": part.content == data[10:20]}]


def manifests(api: httpx.Client) -> list[dict[str, Any]]:
    config, layer = b'{"os":"linux"}', b"a layer"
    push(api, config)
    push(api, layer)
    body = image_manifest(config, [layer])
    headers = {"Content-Type": OCI_MANIFEST}
    put = api.put(f"/v2/{NAME}/manifests/v1", content=body, headers=headers)
    head = api.head(f"/v2/{NAME}/manifests/v1", headers={"Accept": OCI_MANIFEST})
    by_digest = api.get(f"/v2/{NAME}/manifests/{sha(body)}", headers={"Accept": OCI_MANIFEST})
    invalid = api.put(f"/v2/{NAME}/manifests/bad", content=b"{not json", headers=headers)
    missing = image_manifest(config, [b"never pushed layer"])
    unknown = api.put(f"/v2/{NAME}/manifests/missing", content=missing, headers=headers)
    return [
        outcome(put, "location", "docker-content-digest"),
        outcome(head, "docker-content-digest", "content-length", "content-type"),
        outcome(by_digest, "docker-content-digest", "content-type"),
        {"byte-exact": by_digest.content == body},
        outcome(invalid),
        outcome(unknown),
    ]


def tag_pagination(api: httpx.Client) -> list[dict[str, Any]]:
    name = f"{NAME}-tags"
    config = b'{"tags":true}'
    push(api, config, name)
    body = image_manifest(config, [])
    for tag in ("c", "a", "e", "b", "d"):
        put = api.put(
            f"/v2/{name}/manifests/{tag}", content=body, headers={"Content-Type": OCI_MANIFEST}
        )
        assert put.status_code == 201, put.text
    # Distribution 2.8 ignores `n` and `last` and does not sort: only the tag set compares.
    # DevFlow's pagination and Link are covered by tests/e2e/test_registry_oci.py.
    listed = api.get(f"/v2/{name}/tags/list")
    return [outcome(listed), {"tags": sorted(listed.json()["tags"])}]


def deletes(api: httpx.Client) -> list[dict[str, Any]]:
    name = f"{NAME}-delete"
    config = b'{"delete":true}'
    push(api, config, name)
    body = image_manifest(config, [])
    api.put(f"/v2/{name}/manifests/v1", content=body, headers={"Content-Type": OCI_MANIFEST})
    gone = api.delete(f"/v2/{name}/manifests/{sha(body)}")
    return [
        outcome(gone),
        outcome(api.get(f"/v2/{name}/manifests/{sha(body)}")),
        outcome(api.get(f"/v2/{name}/manifests/v1")),
        outcome(api.delete(f"/v2/{name}/manifests/{sha(body)}")),
    ]


def mount_from_nowhere(api: httpx.Client) -> list[dict[str, Any]]:
    answer = api.post(
        f"/v2/{NAME}/blobs/uploads/",
        params={"mount": sha(b"not anywhere"), "from": "default/nowhere"},
    )
    return [outcome(answer, "range")]


SCENARIOS: list[Callable[[httpx.Client], list[dict[str, Any]]]] = [
    unknown_blob,
    unknown_manifest,
    digest_mismatch,
    chunked_upload,
    unknown_upload,
    range_read,
    manifests,
    tag_pagination,
    deletes,
    mount_from_nowhere,
]


@pytest.fixture(scope="module")
def seeded(reference: httpx.Client, devflow: httpx.Client) -> tuple[httpx.Client, httpx.Client]:
    for api in (reference, devflow):  # the repository exists in both before the scenarios run
        push(api, b"seed")
    return reference, devflow


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__)
def test_devflow_answers_like_the_reference_registry(seeded, scenario):
    reference, devflow = seeded
    assert scenario(devflow) == scenario(reference)


def test_every_error_carries_the_api_version_header(seeded):
    for api in seeded:
        answer = api.get(f"/v2/{NAME}/blobs/{sha(b'missing')}")
        assert answer.headers["docker-distribution-api-version"] == "registry/2.0"
