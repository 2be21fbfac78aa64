"""OCI registry at /v2/: skopeo copies an image from an OCI layout into DevFlow and back (with
Docker token auth), raw HTTP drives the spec's upload, manifest and error paths."""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import io
import json
import os
import socket
import subprocess
import tarfile
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core.auth import hash_token
from devflow.core.blobs import FileBlobStore
from devflow.core.db import create_engine, session_factory, unit_of_work
from devflow.registry.digests import complete_digests
from devflow.registry.gc import collect_garbage
from devflow.registry.models import Blob
from devflow.registry.schemas import GcReport
from devflow.settings import load_settings
from tests.registry_fixtures import RegistryServer, running_server

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


@pytest.fixture(scope="module")
def server(pg_server, template_url, tmp_path_factory):
    del template_url
    with running_server(pg_server, tmp_path_factory.mktemp("home")) as running:
        yield running


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def basic(token: str, user: str = "anyone") -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{token}".encode()).decode()}


def registry_token(server: RegistryServer, token: str | None = None) -> str:
    answer = httpx.get(
        f"{server.url}/v2/token",
        params={"service": "devflow", "scope": "repository:default/app:pull,push"},
        headers=basic(token or server.token),
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["token"]


def client(server: RegistryServer, token: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {registry_token(server, token)}"}
    return httpx.Client(base_url=server.url, headers=headers, timeout=60)


def layer(files: dict[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def make_layout(folder: Path, tag: str) -> dict[str, bytes]:
    """Write an OCI image layout with a two-layer image tagged `tag`; return its blobs."""
    layers = [
        layer({"hello.txt": b"hello from devflow\n"}),
        layer({"data.bin": bytes(range(256)) * 4000}),
    ]
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["/hello"]},
            "rootfs": {
                "type": "layers",
                "diff_ids": [sha(gzip.decompress(data)) for data in layers],
            },
        }
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": sha(config), "size": len(config)},
            "layers": [{"mediaType": LAYER, "digest": sha(d), "size": len(d)} for d in layers],
        }
    ).encode()
    blobs = folder / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    found = {}
    for data in [*layers, config, manifest]:
        digest = sha(data)
        (blobs / digest.split(":")[1]).write_bytes(data)
        found[digest] = data
    (folder / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": OCI_MANIFEST,
                "digest": sha(manifest),
                "size": len(manifest),
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }
        ],
    }
    (folder / "index.json").write_text(json.dumps(index))
    return found


