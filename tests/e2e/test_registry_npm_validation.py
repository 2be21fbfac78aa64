"""npm publishes with versions, names and dist-tags that npm refuses are refused with a 400 that
says what to fix, and leave nothing behind: no package, version, tag or blob."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from tests.registry_fixtures import (
    RegistryServer,
    npm_pack,
    npm_tarball,
    run_npm,
    running_server,
    write_npmrc,
)
from tests.registry_fixtures import npm_document as document


@pytest.fixture(scope="module")
def server(pg_server, template_url, tmp_path_factory):
    del template_url
    with running_server(pg_server, tmp_path_factory.mktemp("home")) as running:
        running.create_repo("js", "npm")
        yield running


@pytest.fixture(scope="module")
def workspace(server, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("npm-work")
    write_npmrc(folder, registry(server), server.token)
    return folder


def registry(server: RegistryServer) -> str:
    return f"{server.url}/npm/js/"


def put(server: RegistryServer, name: str, body: object) -> httpx.Response:
    with server.api() as api:
        return api.put(f"/npm/js/{quote(name, safe='@')}", json=body)


def packument(server: RegistryServer, name: str) -> httpx.Response:
    with server.api() as api:
        return api.get(f"/npm/js/{quote(name, safe='@')}")


def blob_files(server: RegistryServer) -> list[Path]:
    return sorted(p for p in (server.home / "blobs").rglob("*") if p.is_file())


def refused(answer: httpx.Response, *words: str) -> str:
    """Check a 400 in npm's error format and return its message."""
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert body["error"] == body["reason"]
    for word in words:
        assert word in body["error"]
    return body["error"]


class TestVersions:
    @pytest.mark.parametrize(
        ("version", "says"),
        [
            ("../../x", "MAJOR.MINOR.PATCH"),
            ("1.0", "MAJOR.MINOR.PATCH"),
            ("1.0.0-01", "MAJOR.MINOR.PATCH"),
            ("latest", "MAJOR.MINOR.PATCH"),
            ("1.0.0.0", "MAJOR.MINOR.PATCH"),
            ("v1.0.0", "write it as '1.0.0'"),
            ("1.0.0 ", "write it as '1.0.0'"),
        ],
    )
    def test_a_version_that_is_not_semver_is_refused_and_nothing_is_stored(
        self, server, version, says
    ):
        blobs = blob_files(server)
        refused(put(server, "odd", document("odd", version)), repr(version), says)
        assert packument(server, "odd").status_code == 404
        assert blob_files(server) == blobs

    def test_a_bad_version_of_an_existing_package_leaves_its_packument_unchanged(self, server):
        assert put(server, "kept", document("kept", "1.0.0")).status_code == 201
        before = packument(server, "kept").json()
        blobs = blob_files(server)
        refused(put(server, "kept", document("kept", "../../x")), "'../../x'")
        assert packument(server, "kept").json() == before
        assert blob_files(server) == blobs

    def test_a_version_too_long_to_store_is_refused(self, server):
        version = "1.0.0-" + "a" * 200
        refused(put(server, "long", document("long", version)), "longer than 128")
        assert packument(server, "long").status_code == 404

    def test_a_name_and_version_too_long_together_for_a_file_name_are_refused(self, server):
        name, version = "n" * 200, "1.0.0-" + "a" * 60
        refused(put(server, name, document(name, version)), "longer than 255")
        assert packument(server, name).status_code == 404


class TestNames:
    @pytest.mark.parametrize(
        ("name", "says"),
        [
            ("a~b", "special characters"),
            ("@scope/it(s)", "special characters"),
            ("@scope/.hidden", "cannot start with '.'"),
            ("node_modules", "reserved"),
        ],
    )
    def test_a_name_npm_refuses_for_new_packages_is_refused(self, server, name, says):
        blobs = blob_files(server)
        refused(put(server, name, document(name, "1.0.0")), says)
        assert packument(server, name).status_code in {400, 404}
        assert blob_files(server) == blobs

    @pytest.mark.parametrize("path", ["Upper", "_under", ".dot", "a%20b", "a%24b"])
    def test_a_path_with_an_invalid_name_is_refused(self, server, path):
        with server.api() as api:
            answer = api.put(f"/npm/js/{path}", json=document("x", "1.0.0"))
        refused(answer, "not a valid npm package name")


