"""The registry's REST API, access rules and bad input, over real sockets with raw HTTP."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import os
import socket
import subprocess
import sys
import tarfile
import threading
import time
from datetime import timedelta
from pathlib import Path

import httpx
import psycopg
import pytest

from devflow.core.blobs import FileBlobStore
from devflow.core.db import create_engine, session_factory, unit_of_work
from devflow.registry.gc import collect_garbage
from devflow.settings import load_settings
from tests.cli_inprocess import run_cli
from tests.registry_fixtures import RegistryServer, build_wheel, running_server

LIMIT = 256 * 1024


@pytest.fixture(scope="module")
def server(pg_server, template_url, tmp_path_factory):
    del template_url
    home = tmp_path_factory.mktemp("home")
    with running_server(pg_server, home, max_upload_bytes=LIMIT) as running:
        running.create_repo("priv", "pypi", "private")
        running.create_repo("pub", "pypi", "public")
        running.create_repo("inner", "pypi", "internal")
        running.create_repo("js", "npm", "private")
        yield running


@pytest.fixture(scope="module")
def outsider(server) -> str:
    """A signed-in user who is not a member of the `default` project."""
    return server.make_user("outsider")


@pytest.fixture(scope="module")
def reader(server) -> str:
    """A member with the read role."""
    return server.make_user("reader", project_role="read")


def basic(token: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"__token__:{token}".encode()).decode()}


def upload(
    server: RegistryServer,
    repo: str,
    path: Path | None = None,
    *,
    token: str | None = None,
    filename: str | None = None,
    content: bytes | None = None,
    **fields: str,
) -> httpx.Response:
    data = content if content is not None else path.read_bytes()  # type: ignore[union-attr]
    name = filename or path.name  # type: ignore[union-attr]
    stem = name.split("-")
    form = {
        ":action": "file_upload",
        "protocol_version": "1",
        "name": stem[0],
        "version": stem[1].removesuffix(".tar.gz") if len(stem) > 1 else "",
        "filetype": "bdist_wheel",
        "sha256_digest": hashlib.sha256(data).hexdigest(),
        **fields,
    }
    return httpx.post(
        f"{server.url}/pypi/{repo}/legacy/",
        data=form,
        files={"content": (name, data, "application/octet-stream")},
        headers=basic(token or server.token),
        timeout=60,
    )


def temporaries(server: RegistryServer) -> list[Path]:
    tmp = server.home / "blobs" / "tmp"
    return list(tmp.iterdir()) if tmp.is_dir() else []


def project_files(server: RegistryServer, repo: str, project: str) -> httpx.Response:
    return httpx.get(
        f"{server.url}/pypi/{repo}/simple/{project}/",
        headers={**basic(server.token), "Accept": "application/vnd.pypi.simple.v1+json"},
    )


class TestRepositories:
    def test_create_list_show_update_and_delete(self, server):
        with server.api() as api:
            created = api.post(
                "/api/v1/registry/repositories",
                json={"name": "scratch", "format": "npm", "description": "tmp"},
            )
            assert created.status_code == 201
            assert created.json()["url"] == f"{server.url}/npm/scratch/"
            assert created.json()["visibility"] == "private"
            names = [r["name"] for r in api.get("/api/v1/registry/repositories").json()["items"]]
            assert "scratch" in names
            patched = api.patch(
                "/api/v1/registry/repositories/scratch", json={"visibility": "internal"}
            )
            assert patched.json()["visibility"] == "internal"
            assert api.delete("/api/v1/registry/repositories/scratch").status_code == 204
            assert api.get("/api/v1/registry/repositories/scratch").status_code == 404

    def test_names_are_unique_across_the_instance(self, server):
        with server.api() as api:
            again = api.post(
                "/api/v1/registry/repositories", json={"name": "priv", "format": "npm"}
            )
        assert again.status_code == 409
        assert "already exists" in again.json()["error"]["message"]

    @pytest.mark.parametrize(
        ("body", "words"),
        [
            ({"name": "../x", "format": "pypi"}, "name"),
            ({"name": "Upper", "format": "pypi"}, "name"),
            ({"name": "ok", "format": "rubygems"}, "format"),
            ({"name": "ok", "format": "cargo"}, "not available yet"),
            ({"name": "ok", "format": "pypi", "kind": "proxy"}, "not available yet"),
        ],
    )
    def test_bad_repository_definitions_are_explained(self, server, body, words):
        with server.api() as api:
            answer = api.post("/api/v1/registry/repositories", json=body)
        assert answer.status_code == 422
        assert words in answer.json()["error"]["message"]

    def test_only_project_admins_create_repositories(self, server, reader):
        with server.api(reader) as api:
            answer = api.post(
                "/api/v1/registry/repositories", json={"name": "r2", "format": "pypi"}
            )
        assert answer.status_code == 403

    def test_an_outsider_does_not_see_private_repositories(self, server, outsider):
        with server.api(outsider) as api:
            names = [r["name"] for r in api.get("/api/v1/registry/repositories").json()["items"]]
            assert sorted(names) == ["inner", "pub"]
            assert api.get("/api/v1/registry/repositories/priv").status_code == 404


@pytest.fixture(scope="module")
def secret_wheel(server, tmp_path_factory):
    wheel = build_wheel(tmp_path_factory.mktemp("w"), "secretpkg", "1.0")
    assert upload(server, "priv", wheel).status_code == 200
    return wheel


class TestAccess:
    def test_anonymous_private_reads_get_401_with_a_basic_challenge(self, server, secret_wheel):
        for path in ("/pypi/priv/simple/", f"/pypi/priv/files/{secret_wheel.name}"):
            answer = httpx.get(server.url + path)
            assert answer.status_code == 401
            assert answer.headers["www-authenticate"] == 'Basic realm="DevFlow PyPI"'

    def test_a_missing_repository_looks_the_same_as_a_private_one_to_strangers(self, server):
        assert httpx.get(f"{server.url}/pypi/nope/simple/").status_code == 401

    def test_a_bad_token_is_refused(self, server):
        answer = httpx.get(f"{server.url}/pypi/pub/simple/", headers=basic("dfl_" + "x" * 43))
        assert answer.status_code == 401
        assert "unknown token" in answer.text

    def test_an_outsider_cannot_tell_a_private_package_exists(self, server, outsider, secret_wheel):
        for path in ("/pypi/priv/simple/secretpkg/", f"/pypi/priv/files/{secret_wheel.name}"):
            assert httpx.get(server.url + path, headers=basic(outsider)).status_code == 404

    def test_the_same_blob_is_not_reachable_through_a_repository_without_the_file(
        self, server, outsider, secret_wheel
    ):
        answer = httpx.get(
            f"{server.url}/pypi/pub/files/{secret_wheel.name}", headers=basic(outsider)
        )
        assert answer.status_code == 404

    def test_internal_repositories_admit_any_signed_in_user(self, server, outsider):
        assert (
            httpx.get(f"{server.url}/pypi/inner/simple/", headers=basic(outsider)).status_code
            == 200
        )
        assert httpx.get(f"{server.url}/pypi/inner/simple/").status_code == 401

    def test_readers_cannot_publish(self, server, reader, tmp_path):
        wheel = build_wheel(tmp_path, "readonly", "1.0")
        answer = upload(server, "priv", wheel, token=reader)
        assert answer.status_code == 403
        assert "write role" in answer.text

    def test_a_token_without_the_publish_scope_cannot_publish(self, server, tmp_path):
        with server.api() as api:
            created = api.post(
                "/api/v1/tokens", json={"name": "ro", "scopes": ["registry:read"]}
            ).json()
        wheel = build_wheel(tmp_path, "scoped", "1.0")
        answer = upload(server, "priv", wheel, token=created["token"])
        assert answer.status_code == 403
        assert "registry:publish" in answer.text


class TestBadUploads:
    def test_an_oversized_upload_is_refused_and_leaves_nothing(self, server):
        answer = upload(
            server, "priv", filename="big-1.0-py3-none-any.whl", content=b"x" * (LIMIT + 1)
        )
        assert answer.status_code == 413
        assert "MAX_UPLOAD_BYTES" in answer.text
        assert temporaries(server) == []
        assert project_files(server, "priv", "big").status_code == 404

    @pytest.mark.parametrize(
        "filename", ["../evil-1.0.tar.gz", "/abs-1.0.tar.gz", "a/b-1.0.tar.gz", "x-1.0.exe"]
    )
    def test_unsafe_or_foreign_file_names_are_refused(self, server, filename):
        answer = upload(server, "priv", filename=filename, content=b"x", name="evil", version="1.0")
        assert answer.status_code == 400
        assert "file name" in answer.text or "accepted" in answer.text

    def test_a_digest_mismatch_publishes_nothing(self, server, tmp_path):
        wheel = build_wheel(tmp_path, "mismatch", "1.0")
        answer = upload(server, "priv", wheel, sha256_digest="0" * 64)
        assert answer.status_code == 400
        assert "digest mismatch" in answer.text
        assert project_files(server, "priv", "mismatch").status_code == 404
        assert temporaries(server) == []

    def test_a_wheel_whose_metadata_names_another_project_is_refused(self, server, tmp_path):
        wheel = build_wheel(tmp_path, "honest", "1.0", metadata_name="impostor")
        answer = upload(server, "priv", wheel)
        assert answer.status_code == 400
        assert "METADATA says impostor" in answer.text

    def test_a_file_that_does_not_match_the_form_is_refused(self, server, tmp_path):
        wheel = build_wheel(tmp_path, "named", "1.0")
        answer = upload(server, "priv", wheel, name="other")
        assert answer.status_code == 400
        assert "does not belong to other" in answer.text

    def test_a_name_that_breaks_normalization_is_refused(self, server):
        answer = upload(
            server, "priv", filename="ok-1.0.tar.gz", content=b"x", name="-bad-", version="1.0"
        )
        assert answer.status_code == 400
        assert "not a valid project name" in answer.text

    def test_a_broken_archive_is_refused(self, server):
        answer = upload(server, "priv", filename="broken-1.0.tar.gz", content=b"not a tarball")
        assert answer.status_code == 400
        assert "not a valid archive" in answer.text

    def test_a_body_that_is_not_multipart_is_refused(self, server):
        answer = httpx.post(
            f"{server.url}/pypi/priv/legacy/", content=b"{}", headers=basic(server.token)
        )
        assert answer.status_code == 400
        assert "multipart/form-data" in answer.text

    def test_a_truncated_upload_publishes_nothing_and_leaves_no_temporary(self, server, tmp_path):
        wheel = build_wheel(tmp_path, "truncated", "1.0").read_bytes()
        boundary = "b0undary"
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="name"\r\n\r\ntruncated\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="version"\r\n\r\n1.0\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="content"; '
            f'filename="truncated-1.0-py3-none-any.whl"\r\n\r\n'
        ).encode()
        body = head + wheel + f"\r\n--{boundary}--\r\n".encode()
        host, port = server.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port))) as sock:
            auth = basic(server.token)["Authorization"]
            sock.sendall(
                (
                    f"POST /pypi/priv/legacy/ HTTP/1.1\r\nHost: {host}\r\nAuthorization: {auth}\r\n"
                    f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n"
                ).encode()
                + body[: len(body) // 2]
            )
        deadline = time.monotonic() + 20
        while temporaries(server) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert temporaries(server) == []
        assert project_files(server, "priv", "truncated").status_code == 404

    def test_two_clients_uploading_the_same_file_at_once_one_wins(self, server, tmp_path):
        wheel = build_wheel(tmp_path, "racer", "1.0")
        statuses: list[int] = []
        threads = [
            threading.Thread(
                target=lambda: statuses.append(upload(server, "priv", wheel).status_code)
            )
            for _ in range(4)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(statuses) == [200, 409, 409, 409]
        files = project_files(server, "priv", "racer").json()["files"]
        assert [f["filename"] for f in files] == [wheel.name]


def npm_publish_body(name: str, version: str, tarball: bytes, **dist: str) -> dict:
    return {
        "_id": name,
        "name": name,
        "dist-tags": {"latest": version},
        "versions": {
            version: {
                "name": name,
                "version": version,
                "dist": {
                    "shasum": dist.get(
                        "shasum", hashlib.sha1(tarball, usedforsecurity=False).hexdigest()
                    ),
                    "integrity": dist.get(
                        "integrity",
                        "sha512-" + base64.b64encode(hashlib.sha512(tarball).digest()).decode(),
                    ),
                },
            }
        },
        "_attachments": {
            f"{name}-{version}.tgz": {
                "content_type": "application/octet-stream",
                "data": base64.b64encode(tarball).decode(),
                "length": len(tarball),
            }
        },
    }


def npm_tarball(name: str, version: str) -> bytes:
    data = json.dumps({"name": name, "version": version}).encode()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        info = tarfile.TarInfo("package/package.json")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


class TestBadNpmPublishes:
    def put(self, server, name, body):
        return httpx.put(
            f"{server.url}/npm/js/{name.replace('/', '%2f')}",
            json=body,
            headers={"Authorization": f"Bearer {server.token}"},
            timeout=60,
        )

    def test_a_tarball_that_is_not_gzip_is_refused(self, server):
        body = npm_publish_body("plain", "1.0.0", b"just text")
        answer = self.put(server, "plain", body)
        assert answer.status_code == 400
        assert "not gzip" in answer.json()["error"]

    def test_a_shasum_mismatch_is_refused(self, server):
        tarball = npm_tarball("shady", "1.0.0")
        answer = self.put(
            server, "shady", npm_publish_body("shady", "1.0.0", tarball, shasum="0" * 40)
        )
        assert answer.status_code == 400
        assert "shasum mismatch" in answer.json()["error"]

    def test_a_tarball_for_another_package_is_refused(self, server):
        tarball = npm_tarball("someone-else", "1.0.0")
        answer = self.put(server, "mine", npm_publish_body("mine", "1.0.0", tarball))
        assert answer.status_code == 400
        assert "someone-else@1.0.0" in answer.json()["error"]

    @pytest.mark.parametrize("name", ["..%2f..%2fetc", "UPPER", "@scope", "a b"])
    def test_invalid_names_are_refused(self, server, name):
        answer = httpx.put(
            f"{server.url}/npm/js/{name}",
            json={},
            headers={"Authorization": f"Bearer {server.token}"},
        )
        assert answer.status_code == 400

    def test_two_publishes_of_one_version_at_once_one_wins(self, server):
        tarball = npm_tarball("contested", "1.0.0")
        body = npm_publish_body("contested", "1.0.0", tarball)
        statuses: list[int] = []
        threads = [
            threading.Thread(
                target=lambda: statuses.append(self.put(server, "contested", body).status_code)
            )
            for _ in range(4)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(statuses) == [201, 409, 409, 409]


class TestHousekeeping:
    def test_yank_delete_gc_stats_and_events(self, server, tmp_path):
        wheel = build_wheel(tmp_path, "ephemeral", "1.0")
        assert upload(server, "priv", wheel).status_code == 200
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        blob_path = FileBlobStore(server.home / "blobs").path_of(digest)
        assert blob_path.read_bytes() == wheel.read_bytes()
        base = "/api/v1/registry/repositories/priv/packages/ephemeral/versions/1.0"
        with server.api() as api:
            assert api.post(base + "/yank", json={"reason": "bad"}).status_code == 204
            before = api.get("/api/v1/registry/stats", params={"repository": "priv"}).json()
            assert api.delete(base).status_code == 204
            after = api.get("/api/v1/registry/stats", params={"repository": "priv"}).json()
            assert after["repositories"][0]["files"] == before["repositories"][0]["files"] - 1
            dry = api.post("/api/v1/registry/gc", json={"dry_run": True}).json()
        assert dry["dry_run"] is True
        assert dry["blobs_removed"] + dry["kept_in_grace"] >= 2  # the wheel and its METADATA
        assert blob_path.exists()  # a dry run removes nothing
        report = asyncio.run(self.sweep(server, grace=timedelta(0)))
        assert report.blobs_removed >= 2
        assert not blob_path.exists()
        with psycopg.connect(server.db_url) as conn:
            types = [
                r[0]
                for r in conn.execute(
                    "SELECT type FROM event WHERE payload->>'package' = 'ephemeral' ORDER BY id"
                )
            ]
        assert types == [
            "registry.package.published",
            "registry.version.yanked",
            "registry.version.deleted",
        ]

    async def sweep(self, server, grace):
        settings = load_settings(database_url=server.db_url)
        engine = create_engine(server.db_url, settings.database)
        try:
            async with unit_of_work(session_factory(engine)) as session:
                return await collect_garbage(
                    session, store=FileBlobStore(server.home / "blobs"), grace=grace, dry_run=False
                )
        finally:
            await engine.dispose()

    def test_gc_collects_the_temporary_object_of_a_crashed_upload(self, server):
        crash = (
            "import asyncio, os, sys\n"
            "from pathlib import Path\n"
            "from devflow.core.blobs import FileBlobStore\n"
            "async def main():\n"
            "    writer = await FileBlobStore(Path(sys.argv[1])).begin()\n"
            "    await writer.write(b'half an upload' * 100_000)\n"
            "    os._exit(1)  # the process dies in the middle of the upload\n"
            "asyncio.run(main())\n"
        )
        died = subprocess.run(
            [sys.executable, "-c", crash, str(server.home / "blobs")], check=False, timeout=60
        )
        assert died.returncode == 1
        assert len(temporaries(server)) == 1
        kept = asyncio.run(self.sweep(server, grace=timedelta(hours=1)))
        assert kept.temporaries_removed == 0  # an upload that may still be running is spared
        report = asyncio.run(self.sweep(server, grace=timedelta(0)))
        assert report.temporaries_removed == 1
        assert temporaries(server) == []

    def test_gc_keeps_young_unreferenced_blobs_and_referenced_ones(self, server, tmp_path):
        keep = build_wheel(tmp_path, "keeper", "1.0")
        assert upload(server, "priv", keep).status_code == 200
        report = asyncio.run(self.sweep(server, grace=timedelta(hours=1)))
        assert report.blobs_removed == 0
        digest = hashlib.sha256(keep.read_bytes()).hexdigest()
        assert FileBlobStore(server.home / "blobs").path_of(digest).exists()

    def test_only_project_admins_delete_versions(self, server, tmp_path):
        writer = server.make_user("writer", project_role="write")
        wheel = build_wheel(tmp_path, "keepsake", "1.0")
        assert upload(server, "priv", wheel, token=writer).status_code == 200
        with server.api(writer) as api:
            path = "/api/v1/registry/repositories/priv/packages/keepsake/versions/1.0"
            answer = api.delete(path)
        assert answer.status_code == 403
        assert "yank or deprecate" in answer.json()["error"]["message"]

    def test_downloads_are_counted(self, server, tmp_path):
        wheel = build_wheel(tmp_path, "popular", "1.0")
        assert upload(server, "pub", wheel).status_code == 200
        for _ in range(3):
            assert httpx.get(f"{server.url}/pypi/pub/files/{wheel.name}").status_code == 200
        deadline = time.monotonic() + 20
        with server.api() as api:
            while time.monotonic() < deadline:
                found = api.get("/api/v1/registry/repositories/pub/packages/popular").json()
                if found["downloads"] == 3:
                    break
                time.sleep(0.2)
        assert found["downloads"] == 3
        assert found["version_list"][0]["files"][0]["downloads"] == 3

    def test_search_by_name_and_summary(self, server, tmp_path):
        wheel = build_wheel(tmp_path, "findme", "1.0", summary="a needle in the haystack")
        assert upload(server, "pub", wheel, summary="a needle in the haystack").status_code == 200
        with server.api() as api:
            by_name = api.get("/api/v1/registry/search", params={"q": "findm"}).json()["items"]
            by_summary = api.get("/api/v1/registry/search", params={"q": "needle"}).json()["items"]
        assert [p["name"] for p in by_name] == ["findme"]
        assert [p["name"] for p in by_summary] == ["findme"]


class TestCli:
    def cli(self, server, *args):
        # In this process: `devflow registry` in its own is tests/e2e/test_registry_up.py's.
        return run_cli(*args, "--url", server.url, "--token", server.token, env=dict(os.environ))

    def test_create_list_show_packages_gc_and_delete(self, server, tmp_path):
        created = self.cli(server, "registry", "create", "clirepo", "--format", "pypi", "--json")
        assert created.returncode == 0, created.stderr
        assert json.loads(created.stdout)["url"].endswith("/pypi/clirepo/simple/")
        assert json.loads(created.stdout)["upload_url"].endswith("/pypi/clirepo/legacy/")
        listed = json.loads(self.cli(server, "registry", "list", "--json").stdout)
        assert "clirepo" in [r["name"] for r in listed]
        wheel = build_wheel(tmp_path, "clipkg", "0.1")
        assert upload(server, "clirepo", wheel).status_code == 200
        packages = json.loads(self.cli(server, "registry", "packages", "clirepo", "--json").stdout)
        assert [(p["name"], p["latest"]) for p in packages] == [("clipkg", "0.1")]
        shown = json.loads(self.cli(server, "registry", "show", "clirepo", "--json").stdout)
        assert shown["stats"]["files"] == 1
        gc = self.cli(server, "registry", "gc", "--dry-run")
        assert gc.returncode == 0, gc.stderr
        assert "would remove" in gc.stdout
        duplicate = self.cli(server, "registry", "create", "clirepo", "--format", "npm")
        assert duplicate.returncode == 5
        assert "already exists" in duplicate.stderr
        deleted = self.cli(server, "registry", "delete", "clirepo", "--yes")
        assert deleted.returncode == 0, deleted.stderr

    def test_create_prints_where_to_install_from_and_where_to_publish(self, server):
        pypi = self.cli(server, "registry", "create", "cliurls", "--format", "pypi")
        assert pypi.returncode == 0, pypi.stderr
        assert f"install from:        {server.url}/pypi/cliurls/simple/\n" in pypi.stdout
        assert f"publish to:          {server.url}/pypi/cliurls/legacy/\n" in pypi.stdout
        npm = self.cli(server, "registry", "create", "cliurlsjs", "--format", "npm")
        assert npm.returncode == 0, npm.stderr
        assert f"install and publish: {server.url}/npm/cliurlsjs/\n" in npm.stdout


class TestExternalUrl:
    async def test_every_absolute_url_uses_the_configured_external_url(
        self, db_url, sessions, tmp_path
    ):
        from devflow.web import create_app
        from tests.factories import bootstrap_admin

        token = await bootstrap_admin(sessions)
        settings = load_settings(
            database_url=db_url,
            home=tmp_path / "home",
            server={"external_url": "https://pkgs.example.com/"},
        )
        app = create_app(settings)
        wheel = build_wheel(tmp_path, "extpkg", "1.0")
        auth = {"Authorization": f"Bearer {token}"}
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://internal:8000", headers=auth
            ) as api:
                created = await api.post(
                    "/api/v1/registry/repositories", json={"name": "ext", "format": "pypi"}
                )
                assert created.json()["url"] == "https://pkgs.example.com/pypi/ext/simple/"
                uploaded = await api.post(
                    "/pypi/ext/legacy/",
                    data={"name": "extpkg", "version": "1.0"},
                    files={"content": (wheel.name, wheel.read_bytes())},
                )
                assert uploaded.status_code == 200, uploaded.text
                page = await api.get(
                    "/pypi/ext/simple/extpkg/",
                    headers={"Accept": "application/vnd.pypi.simple.v1+json"},
                )
        (entry,) = page.json()["files"]
        assert entry["url"] == f"https://pkgs.example.com/pypi/ext/files/{wheel.name}"