def skopeo(tmp: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    policy = tmp / "policy.json"
    policy.write_text('{"default": [{"type": "insecureAcceptAnything"}]}')
    done = subprocess.run(
        ["skopeo", "--policy", str(policy), "--tmpdir", str(tmp), *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env={"HOME": str(tmp), "PATH": "/usr/bin:/bin", "XDG_RUNTIME_DIR": str(tmp)},
    )
    if check and done.returncode != 0:
        pytest.fail(f"skopeo {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done


def test_skopeo_copies_an_image_in_and_out_with_auth(server, tmp_path):
    source = tmp_path / "source"
    blobs = make_layout(source, "v1")
    host = server.url.removeprefix("http://")
    creds = f"whoever:{server.token}"
    skopeo(
        tmp_path,
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        creds,
        f"oci:{source}:v1",
        f"docker://{host}/default/app:v1",
    )
    # An anonymous pull of the private repository is refused.
    refused = skopeo(
        tmp_path,
        "inspect",
        "--tls-verify=false",
        "--no-creds",
        f"docker://{host}/default/app:v1",
        check=False,
    )
    assert refused.returncode != 0
    assert "unauthorized" in refused.stderr.lower() or "401" in refused.stderr
    back = tmp_path / "back"
    skopeo(
        tmp_path,
        "copy",
        "--src-tls-verify=false",
        "--src-creds",
        creds,
        f"docker://{host}/default/app:v1",
        f"oci:{back}:v1",
    )
    index = json.loads((back / "index.json").read_text())
    manifest_digest = index["manifests"][0]["digest"]
    # Byte-exact: the manifest skopeo pulled back has the digest of the one it pushed.
    assert manifest_digest in blobs
    for digest, data in blobs.items():
        assert (back / "blobs" / "sha256" / digest.split(":")[1]).read_bytes() == data
    # A second push of the unchanged image under another tag.
    skopeo(
        tmp_path,
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        creds,
        f"oci:{source}:v1",
        f"docker://{host}/default/app:v2",
    )
    with client(server) as api:
        tags = api.get("/v2/default/app/tags/list").json()
    assert tags == {"name": "default/app", "tags": ["v1", "v2"]}


def test_version_check_challenges_and_token_endpoint_issues_tokens(server):
    anon = httpx.get(f"{server.url}/v2/")
    assert anon.status_code == 401
    challenge = anon.headers["www-authenticate"]
    assert challenge.startswith(f'Bearer realm="{server.url}/v2/token",service="devflow"')
    assert anon.json()["errors"][0]["code"] == "UNAUTHORIZED"
    token = registry_token(server)
    assert token != server.token
    ok = httpx.get(f"{server.url}/v2/", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200
    assert ok.headers["docker-distribution-api-version"] == "registry/2.0"
    # Basic with the DevFlow token as the password works directly too.
    assert httpx.get(f"{server.url}/v2/", headers=basic(server.token)).status_code == 200
    form = httpx.post(
        f"{server.url}/v2/token",
        data={
            "grant_type": "password",
            "username": "x",
            "password": server.token,
            "service": "devflow",
        },
    )
    assert form.status_code == 200
    assert form.json()["expires_in"] == 300
    bad = httpx.get(f"{server.url}/v2/token", headers=basic("dfl_not-a-real-token"))
    assert bad.status_code == 401
    assert bad.json()["errors"][0]["code"] == "UNAUTHORIZED"
    grant = httpx.post(f"{server.url}/v2/token", data={"grant_type": "client_credentials"})
    assert grant.status_code == 400
    assert "grant_type" in grant.json()["errors"][0]["message"]


def push_blob(api: httpx.Client, name: str, data: bytes) -> str:
    start = api.post(f"/v2/{name}/blobs/uploads/")
    assert start.status_code == 202, start.text
    done = api.put(start.headers["location"], params={"digest": sha(data)}, content=data)
    assert done.status_code == 201, done.text
    assert done.headers["docker-content-digest"] == sha(data)
    return sha(data)


def image_manifest(config: bytes, layers: list[bytes], **extra: object) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": sha(config), "size": len(config)},
            "layers": [{"mediaType": LAYER, "digest": sha(d), "size": len(d)} for d in layers],
            **extra,
        },
        indent=3,
    ).encode()


def errors(answer: httpx.Response) -> str:
    return answer.json()["errors"][0]["code"]


def test_chunked_upload_in_order_out_of_order_status_cancel_and_range(server):
    data = b"0123456789" * 3
    with client(server) as api:
        start = api.post("/v2/default/chunks/blobs/uploads/")
        assert start.status_code == 202
        location = start.headers["location"]
        first = api.patch(
            location,
            content=data[:10],
            headers={"Content-Range": "0-9", "Content-Type": "application/octet-stream"},
        )
        assert first.status_code == 202
        assert first.headers["range"] == "0-9"
        skipped = api.patch(location, content=data[20:], headers={"Content-Range": "20-29"})
        assert skipped.status_code == 416
        assert skipped.headers["range"] == "0-9"
        second = api.patch(location, content=data[10:20], headers={"Content-Range": "10-19"})
        assert second.status_code == 202
        status = api.get(location)
        assert status.status_code == 204
        assert status.headers["range"] == "0-19"
        wrong = api.put(location, params={"digest": sha(b"other")}, content=data[20:])
        assert wrong.status_code == 400
        assert errors(wrong) == "DIGEST_INVALID"
        # A failed close ends the session; the blob was never stored.
        assert errors(api.get(location)) == "BLOB_UPLOAD_UNKNOWN"
        assert errors(api.get(f"/v2/default/chunks/blobs/{sha(data)}")) == "BLOB_UNKNOWN"
        # Again, properly, then read it back whole and by range.
        location = api.post("/v2/default/chunks/blobs/uploads/").headers["location"]
        api.patch(location, content=data[:15], headers={"Content-Range": "0-14"})
        done = api.put(location, params={"digest": sha(data)}, content=data[15:])
        assert done.status_code == 201
        url = f"/v2/default/chunks/blobs/{sha(data)}"
        head = api.head(url)
        assert head.headers["content-length"] == "30"
        assert head.headers["docker-content-digest"] == sha(data)
        assert api.get(url).content == data
        part = api.get(url, headers={"Range": "bytes=5-9"})
        assert part.status_code == 206
        assert part.content == b"56789"
        # An upload session belongs to its repository (and its user).
        location = api.post("/v2/default/chunks/blobs/uploads/").headers["location"]
        elsewhere = location.replace("/default/chunks/", "/default/other/")
        assert errors(api.patch(elsewhere, content=b"x")) == "BLOB_UPLOAD_UNKNOWN"
        # Cancel.
        assert api.delete(location).status_code == 204
        assert api.get(location).status_code == 404
        # Monolithic POST ?digest= with the body.
        mono = api.post(
            "/v2/default/chunks/blobs/uploads/", params={"digest": sha(b"mono")}, content=b"mono"
        )
        assert mono.status_code == 201
        assert api.get(f"/v2/default/chunks/blobs/{sha(b'mono')}").content == b"mono"
        unknown_alg = api.post(
            "/v2/default/chunks/blobs/uploads/", params={"digest": "md5:abcd"}, content=b"x"
        )
        assert unknown_alg.status_code == 400
        assert errors(unknown_alg) == "DIGEST_INVALID"
        assert "sha256" in unknown_alg.json()["errors"][0]["message"]


def test_interrupted_chunk_keeps_what_arrived_and_the_upload_resumes(server):
    data = bytes(range(256)) * 400
    with client(server) as api:
        location = api.post("/v2/default/resume/blobs/uploads/").headers["location"]
        host, port = server.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port))) as sock:
            head = (
                f"PATCH {location} HTTP/1.1\r\nHost: {host}\r\n"
                f"Authorization: {api.headers['authorization']}\r\n"
                f"Content-Range: 0-{len(data) - 1}\r\nContent-Length: {len(data)}\r\n\r\n"
            )
            sock.sendall(head.encode() + data[:40000])
            # While the chunk is half sent, the upload's status shows what has arrived so far.
            for _ in range(100):
                arrived = api.get(location)
                if arrived.headers["range"] == "0-39999":
                    break
                time.sleep(0.1)
            assert arrived.status_code == 204
            assert arrived.headers["range"] == "0-39999"
        # The connection dropped mid-chunk; the client resumes from the status's Range.
        assert api.get(location).headers["range"] == "0-39999"
        rest = api.patch(
            location, content=data[40000:], headers={"Content-Range": f"40000-{len(data) - 1}"}
        )
        assert rest.status_code == 202
        done = api.put(location, params={"digest": sha(data)})
        assert done.status_code == 201
        assert api.get(f"/v2/default/resume/blobs/{sha(data)}").content == data


