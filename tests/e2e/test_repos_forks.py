"""Forks against a running DevFlow, with real `git`: a fork's clone holds the source's
history, it takes pushes of its own, and a pull request from its branch merges into the
source."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator

import pytest

from tests.e2e.test_repos_git import _events, devflow, git
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
    assert fork["forked_from_id"] == source["id"]
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


def test_a_pull_request_from_a_fork_follows_its_pushes_and_merges(server, tmp_path):
    with server.api() as api:
        source = api.post(REPOS, json={"name": "lib", "readme": True}).json()
        fork = api.post(f"{REPOS}/lib/forks", json={"name": "lib-fork"}).json()
        assert fork["forked_from"] == "default/lib"
    first = _push_commit(server, tmp_path, fork["clone_url"], "c.txt", "topic")
    pulls = f"{REPOS}/lib/pulls"
    with server.api() as api:
        # The head branch is in the fork, not in the source.
        missing = api.post(pulls, json={"head": "topic", "title": "no"})
        assert missing.status_code == 422, missing.text
        stranger = api.post(REPOS, json={"name": "unrelated", "readme": True}).json()
        refused = api.post(pulls, json={"head": "main", "title": "no",
                                        "head_repository": "default/unrelated"})  # fmt: skip
        assert refused.status_code == 422, refused.text
        assert "not a fork" in refused.text
        del stranger
        opened = api.post(pulls, json={"head": "topic", "title": "from a fork",
                                       "head_repository": "default/lib-fork"})  # fmt: skip
        assert opened.status_code == 201, opened.text
        pr = opened.json()
        assert (pr["head_sha"], pr["merge_status"]) == (first, "clean")
    refs = git("ls-remote", source["clone_url"], cwd=tmp_path, token=server.token).stdout
    assert f"{first}\trefs/pull/{pr['number']}/head" in refs
    assert "refs/heads/topic" not in refs

    # A push to the fork's branch moves the pull request's head in the source.
    tree = tmp_path / "w-c.txt"
    (tree / "d.txt").write_text("d")
    git("add", "d.txt", cwd=tree)
    git("commit", "-qm", "add d.txt", cwd=tree)
    git("push", "-q", "origin", "HEAD:topic", cwd=tree, token=server.token)
    second = git("rev-parse", "HEAD", cwd=tree).stdout.strip()
    with server.api() as api:
        shown = api.get(f"{pulls}/{pr['number']}").json()
        assert shown["head_sha"] == second
        body = {"sha": second, "method": "merge", "delete_branch": True}
        merged = api.post(f"{pulls}/{pr['number']}/merge", json=body)
        assert merged.status_code == 200, merged.text
        assert api.get(f"{pulls}/{pr['number']}").json()["state"] == "merged"
    cloned = tmp_path / "merged"
    git("clone", "-q", source["clone_url"], str(cloned), cwd=tmp_path, token=server.token)
    assert (cloned / "c.txt").exists()
    assert (cloned / "d.txt").exists()
    # The fork's branch is its owners': the merge does not delete it.
    assert second in git("ls-remote", fork["clone_url"], "refs/heads/topic", cwd=tmp_path,
                         token=server.token).stdout  # fmt: skip


def test_deleting_a_fork_closes_its_pull_requests_and_keeps_them(server, tmp_path):
    with server.api() as api:
        source = api.post(REPOS, json={"name": "app", "readme": True}).json()
        fork = api.post(f"{REPOS}/app/forks", json={"name": "app-fork"}).json()
    landed = _push_commit(server, tmp_path, fork["clone_url"], "landed.txt", "landed")
    pending = _push_commit(server, tmp_path, fork["clone_url"], "pending.txt", "pending")
    pulls = f"{REPOS}/app/pulls"
    with server.api() as api:

        def open_(head: str) -> int:
            body = {"head": head, "title": head, "head_repository": "default/app-fork"}
            opened = api.post(pulls, json=body)
            assert opened.status_code == 201, opened.text
            assert opened.json()["head_repository"] == "default/app-fork"
            return int(opened.json()["number"])

        merged = open_("landed")
        merging = api.post(f"{pulls}/{merged}/merge", json={"sha": landed, "method": "merge"})
        assert merging.status_code == 200, merging.text
        pending_number = open_("pending")
        # The fork's own pull requests go with it.
        inside = api.post(f"{REPOS}/app-fork/pulls", json={"head": "pending", "title": "own"})
        assert inside.status_code == 201, inside.text

        assert api.delete(f"{REPOS}/app-fork").status_code == 204

        listed = api.get(pulls, params={"state": "all"}).json()["items"]
        assert [(p["number"], p["state"], p["head_repository"]) for p in listed] == [
            (pending_number, "closed", None),
            (merged, "merged", None),
        ]
        shown = api.get(f"{pulls}/{pending_number}").json()
        assert (shown["head"], shown["head_sha"]) == ("pending", pending)
        assert shown["closed_at"] is not None
        reopened = api.post(f"{pulls}/{pending_number}/reopen")
        assert reopened.status_code == 409
        assert "was deleted" in reopened.json()["error"]["message"]
        kept = api.get(f"{pulls}/{merged}").json()
        assert (kept["state"], kept["merged_by"]) == ("merged", "admin")
    # The closed one's commits stay reachable in the source.
    refs = git("ls-remote", source["clone_url"], cwd=tmp_path, token=server.token).stdout
    assert f"{pending}\trefs/pull/{pending_number}/head" in refs
    closed = [e for e in _events(server, "pull_request.closed") if e["repository"] == "app"]
    assert [(e["number"], e["state"], e["actor"]) for e in closed] == [
        (pending_number, "closed", "admin")
    ]
    assert "default/app-fork was deleted" in closed[0]["note"]
    assert not [e for e in _events(server, "pull_request.closed")
                if e["repository"] == "app-fork"]  # fmt: skip
