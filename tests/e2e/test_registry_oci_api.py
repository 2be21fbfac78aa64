"""OCI repositories in the REST API (`/api/v1/registry/oci/<name>/…`): images, tags and a
manifest in full, removing a tag; private repositories hidden, hostile names refused with a 4xx.
Images are pushed over the OCI protocol as a client pushes them (real uvicorn, real sockets)."""

from __future__ import annotations

import base64
import hashlib
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.registry_fixtures import RegistryServer, running_server

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_CHART = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
OCI = "/api/v1/registry/oci"


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def basic(token: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"me:{token}".encode()).decode()}


@dataclass
class Pushed:
    digest: str
    manifest: bytes
    config: bytes
    layers: list[bytes]

    @property
    def size(self) -> int:
        return len(self.manifest) + len(self.config) + sum(len(layer) for layer in self.layers)


def push_blob(server: RegistryServer, name: str, data: bytes) -> str:
    digest = sha(data)
    answer = httpx.post(
        f"{server.url}/v2/{name}/blobs/uploads/",
        params={"digest": digest},
        content=data,
        headers=basic(server.token),
    )
    assert answer.status_code == 201, answer.text
    return digest


def push_manifest(server: RegistryServer, name: str, ref: str, doc: dict[str, Any]) -> bytes:
    body = json.dumps(doc).encode()
    answer = httpx.put(
        f"{server.url}/v2/{name}/manifests/{ref}",
        content=body,
        headers={**basic(server.token), "Content-Type": doc["mediaType"]},
    )
    assert answer.status_code == 201, answer.text
    return body


def push_image(
    server: RegistryServer,
    name: str,
    tag: str,
    *,
    arch: str = "amd64",
    config_type: str = OCI_CONFIG,
    config: dict[str, Any] | None = None,
    layer_type: str = LAYER,
    subject: str | None = None,
) -> Pushed:
    """Push a config, two layers and a manifest tagged `tag` (or by digest when `tag` is '')."""
    config_body = json.dumps(
        config or {"architecture": arch, "os": "linux", "created": "2026-12-01T10:00:00Z"}
    ).encode()
    layers = [f"{name}:{tag}:{arch}:layer{i}".encode() * (i + 1) for i in range(2)]
    for data in (config_body, *layers):
        push_blob(server, name, data)
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": config_type, "digest": sha(config_body), "size": len(config_body)},
        "layers": [{"mediaType": layer_type, "digest": sha(d), "size": len(d)} for d in layers],
    }
    if subject:
        doc["subject"] = {"mediaType": OCI_MANIFEST, "digest": subject, "size": 1}
        doc["artifactType"] = "application/vnd.example.signature"
    body = json.dumps(doc).encode()
    push_manifest(server, name, tag or sha(body), doc)
    return Pushed(sha(body), body, config_body, layers)


@dataclass
class World:
    server: RegistryServer
    v1: Pushed
    v2: Pushed
    untagged: Pushed
    amd64: Pushed
    arm64: Pushed
    index: str
    index_size: int
    signature: Pushed
    chart: Pushed
    stranger: str
    reader: str


@pytest.fixture(scope="module")
def world(pg_server, template_url, tmp_path_factory) -> Iterator[World]:
    del template_url
    with running_server(pg_server, tmp_path_factory.mktemp("home")) as server:
        v1 = push_image(server, "default/app", "v1")
        push_manifest(server, "default/app", "latest", json.loads(v1.manifest))
        v2 = push_image(server, "default/app", "v2", arch="arm64")
        untagged = push_image(server, "default/app", "", arch="s390x")
        signature = push_image(server, "default/app", "", arch="sig", subject=v1.digest)
        amd64 = push_image(server, "default/multi", "", arch="amd64")
        arm64 = push_image(server, "default/multi", "", arch="arm64")
        entries = [
            {
                "mediaType": OCI_MANIFEST,
                "digest": p.digest,
                "size": len(p.manifest),
                "platform": {"os": "linux", "architecture": arch, **extra},
            }
            for p, arch, extra in ((amd64, "amd64", {}), (arm64, "arm64", {"variant": "v8"}))
        ]
        index = push_manifest(
            server,
            "default/multi",
            "1.0",
            {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries},
        )
        chart = push_image(
            server,
            "default/charts/web",
            "0.1.0",
            config_type=HELM_CONFIG,
            config={"name": "web", "version": "0.1.0", "appVersion": "1.2", "apiVersion": "v2"},
            layer_type=HELM_CHART,
        )
        yield World(
            server,
            v1,
            v2,
            untagged,
            amd64,
            arm64,
            sha(index),
            len(index) + amd64.size + arm64.size,
            signature,
            chart,
            stranger=server.make_user("ocistranger"),
            reader=server.make_user("ocireader", project_role="read"),
        )