def test_manifests_are_byte_exact_and_checked(server):
    name = "default/img"
    with client(server) as api:
        config, one = b'{"architecture":"amd64","os":"linux"}', b"layer-one"
        push_blob(api, name, config)
        push_blob(api, name, one)
        body = image_manifest(config, [one])
        put = api.put(
            f"/v2/{name}/manifests/latest", content=body, headers={"Content-Type": OCI_MANIFEST}
        )
        assert put.status_code == 201, put.text
        assert put.headers["docker-content-digest"] == sha(body)
        got = api.get(f"/v2/{name}/manifests/latest")
        assert got.content == body
        assert got.headers["content-type"] == OCI_MANIFEST
        assert got.headers["docker-content-digest"] == sha(body)
        # A tag may be called like an endpoint; a Docker schema 2 manifest keeps its media type.
        docker_type = "application/vnd.docker.distribution.manifest.v2+json"
        docker = body.replace(OCI_MANIFEST.encode(), docker_type.encode())
        put = api.put(
            f"/v2/{name}/manifests/blobs", content=docker, headers={"Content-Type": docker_type}
        )
        assert put.status_code == 201, put.text
        got = api.get(f"/v2/{name}/manifests/blobs")
        assert got.content == docker
        assert got.headers["content-type"] == docker_type
        assert got.headers["docker-distribution-api-version"] == "registry/2.0"
        mismatch = api.put(
            f"/v2/{name}/manifests/x", content=docker, headers={"Content-Type": OCI_MANIFEST}
        )
        assert errors(mismatch) == "MANIFEST_INVALID"
        by_digest = api.head(f"/v2/{name}/manifests/{sha(body)}")
        assert by_digest.status_code == 200
        assert by_digest.headers["content-length"] == str(len(body))

        missing = image_manifest(config, [b"never pushed"])
        answer = api.put(
            f"/v2/{name}/manifests/bad", content=missing, headers={"Content-Type": OCI_MANIFEST}
        )
        assert answer.status_code == 400
        assert errors(answer) == "MANIFEST_BLOB_UNKNOWN"
        not_json = api.put(
            f"/v2/{name}/manifests/bad", content=b"{nope", headers={"Content-Type": OCI_MANIFEST}
        )
        assert errors(not_json) == "MANIFEST_INVALID"
        huge = image_manifest(config, [one], annotations={"pad": "x" * (4 * 1024 * 1024)})
        too_big = api.put(
            f"/v2/{name}/manifests/bad", content=huge, headers={"Content-Type": OCI_MANIFEST}
        )
        assert too_big.status_code == 413
        wrong_digest = api.put(
            f"/v2/{name}/manifests/{sha(b'x')}",
            content=body,
            headers={"Content-Type": OCI_MANIFEST},
        )
        assert errors(wrong_digest) == "DIGEST_INVALID"
        assert errors(api.get(f"/v2/{name}/manifests/bad")) == "MANIFEST_UNKNOWN"
        assert api.get(f"/v2/{name}/manifests/bad").status_code == 404

        # An index over the manifest, by Docker media type for the list.
        index = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_INDEX,
                "manifests": [{"mediaType": OCI_MANIFEST, "digest": sha(body), "size": len(body)}],
            }
        ).encode()
        put = api.put(
            f"/v2/{name}/manifests/multi", content=index, headers={"Content-Type": OCI_INDEX}
        )
        assert put.status_code == 201
        # An index over a manifest the repository does not hold is refused.
        answer = api.put(
            f"/v2/{name}/manifests/orphan",
            content=index.replace(sha(body).encode(), sha(b"never pushed").encode()),
            headers={"Content-Type": OCI_INDEX},
        )
        assert (answer.status_code, errors(answer)) == (400, "MANIFEST_BLOB_UNKNOWN")
        # Moving a tag: the last write wins; both manifests stay addressable by digest.
        two = b"layer-two"
        push_blob(api, name, two)
        newer = image_manifest(config, [one, two])
        api.put(
            f"/v2/{name}/manifests/latest", content=newer, headers={"Content-Type": OCI_MANIFEST}
        )
        assert api.get(f"/v2/{name}/manifests/latest").content == newer
        assert api.get(f"/v2/{name}/manifests/{sha(body)}").content == body


