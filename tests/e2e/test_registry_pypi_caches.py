"""Index pages are cached per server process: a change made through one process must show in
the other at once (two servers on one database, as behind a load balancer), with real clients."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.registry_fixtures import (
    RegistryServer,
    build_wheel,
    index_url,
    run_client,
    twine_upload,
    two_processes,
)

JSON = "application/vnd.pypi.simple.v1+json"


@pytest.fixture(scope="module")
def servers(pg_server, template_url, tmp_path_factory) -> Iterator[tuple[RegistryServer, ...]]:
    del template_url
    with two_processes(pg_server, tmp_path_factory.mktemp("home"), "py", "pypi") as pair:
        yield pair


def page(server: RegistryServer, project: str, **headers: str) -> httpx.Response:
    return httpx.get(
        f"{server.url}/pypi/py/simple/{project}/",
        headers={"Authorization": f"Bearer {server.token}", "Accept": JSON, **headers},
    )


def versions(server: RegistryServer, project: str) -> list[str]:
    answer = page(server, project)
    assert answer.status_code == 200, answer.text
    return answer.json()["versions"]


def yanked(server: RegistryServer, project: str) -> dict[str, object]:
    return {f["filename"]: f["yanked"] for f in page(server, project).json()["files"]}


def upload(server: RegistryServer, home: Path, *files: Path) -> None:
    done = twine_upload(f"{server.url}/pypi/py/legacy/", server.token, home, *files)
    assert done.returncode == 0, done.stdout + done.stderr


def pip_download(server: RegistryServer, home: Path, requirement: str) -> list[str]:
    out = home / "downloaded"
    pip = [sys.executable, "-m", "pip", "download", "--no-cache-dir", "--no-deps", "-d", str(out)]
    run_client([*pip, "--index-url", index_url(server), requirement], home)
    return sorted(p.name for p in out.iterdir())


class TestTwoProcesses:
    def test_a_version_published_through_one_process_is_listed_by_the_other_at_once(
        self, servers, tmp_path
    ):
        first, second = servers
        upload(first, tmp_path, build_wheel(tmp_path, "cached", "1.0"))
        assert versions(second, "cached") == ["1.0"]  # the second process caches this page
        assert versions(first, "cached") == ["1.0"]
        upload(first, tmp_path, build_wheel(tmp_path, "cached", "1.1"))
        assert versions(second, "cached") == ["1.0", "1.1"]
        assert pip_download(second, tmp_path, "cached") == ["cached-1.1-py3-none-any.whl"]

    def test_a_yank_through_one_process_shows_in_the_other_and_changes_its_etag(
        self, servers, tmp_path
    ):
        first, second = servers
        upload(first, tmp_path, build_wheel(tmp_path, "yanky", "1.0"))
        upload(first, tmp_path, build_wheel(tmp_path, "yanky", "2.0"))
        before = page(second, "yanky")
        assert yanked(second, "yanky")["yanky-2.0-py3-none-any.whl"] is False
        with first.api() as api:
            answer = api.post(
                "/api/v1/registry/repositories/py/packages/yanky/versions/2.0/yank",
                json={"reason": "broken"},
            )
            assert answer.status_code == 204, answer.text
        again = page(second, "yanky", **{"If-None-Match": before.headers["etag"]})
        assert again.status_code == 200
        assert again.json()["files"][1]["yanked"] == "broken"
        assert pip_download(second, tmp_path, "yanky") == ["yanky-1.0-py3-none-any.whl"]

    def test_a_version_deleted_through_one_process_disappears_from_the_other(
        self, servers, tmp_path
    ):
        first, second = servers
        upload(first, tmp_path, build_wheel(tmp_path, "brief", "1.0"))
        upload(first, tmp_path, build_wheel(tmp_path, "brief", "1.1"))
        assert versions(first, "brief") == ["1.0", "1.1"]
        with second.api() as api:
            gone = api.delete("/api/v1/registry/repositories/py/packages/brief/versions/1.1")
            assert gone.status_code == 204, gone.text
        assert versions(first, "brief") == ["1.0"]
        with second.api() as api:
            assert api.delete("/api/v1/registry/repositories/py/packages/brief").status_code == 204
        assert page(first, "brief").status_code == 404