def get(world: World, path: str, token: str | None = None, **params: Any) -> httpx.Response:
    with world.server.api(token) as api:
        return api.get(f"{OCI}/{path}", params=params)


class TestTags:
    def test_tags_are_listed_last_pushed_first_with_digest_type_size_and_times(self, world):
        page = get(world, "default/app/tags").json()
        assert [t["name"] for t in page["items"]] == ["v2", "latest", "v1"]
        assert page["total"] == 3
        v1 = page["items"][2]
        assert v1["digest"] == world.v1.digest
        assert v1["media_type"] == OCI_MANIFEST
        assert v1["kind"] == "image"
        assert v1["size"] == world.v1.size
        assert v1["created_at"] <= v1["pushed_at"]
        assert page["items"][1]["digest"] == world.v1.digest  # latest names the same image

    def test_tags_come_in_pages(self, world):
        first = get(world, "default/app/tags", limit=2).json()
        rest = get(world, "default/app/tags", limit=2, offset=2).json()
        assert [t["name"] for t in first["items"] + rest["items"]] == ["v2", "latest", "v1"]
        assert first["total"] == rest["total"] == 3
        assert get(world, "default/app/tags", offset=50).json() == {"items": [], "total": 3}

    def test_an_index_counts_its_platforms_manifests_and_their_blobs(self, world):
        [tag] = get(world, "default/multi/tags").json()["items"]
        assert (tag["name"], tag["kind"], tag["media_type"]) == ("1.0", "index", OCI_INDEX)
        assert tag["size"] == world.index_size


class TestImages:
    def test_every_manifest_is_listed_tagged_or_not_with_what_refers_to_it(self, world):
        page = get(world, "default/app/images").json()
        found = {i["digest"]: i for i in page["items"]}
        assert page["total"] == 4
        assert found[world.v1.digest]["tags"] == ["latest", "v1"]
        assert found[world.untagged.digest]["tags"] == []
        assert found[world.signature.digest]["subject"] == world.v1.digest
        assert found[world.signature.digest]["kind"] == "artifact"

    def test_a_platforms_manifest_names_its_index(self, world):
        found = {i["digest"]: i for i in get(world, "default/multi/images").json()["items"]}
        assert found[world.amd64.digest]["indexes"] == [world.index]
        assert found[world.index]["indexes"] == []