def test_tag_listing_pagination_and_deletes(server):
    name = "default/tags"
    with client(server) as api:
        config, one, two = b'{"os":"linux"}', b"one", b"two"
        for blob in (config, one, two):
            push_blob(api, name, blob)
        body, newer = image_manifest(config, [one]), image_manifest(config, [one, two])
        for tag, doc in (("latest", newer), ("multi", body)):
            answer = api.put(
                f"/v2/{name}/manifests/{tag}", content=doc, headers={"Content-Type": OCI_MANIFEST}
            )
            assert answer.status_code == 201
        for tag in ("a", "b", "c"):
            api.put(
                f"/v2/{name}/manifests/{tag}", content=body, headers={"Content-Type": OCI_MANIFEST}
            )
        page = api.get(f"/v2/{name}/tags/list", params={"n": 2})
        assert page.json()["tags"] == ["a", "b"]
        assert page.headers["link"] == f'</v2/{name}/tags/list?n=2&last=b>; rel="next"'
        rest = api.get(f"/v2/{name}/tags/list", params={"n": 10, "last": "b"})
        assert rest.json()["tags"] == ["c", "latest", "multi"]
        assert "link" not in rest.headers
        assert api.get(f"/v2/{name}/tags/list", params={"n": 0}).json()["tags"] == []

        # Deletes: a tag, then a manifest by digest (with the tags pointing at it).
        assert api.delete(f"/v2/{name}/manifests/c").status_code == 202
        assert api.delete(f"/v2/{name}/manifests/{sha(newer)}").status_code == 202
        assert errors(api.get(f"/v2/{name}/manifests/latest")) == "MANIFEST_UNKNOWN"
        left = api.get(f"/v2/{name}/tags/list").json()["tags"]
        assert left == ["a", "b", "multi"]


