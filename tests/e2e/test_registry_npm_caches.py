"""Packuments are cached per server process: a publish, dist-tag or deprecation made through one
process must show in the other at once (two servers on one database), with the real npm CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.registry_fixtures import RegistryServer, npm_pack, run_npm, two_processes, write_npmrc

CORGI = "application/vnd.npm.install-v1+json"


@pytest.fixture(scope="module")
def servers(pg_server, template_url, tmp_path_factory) -> Iterator[tuple[RegistryServer, ...]]:
    del template_url
    with two_processes(pg_server, tmp_path_factory.mktemp("home"), "js", "npm") as pair:
        yield pair


def npm(server: RegistryServer, folder: Path, *args: str) -> str:
    write_npmrc(folder, f"{server.url}/npm/js/", server.token)
    return run_npm(folder, *args).stdout


def packument(server: RegistryServer, name: str, accept: str = CORGI) -> dict[str, object]:
    answer = httpx.get(
        f"{server.url}/npm/js/{name}",
        headers={"Authorization": f"Bearer {server.token}", "Accept": accept},
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_changes_through_one_process_show_in_the_other_at_once(servers, tmp_path):
    first, second = servers
    npm(first, tmp_path, "publish", str(npm_pack(tmp_path, "shared", "1.0.0")))
    for accept in (CORGI, "application/json"):  # both variants are now cached by the second
        assert list(packument(second, "shared", accept)["versions"]) == ["1.0.0"]
    npm(first, tmp_path, "publish", str(npm_pack(tmp_path, "shared", "1.1.0")))
    assert list(packument(second, "shared")["versions"]) == ["1.0.0", "1.1.0"]
    assert packument(second, "shared", "application/json")["dist-tags"] == {"latest": "1.1.0"}
    npm(first, tmp_path, "dist-tag", "add", "shared@1.0.0", "stable")
    npm(first, tmp_path, "deprecate", "shared@1.0.0", "use 1.1")
    seen = packument(second, "shared")
    assert seen["dist-tags"] == {"latest": "1.1.0", "stable": "1.0.0"}
    assert seen["versions"]["1.0.0"]["deprecated"] == "use 1.1"  # type: ignore[index]
    viewed = json.loads(npm(second, tmp_path, "view", "shared", "dist-tags", "--json"))
    assert viewed == {"latest": "1.1.0", "stable": "1.0.0"}
