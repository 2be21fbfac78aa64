"""Forks against a running DevFlow, with real `git`: a fork's clone holds the source's
history, it takes pushes of its own, and a pull request from its branch merges into the
source."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator

import pytest

from tests.e2e.test_repos_git import devflow, git
from tests.registry_fixtures import RegistryServer, running_server

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
REPOS = "/api/v1/projects/default/repos"


@pytest.fixture(scope="module")
def server(pg_server, template_url, tmp_path_factory) -> Iterator[RegistryServer]:
    del template_url
    home = tmp_path_factory.mktemp("home")
    with running_server(pg_server, home) as running:
        yield running


def _push_commit(server: RegistryServer, tmp_path, url: str, name: str, branch: str) -> str:
    tree = tmp_path / f"w-{name}"
    git("clone", "-q", url, str(tree), cwd=tmp_path, token=server.token)
    git("checkout", "-qB", branch, cwd=tree)
    (tree / name).write_text(name)
    git("add", name, cwd=tree)
    git("commit", "-qm", f"add {name}", cwd=tree)
    git("push", "-q", "origin", f"HEAD:{branch}", cwd=tree, token=server.token)
    return git("rev-parse", "HEAD", cwd=tree).stdout.strip()


def test_a_fork_copies_the_history_and_remembers_its_source(server, tmp_path):
    with server.api() as api:
        source = api.post(REPOS, json={"name": "origin", "readme": True,
                                       "default_branch": "trunk"}).json()  # fmt: skip
        api.post("/api/v1/projects", json={"name": "team"})
    head = _push_commit(server, tmp_path, source["clone_url"], "a.txt", "trunk")
    made = devflow(server, "fork", "origin", "--project", "team", "--name", "mine", "--json")
    assert made.returncode == 0, made.stderr
    fork = json.loads(made.stdout)
    assert fork["forked_from"] == "default/origin"
    assert (fork["project"], fork["name"], fork["default_branch"]) == ("team", "mine", "trunk")
    assert (
        git("ls-remote", fork["clone_url"], cwd=tmp_path, token=server.token).stdout.count(head)
        == 2
    )  # HEAD and trunk
    # Its own objects: no alternates point into the source's folder.
    folder = server.home / "repos" / f"{fork['id']}.git"
    assert not (folder / "objects" / "info" / "alternates").exists()
    # It takes pushes of its own; the source does not see them.
    mine = _push_commit(server, tmp_path, fork["clone_url"], "b.txt", "trunk")
    refs = git("ls-remote", source["clone_url"], cwd=tmp_path, token=server.token).stdout
    assert mine not in refs
    with server.api() as api:
        forks = api.get(f"{REPOS}/origin/forks").json()
        assert [(f["project"], f["name"]) for f in forks] == [("team", "mine")]
        taken = api.post(f"{REPOS}/origin/forks", json={"project": "team", "name": "mine"})
        assert taken.status_code == 409
        # Deleting the source leaves the fork whole.
        assert api.delete(f"{REPOS}/origin").status_code == 204
    cloned = tmp_path / "after"
    git("clone", "-q", fork["clone_url"], str(cloned), cwd=tmp_path, token=server.token)
    assert (cloned / "b.txt").exists()
    git("fsck", "--no-progress", cwd=folder)