def test_referrers_list_artifacts_by_subject_and_type(server):
    name = "default/signed"
    with client(server) as api:
        config, one = b'{"os":"linux"}', b"payload"
        push_blob(api, name, config)
        push_blob(api, name, one)
        image = image_manifest(config, [one])
        api.put(f"/v2/{name}/manifests/v1", content=image, headers={"Content-Type": OCI_MANIFEST})
        empty = b"{}"
        push_blob(api, name, empty)
        signature = b"signature bytes"
        push_blob(api, name, signature)
        subject = {"mediaType": OCI_MANIFEST, "digest": sha(image), "size": len(image)}
        artifact = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "artifactType": "application/vnd.example.signature",
                "config": {
                    "mediaType": "application/vnd.oci.empty.v1+json",
                    "digest": sha(empty),
                    "size": 2,
                },
                "layers": [
                    {"mediaType": "application/octet-stream", "digest": sha(signature), "size": 15}
                ],
                "subject": subject,
                "annotations": {"who": "ci"},
            }
        ).encode()
        put = api.put(
            f"/v2/{name}/manifests/{sha(artifact)}",
            content=artifact,
            headers={"Content-Type": OCI_MANIFEST},
        )
        assert put.status_code == 201
        assert put.headers["oci-subject"] == sha(image)
        listed = api.get(f"/v2/{name}/referrers/{sha(image)}")
        assert listed.headers["content-type"] == OCI_INDEX
        assert listed.json()["manifests"] == [
            {
                "mediaType": OCI_MANIFEST,
                "digest": sha(artifact),
                "size": len(artifact),
                "artifactType": "application/vnd.example.signature",
                "annotations": {"who": "ci"},
            }
        ]
        other = api.get(
            f"/v2/{name}/referrers/{sha(image)}", params={"artifactType": "application/x-other"}
        )
        assert other.json()["manifests"] == []
        assert other.headers["oci-filters-applied"] == "artifactType"


def test_access_first_push_mount_and_catalog(server):
    reader = server.make_user("oci-reader", project_role="read")
    writer = server.make_user("oci-writer", project_role="write")
    stranger = server.make_user("oci-stranger")
    secret = b"private layer"
    with client(server) as admin:
        push_blob(admin, "default/source", secret)
    with client(server, reader) as api:
        denied = api.post("/v2/default/newrepo/blobs/uploads/")
        assert denied.status_code == 403
        assert errors(denied) == "DENIED"
        assert api.get(f"/v2/default/source/blobs/{sha(secret)}").content == secret
    with client(server, stranger) as api:
        hidden = api.get(f"/v2/default/source/blobs/{sha(secret)}")
        assert hidden.status_code == 404
        assert errors(hidden) == "NAME_UNKNOWN"
        assert "default/source" not in api.get("/v2/_catalog").json()["repositories"]
    with client(server, writer) as api:
        # First push creates the repository; mounting from a readable source answers 201.
        mounted = api.post(
            "/v2/default/mine/blobs/uploads/",
            params={"mount": sha(secret), "from": "default/source"},
        )
        assert mounted.status_code == 201
        assert api.get(f"/v2/default/mine/blobs/{sha(secret)}").content == secret
        assert api.post("/v2/default/mine/blobs/uploads/").status_code == 202
        assert created_events(server, "default/mine") == 1  # once, like a REST create
        # A source that does not hold the blob gives a normal upload session instead.
        fallback = api.post(
            "/v2/default/mine/blobs/uploads/",
            params={"mount": sha(b"nothing"), "from": "default/source"},
        )
        assert fallback.status_code == 202
        assert "/blobs/uploads/" in fallback.headers["location"]
        # A blob in a project the writer cannot read is never mounted: a plain upload instead.
        with server.api() as rest:
            assert rest.post("/api/v1/projects", json={"name": "closed"}).status_code == 201
        with client(server) as admin:
            push_blob(admin, "closed/vault", b"closed layer")
        refused = api.post(
            "/v2/default/mine/blobs/uploads/",
            params={"mount": sha(b"closed layer"), "from": "closed/vault"},
        )
        assert refused.status_code == 202
        assert errors(api.get(f"/v2/default/mine/blobs/{sha(b'closed layer')}")) == "BLOB_UNKNOWN"
        catalog = api.get("/v2/_catalog").json()["repositories"]
        assert "closed/vault" not in catalog
        assert {"default/mine", "default/source"} <= set(catalog)
        page = api.get("/v2/_catalog", params={"n": 1})
        assert len(page.json()["repositories"]) == 1
        assert 'rel="next"' in page.headers["link"]
    anon = httpx.get(f"{server.url}/v2/default/source/blobs/{sha(secret)}")
    assert anon.status_code == 401
    assert 'scope="repository:default/source:pull"' in anon.headers["www-authenticate"]
    bad_name = httpx.get(f"{server.url}/v2/Bad_Name/x/tags/list", headers=basic(server.token))
    assert bad_name.status_code == 400
    assert errors(bad_name) == "NAME_INVALID"