class TestManifest:
    def test_an_image_by_tag_shows_config_layers_platform_and_referrers(self, world):
        shown = get(world, "default/app/manifests/v1").json()
        assert shown["digest"] == world.v1.digest
        assert shown["tags"] == ["latest", "v1"]
        assert shown["config"]["digest"] == sha(world.v1.config)
        assert [(la["digest"], la["size"]) for la in shown["layers"]] == [
            (sha(d), len(d)) for d in world.v1.layers
        ]
        assert shown["platform"] == {
            "os": "linux",
            "architecture": "amd64",
            "variant": None,
            "os_version": None,
        }
        assert shown["image_created"] == "2026-12-01T10:00:00Z"
        assert [r["digest"] for r in shown["referrers"]] == [world.signature.digest]
        assert shown["size"] == world.v1.size
        assert shown["manifest_size"] == len(world.v1.manifest)
        assert shown["problem"] is None

    def test_the_same_manifest_by_digest(self, world):
        shown = get(world, f"default/app/manifests/{world.v2.digest}").json()
        assert shown["tags"] == ["v2"]
        assert shown["platform"]["architecture"] == "arm64"

    def test_an_index_lists_its_platforms(self, world):
        shown = get(world, "default/multi/manifests/1.0").json()
        assert shown["kind"] == "index"
        assert shown["config"] is None
        assert shown["layers"] == []
        assert [(m["digest"], m["platform"]["architecture"]) for m in shown["manifests"]] == [
            (world.amd64.digest, "amd64"),
            (world.arm64.digest, "arm64"),
        ]
        assert shown["manifests"][1]["platform"]["variant"] == "v8"

    def test_a_helm_chart_shows_its_chart_yaml(self, world):
        shown = get(world, "default/charts/web/manifests/0.1.0").json()
        assert shown["kind"] == "chart"
        chart = shown["chart"]
        assert (chart["name"], chart["version"], chart["app_version"]) == ("web", "0.1.0", "1.2")
        assert shown["layers"][0]["media_type"] == HELM_CHART

    def test_a_tag_called_like_a_listing_is_a_tag(self, world):
        push_manifest(world.server, "default/app", "tags", json.loads(world.v2.manifest))
        assert get(world, "default/app/manifests/tags").json()["digest"] == world.v2.digest

    def test_an_unknown_tag_or_digest_is_404(self, world):
        assert get(world, "default/app/manifests/nope").status_code == 404
        missing = get(world, f"default/app/manifests/sha256:{'0' * 64}")
        assert missing.status_code == 404
        assert "no manifest" in missing.json()["error"]["message"]


class TestRemovingATag:
    def test_a_project_admin_removes_a_tag_and_the_image_stays_by_digest(self, world):
        push_manifest(world.server, "default/app", "doomed", json.loads(world.v1.manifest))
        with world.server.api() as api:
            assert api.delete(f"{OCI}/default/app/tags/doomed").status_code == 204
            again = api.delete(f"{OCI}/default/app/tags/doomed")
        assert again.status_code == 404
        assert "no tag 'doomed'" in again.json()["error"]["message"]
        assert get(world, "default/app/manifests/doomed").status_code == 404
        assert get(world, f"default/app/manifests/{world.v1.digest}").status_code == 200
        pulled = httpx.get(
            f"{world.server.url}/v2/default/app/manifests/doomed", headers=basic(world.server.token)
        )
        assert pulled.status_code == 404

    def test_a_reader_may_not_remove_a_tag(self, world):
        with world.server.api(world.reader) as api:
            refused = api.delete(f"{OCI}/default/app/tags/v1")
        assert refused.status_code == 403
        assert "only admins" in refused.json()["error"]["message"]
        assert get(world, "default/app/manifests/v1").status_code == 200

    def test_the_protocols_delete_of_a_tag_does_the_same(self, world):
        push_manifest(world.server, "default/app", "wire", json.loads(world.v1.manifest))
        url = f"{world.server.url}/v2/default/app/manifests/wire"
        assert httpx.delete(url, headers=basic(world.server.token)).status_code == 202
        again = httpx.delete(url, headers=basic(world.server.token))
        assert again.status_code == 404
        assert again.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"


ROUTES = ["tags", "images", "manifests/v1"]


