"""The merge journal on real git and PostgreSQL: a merge whose process dies between its push and
the commit of its rows leaves the base branch moved and a journal row; recovery (at server start
or before the next merge) puts the branch back, and the pull request is still open and
mergeable. A normal merge leaves no journal row."""

from __future__ import annotations

import os
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, text

from devflow.repos.pulls import merging
from devflow.repos.pulls.models import MergeJournal
from devflow.repos.pulls.recovery import recover_merges
from devflow.repos.storage import Storage
from devflow.settings import load_settings
from tests.factories import api_client, bootstrap_admin, running_app

REPOS = "/api/v1/projects/default/repos"


class Died(Exception):
    """The process stops here: nothing after this point runs."""


def _git(folder: Path, *args: str, stdin: str | None = None) -> str:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("GIT_")},
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_NAME": "Ada",
        "GIT_AUTHOR_EMAIL": "ada@example.com",
        "GIT_COMMITTER_NAME": "Ada",
        "GIT_COMMITTER_EMAIL": "ada@example.com",
    }
    done = subprocess.run(["git", "--git-dir", str(folder), *args], input=stdin, env=env,
                          check=True, capture_output=True, text=True)  # fmt: skip
    return done.stdout.strip()


class Served:
    """One repository with a README on main and a `feature` branch adding a file."""

    def __init__(self, api: httpx.AsyncClient, app: FastAPI, name: str) -> None:
        self.api, self.app, self.name = api, app, name
        self.folder = Path()

    async def create(self) -> Served:
        made = await self.api.post(REPOS, json={"name": self.name, "readme": True})
        assert made.status_code == 201, made.text
        self.folder = Storage.of(self.app.state.services.settings).path(made.json()["id"])
        main = self.tip("main")
        blob = _git(self.folder, "hash-object", "-w", "--stdin", stdin="feature\n")
        listing = _git(self.folder, "ls-tree", main) + f"\n100644 blob {blob}\tfeature.txt\n"
        tree = _git(self.folder, "mktree", stdin=listing)
        commit = _git(self.folder, "commit-tree", tree, "-p", main, "-m", "add a feature")
        _git(self.folder, "update-ref", "refs/heads/feature", commit)
        opened = await self.pulls("POST", "", json={"head": "feature", "title": "Feature"})
        assert opened.status_code == 201, opened.text
        return self

    def tip(self, branch: str) -> str:
        return _git(self.folder, "rev-parse", f"refs/heads/{branch}")

    async def pulls(self, method: str, path: str, **options: Any) -> httpx.Response:
        return await self.api.request(method, f"{REPOS}/{self.name}/pulls{path}", **options)

    async def merge(self) -> httpx.Response:
        return await self.pulls("POST", "/1/merge", json={"sha": self.tip("feature")})

    async def show(self) -> dict[str, Any]:
        shown = await self.pulls("GET", "/1")
        assert shown.status_code == 200, shown.text
        return shown.json()  # type: ignore[no-any-return]

    async def journal(self) -> int:
        async with self.app.state.services.sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(MergeJournal)) or 0)


@pytest.fixture
def settings(db_url, tmp_path):
    return load_settings(database_url=db_url, home=tmp_path)


@pytest.fixture
async def app(settings, sessions) -> AsyncIterator[FastAPI]:
    async with running_app(settings) as application:
        yield application


@pytest.fixture
async def api(app, sessions) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(app, await bootstrap_admin(sessions)) as client:
        yield client


@pytest.fixture
def crash(monkeypatch):
    """Kill the merge after its push, before its rows: a killed process runs no handler either,
    so the put-back of a failed write does not run."""

    async def die(*_: object) -> None:
        raise Died

    async def no_handler(*_: object) -> None:
        return None

    monkeypatch.setattr(merging, "_record", die)
    monkeypatch.setattr(merging, "_put_back", no_handler)
    return monkeypatch


async def crashed_merge(repo: Served, crash: pytest.MonkeyPatch) -> tuple[str, str]:
    """Merge until the process dies; return the base's commit before and after."""
    old = repo.tip("main")
    died = await repo.merge()
    assert died.status_code == 500
    crash.undo()
    new = repo.tip("main")
    assert new != old  # the push landed
    assert await repo.journal() == 1
    assert (await repo.show())["state"] == "open"
    return old, new


class TestMergeJournal:
    async def test_a_normal_merge_leaves_no_journal_row(self, api, app):
        repo = await Served(api, app, "plain").create()
        done = await repo.merge()
        assert done.status_code == 200, done.text
        assert repo.tip("main") == done.json()["sha"]
        assert await repo.journal() == 0

    async def test_a_refused_merge_leaves_no_journal_row(self, api, app):
        repo = await Served(api, app, "refused").create()
        seen = repo.tip("feature")
        _git(repo.folder, "update-ref", "refs/heads/main", seen)  # the base moved: nothing to do
        refused = await repo.pulls("POST", "/1/merge", json={"sha": seen})
        assert refused.status_code == 409
        assert await repo.journal() == 0

    async def test_recovery_puts_the_base_back_and_the_pull_request_stays_mergeable(
        self, api, app, crash
    ):
        repo = await Served(api, app, "crashed").create()
        old, _ = await crashed_merge(repo, crash)
        assert await recover_merges(app.state.services) == 1
        assert repo.tip("main") == old
        assert await repo.journal() == 0
        shown = await repo.show()
        assert (shown["state"], shown["merge_status"], shown["base_sha"]) == ("open", "clean", old)
        done = await repo.merge()
        assert done.status_code == 200, done.text
        assert await repo.journal() == 0

    async def test_the_next_merge_of_the_repository_recovers_first(self, api, app, crash):
        repo = await Served(api, app, "again").create()
        old, _ = await crashed_merge(repo, crash)
        done = await repo.merge()  # without recovery: 409, the base "already has every commit"
        assert done.status_code == 200, done.text
        assert done.json()["pull"]["state"] == "merged"
        merged = repo.tip("main")
        assert _git(repo.folder, "rev-parse", f"{merged}^1") == old
        assert await repo.journal() == 0

    async def test_the_server_recovers_when_it_starts(self, api, app, settings, crash):
        repo = await Served(api, app, "restart").create()
        old, _ = await crashed_merge(repo, crash)
        async with running_app(settings):
            assert repo.tip("main") == old
        assert await repo.journal() == 0

    async def test_a_base_that_moved_on_stays_where_it_is(self, api, app, crash):
        repo = await Served(api, app, "moved").create()
        _, new = await crashed_merge(repo, crash)
        tree = _git(repo.folder, "rev-parse", f"{new}^{{tree}}")
        later = _git(repo.folder, "commit-tree", tree, "-p", new, "-m", "pushed on top")
        _git(repo.folder, "update-ref", "refs/heads/main", later, new)
        assert await recover_merges(app.state.services) == 1
        assert repo.tip("main") == later  # nobody's commits are thrown away
        assert await repo.journal() == 0
        assert (await repo.show())["state"] == "open"

    async def test_a_merge_in_flight_is_left_alone(self, api, app, crash, sessions):
        repo = await Served(api, app, "inflight").create()
        _, new = await crashed_merge(repo, crash)
        async with sessions() as holder, holder.begin():
            # what the merging transaction holds from before its journal row to its commit
            await holder.execute(text("SELECT 1 FROM repos_pull WHERE number = 1 FOR UPDATE"))
            assert await recover_merges(app.state.services) == 0
            assert repo.tip("main") == new
        assert await repo.journal() == 1