def test_concurrent_pushes_of_one_tag_last_write_wins(server):
    name = "default/race"
    with client(server) as api:
        config = b'{"os":"linux"}'
        layers = [f"layer {i}".encode() for i in range(6)]
        for blob in (config, *layers):
            push_blob(api, name, blob)
        bodies = [image_manifest(config, [blob]) for blob in layers]

        def put(body: bytes) -> int:
            return api.put(
                f"/v2/{name}/manifests/race", content=body, headers={"Content-Type": OCI_MANIFEST}
            ).status_code

        with ThreadPoolExecutor(max_workers=6) as pool:
            assert list(pool.map(put, bodies)) == [201] * 6
        final = api.get(f"/v2/{name}/manifests/race").content
        assert final in bodies
        for body in bodies:
            assert api.get(f"/v2/{name}/manifests/{sha(body)}").content == body
        assert api.get(f"/v2/{name}/tags/list").json()["tags"] == ["race"]


def test_gc_keeps_what_manifests_reference_and_drops_deleted_blobs(
    pg_server, template_url, tmp_path
):
    del template_url
    with running_server(pg_server, tmp_path / "home", gc_grace_seconds=0) as gc_server:
        name = "default/gc"
        with client(gc_server) as api:
            config, kept, dropped = b'{"os":"linux"}', b"kept layer", b"dropped layer"
            for blob in (config, kept, dropped):
                push_blob(api, name, blob)
            body = image_manifest(config, [kept])
            api.put(
                f"/v2/{name}/manifests/v1", content=body, headers={"Content-Type": OCI_MANIFEST}
            )
            assert api.delete(f"/v2/{name}/blobs/{sha(dropped)}").status_code == 202
            # Unlinking a blob that a manifest still references does not let GC take it.
            assert api.delete(f"/v2/{name}/blobs/{sha(config)}").status_code == 202
            with gc_server.api() as rest:
                report = rest.post("/api/v1/registry/gc", json={}).json()
            assert report["blobs_removed"] == 1
            assert report["bytes_removed"] == len(dropped)
            assert api.get(f"/v2/{name}/manifests/v1").content == body
            assert api.get(f"/v2/{name}/blobs/{sha(kept)}").content == kept
            again = api.post(
                f"/v2/{name}/blobs/uploads/", params={"digest": sha(config)}, content=config
            )
            assert again.status_code == 201
            assert api.get(f"/v2/{name}/blobs/{sha(config)}").content == config
            assert errors(api.get(f"/v2/{name}/blobs/{sha(dropped)}")) == "BLOB_UNKNOWN"


@asynccontextmanager
async def database(server: RegistryServer) -> AsyncIterator[AsyncSession]:
    """A unit of work on the server's database, to look under the protocol."""
    engine = create_engine(server.db_url, load_settings(database_url=server.db_url).database)
    try:
        async with unit_of_work(session_factory(engine)) as session:
            yield session
    finally:
        await engine.dispose()


def created_events(server: RegistryServer, repository: str) -> int:
    async def count() -> int:
        async with database(server) as session:
            found = await session.scalar(
                text(
                    "SELECT count(*) FROM event WHERE type = 'registry.repository.created' "
                    "AND payload->>'repository' = :name"
                ),
                {"name": repository},
            )
            return int(found)

    return asyncio.run(count())