class TestVisibility:
    @pytest.mark.parametrize("route", ROUTES)
    def test_a_stranger_is_told_a_private_repository_does_not_exist(self, world, route):
        hidden = get(world, f"default/app/{route}", world.stranger)
        missing = get(world, f"default/nothing/{route}", world.stranger)
        assert hidden.status_code == missing.status_code == 404
        assert hidden.json()["error"]["message"] == "no repository 'default/app'"

    @pytest.mark.parametrize("route", ROUTES)
    def test_anonymous_callers_are_asked_to_authenticate(self, world, route):
        answer = httpx.get(f"{world.server.url}{OCI}/default/app/{route}")
        assert answer.status_code == 401

    def test_a_stranger_cannot_remove_a_tag_of_a_private_repository(self, world):
        with world.server.api(world.stranger) as api:
            assert api.delete(f"{OCI}/default/app/tags/v1").status_code == 404

    def test_a_public_repository_is_read_by_any_signed_in_user_and_changed_by_admins(self, world):
        with world.server.api() as api:
            made = api.patch(
                "/api/v1/registry/repositories/default/charts/web", json={"visibility": "public"}
            )
        assert made.status_code == 200, made.text
        answer = get(world, "default/charts/web/tags", world.stranger)
        assert [t["name"] for t in answer.json()["items"]] == ["0.1.0"]
        with world.server.api(world.stranger) as api:
            refused = api.delete(f"{OCI}/default/charts/web/tags/0.1.0")
        assert refused.status_code == 403
        assert refused.json()["error"]["message"] == (
            "only admins of 'default/charts/web''s project may remove its tags"
        )


def raw_status(server: RegistryServer, target: str) -> int:
    """Send a GET as bytes (httpx would resolve '..' and re-encode) and return the status."""
    parts = urlsplit(server.url)
    head = (
        f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Authorization: Bearer {server.token}\r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(head.encode("latin-1"))
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return int(data.split(b" ", 2)[1])


HOSTILE = [
    (f"{OCI}/default/../app/tags", 422),
    (f"{OCI}/default/%2e%2e/app/tags", 422),
    (f"{OCI}/../../etc/passwd/images", 422),
    (f"{OCI}/default/app/manifests/..%2f..%2fetc", 404),  # no route takes a '/' in a reference
    (f"{OCI}/default/a%00b/tags", 400),
    (f"{OCI}/default/app/manifests/v1%00", 400),
    (f"{OCI}/default/{'a' * 5000}/tags", 422),
    (f"{OCI}/default/app/manifests/{'t' * 5000}", 422),
    (f"{OCI}/default/app/manifests/sha256:{'z' * 64}", 422),
    (f"{OCI}/default/app/manifests/sha512:{'0' * 128}", 422),
    (f"{OCI}/Default/App/tags", 422),
    (f"{OCI}/app/tags", 422),
    (f"{OCI}/default/app/tags?offset={'9' * 30}", 422),
    (f"{OCI}/default/app/tags?offset=-1", 422),
    (f"{OCI}/default/app/images?limit={'9' * 30}", 422),
    (f"{OCI}/default/app/images?limit=0", 422),
    (f"{OCI}/default/app/images?offset=1e3", 422),
    (f"{OCI}/default/unknown/tags", 404),
]


class TestHostileInput:
    @pytest.mark.parametrize(("target", "status"), HOSTILE)
    def test_a_bad_name_reference_or_page_gets_a_clear_4xx(self, world, target, status):
        assert raw_status(world.server, target) == status

    @pytest.mark.parametrize(
        "target",
        [
            f"{OCI}/default/../app/tags/v1",
            f"{OCI}/default/app/tags/..",
            f"{OCI}/default/app/tags/{'t' * 5000}",
            f"{OCI}/default/app/tags/-bad",
        ],
    )
    def test_removing_a_bad_tag_is_422_and_removes_nothing(self, world, target):
        parts = urlsplit(world.server.url)
        head = (
            f"DELETE {target} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            f"Authorization: Bearer {world.server.token}\r\nConnection: close\r\n\r\n"
        )
        with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
            sock.sendall(head.encode("latin-1"))
            data = sock.recv(65536)
        assert int(data.split(b" ", 2)[1]) == 422
        assert len(get(world, "default/app/tags").json()["items"]) >= 3

    def test_a_bad_name_is_explained_briefly(self, world):
        answer = get(world, f"default/{'x' * 5000}/tags")
        assert answer.status_code == 422
        assert len(answer.text) < 500
        assert "<project>/<name>" in answer.json()["error"]["message"]