class TestDistTags:
    @pytest.mark.parametrize(
        ("tag", "says"),
        [
            ("1.x", "valid SemVer version or range"),
            ("v2", "valid SemVer version or range"),
            ("1.0.0", "valid SemVer version or range"),
            ("*", "valid SemVer version or range"),
            ("", "cannot be empty"),
            ("a b", "escaping in a URL"),
            ("next/1", "escaping in a URL"),
        ],
    )
    def test_publishing_under_a_tag_npm_refuses_stores_nothing(self, server, tag, says):
        blobs = blob_files(server)
        refused(put(server, "tagged", document("tagged", "1.0.0", {tag: "1.0.0"})), says)
        assert packument(server, "tagged").status_code == 404
        assert blob_files(server) == blobs

    def test_dist_tags_that_are_not_an_object_of_versions_are_refused(self, server):
        refused(put(server, "tagged", document("tagged", "1.0.0", ["latest"])), "dist-tags")  # type: ignore[arg-type]
        refused(put(server, "tagged", document("tagged", "1.0.0", {"latest": 1})), "dist-tags")  # type: ignore[dict-item]
        assert packument(server, "tagged").status_code == 404

    @pytest.mark.parametrize("tag", ["1.x", "v1", "~1.2", "x"])
    def test_adding_a_tag_that_is_a_range_is_refused_and_the_tags_are_unchanged(self, server, tag):
        assert put(server, "ranged", document("ranged", "1.0.0")).status_code in {201, 409}
        with server.api() as api:
            answer = api.put(f"/npm/js/-/package/ranged/dist-tags/{tag}", json="1.0.0")
            refused(answer, "valid SemVer version or range")
            assert api.get("/npm/js/-/package/ranged/dist-tags").json() == {"latest": "1.0.0"}

    def test_a_tag_npm_accepts_is_added(self, server):
        assert put(server, "named", document("named", "1.0.0")).status_code == 201
        with server.api() as api:
            answer = api.put("/npm/js/-/package/named/dist-tags/release-1.x", json="1.0.0")
            assert answer.status_code == 201, answer.text
            tags = api.get("/npm/js/-/package/named/dist-tags").json()
        assert tags == {"latest": "1.0.0", "release-1.x": "1.0.0"}


class TestBuildMetadataAndPrereleases:
    def test_npm_publishes_a_version_with_build_metadata_as_its_release(self, server, workspace):
        packed = npm_pack(workspace, "built", "1.0.0+build.7")
        run_npm(workspace, "publish", str(packed))
        view = json.loads(run_npm(workspace, "view", "built", "--json").stdout)
        assert view["version"] == "1.0.0"
        assert view["dist-tags"] == {"latest": "1.0.0"}

    def test_npm_publishes_and_installs_a_prerelease_under_its_tag(self, server, workspace):
        run_npm(workspace, "publish", str(npm_pack(workspace, "pre", "2.0.0-rc.1")), "--tag", "rc")
        assert run_npm(workspace, "view", "pre@rc", "version").stdout.strip() == "2.0.0-rc.1"
        assert run_npm(workspace, "dist-tag", "ls", "pre").stdout.strip() == "rc: 2.0.0-rc.1"

    def test_a_document_version_with_build_metadata_is_kept_and_its_tarball_served(self, server):
        assert put(server, "meta", document("meta", "1.0.0-beta.2+sha.5114f85")).status_code == 201
        body = packument(server, "meta").json()
        assert body["dist-tags"] == {"latest": "1.0.0-beta.2+sha.5114f85"}
        url = body["versions"]["1.0.0-beta.2+sha.5114f85"]["dist"]["tarball"]
        with server.api() as api:
            answer = api.get(url)
        assert answer.status_code == 200
        assert answer.content == npm_tarball("meta", "1.0.0-beta.2+sha.5114f85")