def blob_digests(server: RegistryServer, data: bytes) -> tuple[str, str, str]:
    async def read() -> tuple[str, str, str]:
        async with database(server) as session:
            row = await session.get_one(Blob, hashlib.sha256(data).hexdigest())
            return row.md5, row.sha1, row.sha512

    return asyncio.run(read())


def test_a_pushed_layer_gets_md5_sha1_and_sha512_from_the_job_not_the_push(
    pg_server, template_url, tmp_path
):
    del template_url
    with running_server(pg_server, tmp_path / "home") as server:
        check_digests_are_completed_later(server)


def check_digests_are_completed_later(server: RegistryServer) -> None:
    data = os.urandom(200_000)
    with client(server) as api:
        push_blob(api, "default/digests", data)
        push_blob(api, "default/digests", data[::-1])
    assert blob_digests(server, data) == ("", "", "")

    async def queued() -> list[tuple[str, bool]]:
        async with database(server) as session:
            rows = await session.execute(
                text(
                    "SELECT status::text, scheduled_at > now() "
                    "FROM procrastinate_jobs WHERE task_name = 'registry:complete_digests'"
                )
            )
            return [(status, later) for status, later in rows]

    # One job for both blobs, held for later: it does not run during the push itself.
    assert asyncio.run(queued()) == [("todo", True)]

    async def run_job() -> None:
        store = FileBlobStore(server.home / "blobs")
        async with database(server) as session:
            after = await complete_digests(session, store=store, limit=1000)
            assert after is not None
            assert await complete_digests(session, store=store, after=after) is None

    asyncio.run(run_job())
    assert blob_digests(server, data) == (
        hashlib.md5(data, usedforsecurity=False).hexdigest(),
        hashlib.sha1(data, usedforsecurity=False).hexdigest(),
        hashlib.sha512(data).hexdigest(),
    )


def run_gc(server: RegistryServer, **options: Any) -> GcReport:
    """Run what the registry:collect_garbage job runs (the test server has no worker)."""

    async def run() -> GcReport:
        async with database(server) as session:
            return await collect_garbage(
                session,
                store=FileBlobStore(server.home / "blobs"),
                grace=timedelta(0),
                dry_run=False,
                **options,
            )

    return asyncio.run(run())


def test_gc_removes_untagged_manifests_by_policy_but_keeps_what_tagged_ones_use(
    pg_server, template_url, tmp_path
):
    del template_url
    settings = {"gc_grace_seconds": 0, "oci_untagged_retention_days": 0}
    with running_server(pg_server, tmp_path / "home", **settings) as gc_server:
        name = "default/retention"
        put = {"Content-Type": OCI_MANIFEST}
        with client(gc_server) as api:
            config, old_layer, new_layer, shared = b'{"a":1}', b"old layer", b"new", b"shared"
            for blob in (config, old_layer, new_layer, shared):
                push_blob(api, name, blob)
            old = image_manifest(config, [old_layer, shared])
            new = image_manifest(config, [new_layer, shared])
            child = image_manifest(config, [shared], annotations={"platform": "arm64"})
            stray = image_manifest(config, [shared], annotations={"stray": "yes"})
            for body, ref in ((old, "v1"), (new, "v1"), (child, sha(child)), (stray, sha(stray))):
                assert api.put(f"/v2/{name}/manifests/{ref}", content=body, headers=put).is_success
            index = json.dumps(
                {
                    "schemaVersion": 2,
                    "mediaType": OCI_INDEX,
                    "manifests": [
                        {"mediaType": OCI_MANIFEST, "digest": sha(child), "size": len(child)}
                    ],
                }
            ).encode()
            headers = {"Content-Type": OCI_INDEX}
            assert api.put(f"/v2/{name}/manifests/multi", content=index, headers=headers)
            signatures = {}
            for about in (new, old, child):
                sig = image_manifest(
                    config,
                    [],
                    subject={"mediaType": OCI_MANIFEST, "digest": sha(about), "size": len(about)},
                )
                signatures[about] = sig
                assert api.put(f"/v2/{name}/manifests/{sha(sig)}", content=sig, headers=put)

            with gc_server.api() as rest:
                dry = rest.post("/api/v1/registry/gc", json={"dry_run": True}).json()
                assert dry["untagged_manifests_removed"] == 3  # old, its signature, stray
                assert api.get(f"/v2/{name}/manifests/{sha(old)}").status_code == 200
            assert run_gc(gc_server).untagged_manifests_removed == 0  # no policy: all stay
            assert api.get(f"/v2/{name}/manifests/{sha(stray)}").status_code == 200
            report = run_gc(gc_server, untagged_retention=timedelta(0))
            assert report.untagged_manifests_removed == 3

            def status(ref: str) -> int:
                return api.get(f"/v2/{name}/manifests/{ref}").status_code

            assert [status(sha(body)) for body in (old, signatures[old], stray)] == [404] * 3
            kept = (new, index, child, signatures[new], signatures[child])
            assert [status(sha(body)) for body in kept] == [200] * 5
            assert api.get(f"/v2/{name}/blobs/{sha(old_layer)}").status_code == 404
            for blob in (config, new_layer, shared):
                assert api.get(f"/v2/{name}/blobs/{sha(blob)}").content == blob


def test_expired_registry_tokens_are_deleted_when_the_user_logs_in_again(server):
    first = registry_token(server)

    async def expire_and_count(expire: bool) -> int:
        async with database(server) as session:
            if expire:
                await session.execute(
                    text(
                        "UPDATE api_token SET expires_at = now() - interval '1 minute' "
                        "WHERE token_hash = :h"
                    ),
                    {"h": hash_token(first)},
                )
            found = await session.scalar(
                text("SELECT count(*) FROM api_token WHERE token_hash = :h"),
                {"h": hash_token(first)},
            )
            return int(found)

    assert asyncio.run(expire_and_count(expire=True)) == 1
    second = registry_token(server)
    assert asyncio.run(expire_and_count(expire=False)) == 0
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {second}"}) as api:
        assert api.get("/v2/").status_code == 200


def test_image_repositories_are_managed_and_counted_through_the_rest_api(server):
    name = "default/managed"
    config, layer_data = b'{"os":"managed"}', b"managed layer" * 100
    with client(server) as api:
        for blob in (config, layer_data):
            push_blob(api, name, blob)
        body = image_manifest(config, [layer_data])
        put = api.put(
            f"/v2/{name}/manifests/v1", content=body, headers={"Content-Type": OCI_MANIFEST}
        )
        assert put.status_code == 201
    anonymous = httpx.get(f"{server.url}/v2/{name}/manifests/v1")
    assert anonymous.status_code == 401

    with server.api() as rest:
        shown = rest.get(f"/api/v1/registry/repositories/{name}")
        assert shown.status_code == 200, shown.text
        assert (shown.json()["name"], shown.json()["visibility"]) == (name, "private")
        changed = rest.patch(f"/api/v1/registry/repositories/{name}", json={"visibility": "public"})
        assert changed.status_code == 200, changed.text
        stats = rest.get("/api/v1/registry/stats", params={"repository": name}).json()
    assert httpx.get(f"{server.url}/v2/{name}/manifests/v1").content == body
    (row,) = stats["repositories"]
    assert (row["versions"], row["files"]) == (1, 3)  # one manifest; config, layer, manifest
    assert row["bytes"] == len(config) + len(layer_data) + len(body)

    with server.api() as rest:
        assert rest.delete(f"/api/v1/registry/repositories/{name}").status_code == 204
        assert rest.get(f"/api/v1/registry/repositories/{name}").status_code == 404
    assert httpx.get(f"{server.url}/v2/{name}/manifests/v1").status_code == 401


def test_an_upload_whose_data_garbage_collection_removed_must_start_again(server):
    data = b"collected while idle" * 100
    with client(server) as api:
        start = api.post("/v2/default/collected/blobs/uploads/")
        location = start.headers["location"]
        assert api.patch(location, content=data).status_code == 202
        for temporary in (server.home / "blobs" / "tmp").iterdir():
            temporary.unlink()  # what GC does to a temporary idle past the grace period
        done = api.put(location, params={"digest": sha(data)})
        assert done.status_code == 404
        assert errors(done) == "BLOB_UPLOAD_UNKNOWN"
        assert "upload again" in done.json()["errors"][0]["message"]
        assert errors(api.get(f"/v2/default/collected/blobs/{sha(data)}")) == "BLOB_UNKNOWN"
        push_blob(api, "default/collected", data)
