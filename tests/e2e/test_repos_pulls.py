"""Pull requests against a running DevFlow, with the real `git` client on both sides: branches
are pushed over Smart HTTP, pull requests opened, reviewed and merged through the API and the
`devflow pr` commands, and the result fetched back with git."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from itertools import count
from pathlib import Path

import psycopg
import pytest

from devflow.core.db import libpq_url
from tests.cli_inprocess import run_cli
from tests.e2e.test_repos_git import _events, git
from tests.registry_fixtures import RegistryServer, running_server

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
REPOS = "/api/v1/projects/default/repos"
_names = count()


@pytest.fixture(scope="module")
def server(pg_server, template_url, tmp_path_factory) -> Iterator[RegistryServer]:
    del template_url
    with running_server(pg_server, tmp_path_factory.mktemp("home")) as running:
        yield running


class Work:
    """A clone of a fresh repository (README.md of three lines on main), pushed as the admin."""

    def __init__(self, server: RegistryServer, tmp: Path) -> None:
        self.server = server
        self.name = f"pr{next(_names)}"
        with server.api() as api:
            made = api.post(REPOS, json={"name": self.name, "readme": True})
        assert made.status_code == 201, made.text
        self.url = made.json()["clone_url"]
        self.dir = tmp / self.name
        git("clone", "-q", self.url, str(self.dir), cwd=tmp, token=server.token)
        self.write("README.md", "one\ntwo\nthree\n")
        self.commit("three lines")
        self.push("main")

    def git(self, *args: str, **kwargs) -> str:
        return git(*args, cwd=self.dir, **kwargs).stdout.strip()

    def write(self, path: str, text: str) -> None:
        (self.dir / path).parent.mkdir(parents=True, exist_ok=True)
        (self.dir / path).write_text(text)

    def commit(self, message: str, **env: str) -> str:
        self.git("add", "-A")
        git("commit", "-q", "-m", message, cwd=self.dir, **env)
        return self.git("rev-parse", "HEAD")

    def branch(self, name: str, start: str = "main") -> None:
        self.git("checkout", "-q", "-B", name, start)

    def push(self, *branches: str, force: bool = False) -> None:
        flags = ["--force"] if force else []
        git("push", "-q", *flags, "origin", *[f"HEAD:refs/heads/{b}" for b in branches],
            cwd=self.dir, token=self.server.token)  # fmt: skip

    def remote(self, ref: str) -> str:
        listed = git("ls-remote", "origin", ref, cwd=self.dir, token=self.server.token).stdout
        return listed.split()[0] if listed else ""

    def api(self, method: str, tail: str = "", token: str | None = None, **kwargs):
        with self.server.api(token) as api:
            return api.request(method, f"{REPOS}/{self.name}/pulls{tail}", **kwargs)

    def open(self, head: str, **extra) -> dict:
        made = self.api("POST", json={"head": head, "title": f"{head} please", **extra})
        assert made.status_code == 201, made.text
        return made.json()

    def show(self, number: int) -> dict:
        return self.api("GET", f"/{number}").json()

    def merge(self, number: int, method: str = "merge", sha: str | None = None, **extra):
        sha = sha or self.show(number)["head_sha"]
        return self.api("POST", f"/{number}/merge", json={"sha": sha, "method": method, **extra})


@pytest.fixture
def work(server, tmp_path) -> Work:
    return Work(server, tmp_path)


def _feature(work: Work, name: str = "feature") -> list[str]:
    """Branch `name` from main with two commits: a changed first line and a new file."""
    work.branch(name)
    work.write("README.md", "ONE\ntwo\nthree\n")
    first = work.commit("shout one")
    work.write("src/app.py", "print('hi')\n")
    second = work.commit("add app")
    work.push(name)
    return [first, second]


def _advance_main(work: Work, path: str = "NOTES.md", text: str = "notes\n") -> str:
    work.branch("main-work", "origin/main")
    work.git("pull", "-q", "--ff-only", "origin", "main", token=work.server.token)
    work.write(path, text)
    sha = work.commit(f"touch {path}")
    work.push("main")
    return sha


class TestOpen:
    def test_a_pull_request_shows_its_branches_diff_and_commits(self, work):
        commits = _feature(work)
        main = work.remote("refs/heads/main")
        pr = work.open("feature", body="It **shouts**.")
        assert pr["number"] == 1
        assert (pr["head"], pr["base"], pr["state"], pr["draft"]) == (
            "feature",
            "main",
            "open",
            False,
        )
        assert (pr["head_sha"], pr["base_sha"]) == (commits[-1], main)
        assert (pr["merge_status"], pr["mergeable"], pr["conflicts"]) == ("clean", True, [])
        assert work.remote("refs/pull/1/head") == commits[-1]

        diff = work.api("GET", "/1/diff").json()
        files = {f["path"]: f for f in diff["files"]}
        assert files["README.md"] == {
            "path": "README.md",
            "status": "modified",
            "additions": 1,
            "deletions": 1,
        }
        assert files["src/app.py"]["status"] == "added"
        assert (diff["additions"], diff["deletions"], diff["total_files"]) == (2, 1, 2)
        assert "-one\n+ONE\n" in diff["patch"]
        assert not diff["patch_truncated"]
        listed = work.api("GET", "/1/commits").json()
        assert [c["sha"] for c in listed] == commits
        assert [c["title"] for c in listed] == ["shout one", "add app"]

        twin = work.api("POST", json={"head": "feature", "title": "again"})
        assert twin.status_code == 409
        assert "#1 already merges feature into main" in twin.json()["error"]["message"]

    def test_numbers_are_per_repository_and_events_are_emitted(self, work, server):
        _feature(work, "a")
        _feature(work, "b")
        assert [work.open(b)["number"] for b in ("a", "b")] == [1, 2]
        opened = [e for e in _events(server, "pull_request.opened") if e["repository"] == work.name]
        assert [e["number"] for e in opened] == [1, 2]
        assert opened[0]["actor"] == "admin"

    def test_a_missing_branch_or_the_same_branch_twice_is_refused(self, work):
        missing = work.api("POST", json={"head": "nowhere", "title": "x"})
        assert missing.status_code == 422
        assert "no branch 'nowhere'" in missing.json()["error"]["message"]
        same = work.api("POST", json={"head": "main", "base": "main", "title": "x"})
        assert same.status_code == 422

    def test_a_push_moves_the_head_and_mergeability_follows_either_side(self, work, server):
        _feature(work)
        work.open("feature")
        work.write("src/app.py", "print('hello')\n")
        moved = work.commit("hello")
        work.push("feature")
        shown = work.show(1)
        assert shown["head_sha"] == moved
        assert work.remote("refs/pull/1/head") == moved
        synced = [e for e in _events(server, "pull_request.synchronize")
                  if e["repository"] == work.name]  # fmt: skip
        assert [e["head_sha"] for e in synced] == [moved]

        base = _advance_main(work, "README.md", "uno\ntwo\nthree\n")  # the line feature changed
        shown = work.show(1)
        assert shown["base_sha"] == base
        assert (shown["merge_status"], shown["conflicts"]) == ("conflicts", ["README.md"])


class TestReviews:
    def test_approvals_and_requests_for_changes_count_each_reviewers_latest(self, work, server):
        _feature(work)
        work.open("feature")
        bob = server.make_user(f"bob{work.name}", project_role="write")
        eve = server.make_user(f"eve{work.name}", project_role="write")
        approved = work.api("POST", "/1/reviews", token=bob, json={"event": "approve"})
        assert approved.status_code == 201, approved.text
        assert approved.json()["commit_sha"] == work.show(1)["head_sha"]
        bare = work.api("POST", "/1/reviews", token=eve, json={"event": "request_changes"})
        assert bare.status_code == 422  # say which changes
        asked = work.api("POST", "/1/reviews", token=eve,
                         json={"event": "request_changes", "body": "Name it main.py"})  # fmt: skip
        assert asked.json()["state"] == "changes_requested"
        work.api("POST", "/1/reviews", token=bob, json={"event": "comment", "body": "still ok"})
        shown = work.show(1)
        assert (shown["approvals"], shown["changes_requested"]) == (1, 1)
        work.api("POST", "/1/reviews", token=eve, json={"event": "approve"})
        assert (work.show(1)["approvals"], work.show(1)["changes_requested"]) == (2, 0)
        states = [r["state"] for r in work.api("GET", "/1/reviews").json()]
        assert states == ["approved", "changes_requested", "commented", "approved"]

    def test_the_author_may_comment_but_not_approve_or_request_changes(self, work, server):
        _feature(work)
        work.open("feature")  # as the admin
        own = work.api("POST", "/1/reviews", json={"event": "approve"})
        assert own.status_code == 422
        assert "cannot approve your own pull request #1" in own.json()["error"]["message"]
        asked = work.api("POST", "/1/reviews", json={"event": "request_changes", "body": "hm"})
        assert asked.status_code == 422
        assert "your own pull request" in asked.json()["error"]["message"]
        said = work.api("POST", "/1/reviews", json={"event": "comment", "body": "note to self"})
        assert (said.status_code, said.json()["state"]) == (201, "commented")
        bob = server.make_user(f"bob{work.name}", project_role="write")
        assert (
            work.api("POST", "/1/reviews", token=bob, json={"event": "approve"}).status_code == 201
        )
        assert [r["state"] for r in work.api("GET", "/1/reviews").json()] == [
            "commented",
            "approved",
        ]
        assert (work.show(1)["approvals"], work.show(1)["changes_requested"]) == (1, 0)

    def test_a_reader_reads_but_may_not_review(self, work, server):
        _feature(work)
        work.open("feature")
        reader = server.make_user(f"rd{work.name}", project_role="read")
        assert work.api("GET", "/1", token=reader).status_code == 200
        refused = work.api("POST", "/1/reviews", token=reader, json={"event": "approve"})
        assert refused.status_code == 403

    def test_a_line_comment_is_outdated_once_its_line_changes(self, work):
        _feature(work)
        work.open("feature")
        on_one = work.api("POST", "/1/comments", json={"path": "README.md", "line": 1,
                                                       "body": "why shout?"})  # fmt: skip
        assert on_one.status_code == 201, on_one.text
        assert on_one.json()["line_text"] == "ONE"
        work.api("POST", "/1/comments", json={"path": "README.md", "line": 3, "body": "fine"})
        past_end = work.api("POST", "/1/comments", json={"path": "README.md", "line": 9,
                                                         "body": "x"})  # fmt: skip
        assert past_end.status_code == 422
        nowhere = work.api("POST", "/1/comments", json={"path": "nope.txt", "line": 1,
                                                        "body": "x"})  # fmt: skip
        assert nowhere.status_code == 404

        work.write("README.md", "One\ntwo\nthree\n")
        work.commit("calmer")
        work.push("feature")
        comments = work.api("GET", "/1/comments").json()
        assert [(c["line"], c["outdated"]) for c in comments] == [(1, True), (3, False)]


class TestMerge:
    @pytest.mark.parametrize("method", ["merge", "squash", "rebase"])
    def test_a_diverged_branch_merges_by_each_method(self, work, method):
        commits = _feature(work)
        base = _advance_main(work)
        work.open("feature", title="Shout", body="Louder.")
        done = work.merge(1, method)
        assert done.status_code == 200, done.text
        merged = done.json()
        tip = work.remote("refs/heads/main")
        assert merged["sha"] == tip == merged["pull"]["merge_commit_sha"]
        assert (merged["pull"]["state"], merged["pull"]["merge_method"]) == ("merged", method)
        work.git("fetch", "-q", "origin", token=work.server.token)
        parents = work.git("log", "-1", "--format=%P", tip).split()
        files = work.git("ls-tree", "-r", "--name-only", tip).split()
        assert sorted(files) == ["NOTES.md", "README.md", "src/app.py"]
        assert work.git("show", f"{tip}:README.md") == "ONE\ntwo\nthree"
        if method == "merge":
            assert parents == [base, commits[-1]]
        elif method == "squash":
            assert parents == [base]
            assert work.git("log", "-1", "--format=%s%n%an", tip) == "Shout (#1)\nAda"
        else:
            replayed = work.git("log", "--format=%s|%an|%P", f"{base}..{tip}").splitlines()
            assert [r.split("|")[:2] for r in replayed] == [["add app", "Ada"],
                                                             ["shout one", "Ada"]]  # fmt: skip
            assert replayed[-1].split("|")[2] == base
            assert tip not in commits  # new commits, the same changes

    def test_fast_forward_only_moves_the_base_to_the_head(self, work):
        commits = _feature(work)
        work.open("feature")
        done = work.merge(1, "ff")
        assert done.status_code == 200, done.text
        assert work.remote("refs/heads/main") == commits[-1]

    def test_fast_forward_only_refuses_a_diverged_base(self, work):
        _feature(work)
        base = _advance_main(work)
        work.open("feature")
        refused = work.merge(1, "ff")
        assert refused.status_code == 409
        assert "cannot be fast-forwarded" in refused.json()["error"]["message"]
        assert work.remote("refs/heads/main") == base

    def test_a_conflict_is_refused_with_its_files(self, work):
        _feature(work)
        work.branch("other", "main")  # main as it was: change README's first line too
        base = _advance_main(work, "README.md", "uno\ntwo\nthree\n")
        work.open("feature")
        assert work.show(1)["conflicts"] == ["README.md"]
        for method in ("merge", "squash", "rebase"):
            refused = work.merge(1, method)
            assert refused.status_code == 409, refused.text
            assert "README.md" in refused.json()["error"]["message"]
        assert refused.json()["error"]["details"]["conflicts"] == ["README.md"]
        assert work.remote("refs/heads/main") == base

    def test_a_head_that_moved_since_it_was_shown_is_not_merged(self, work):
        _feature(work)
        seen = work.open("feature")["head_sha"]
        work.write("late.txt", "unreviewed\n")
        late = work.commit("late")
        work.push("feature")
        main = work.remote("refs/heads/main")
        refused = work.merge(1, "merge", sha=seen)
        assert refused.status_code == 409
        assert refused.json()["error"]["details"] == {"expected": seen, "head_sha": late}
        assert work.remote("refs/heads/main") == main
        assert work.merge(1, "merge", sha=late).status_code == 200

    def test_unrelated_histories_are_refused(self, work):
        work.git("checkout", "-q", "--orphan", "alien")
        work.git("rm", "-rq", "--cached", ".")
        work.write("alien.txt", "elsewhere\n")
        work.git("add", "alien.txt")
        work.git("commit", "-q", "-m", "alien")
        work.push("alien")
        work.open("alien")
        assert work.show(1)["merge_status"] == "unrelated"
        refused = work.merge(1, "merge")
        assert refused.status_code == 409
        assert "share no history" in refused.json()["error"]["message"]

    def test_a_draft_is_not_merged_until_it_is_ready(self, work):
        _feature(work)
        work.open("feature", draft=True)
        assert work.merge(1).status_code == 409
        assert work.api("PATCH", "/1", json={"draft": False}).json()["draft"] is False
        assert work.merge(1).status_code == 200

    def test_the_head_branch_is_deleted_after_the_merge_when_asked(self, work):
        _feature(work)
        work.open("feature")
        done = work.merge(1, "squash", delete_branch=True)
        assert done.json()["branch_deleted"] is True
        assert work.remote("refs/heads/feature") == ""
        assert work.remote("refs/pull/1/head") != ""  # the pull request keeps its commits

    def test_fixes_closes_the_task_on_merge(self, work, server):
        with server.api() as api:
            task = api.post("/api/v1/projects/default/tasks", json={"title": "Shouting"})
            assert task.status_code == 201, task.text
        number = task.json()["number"]
        _feature(work)
        work.open("feature", body=f"Fixes #{number}, and mentions #999999.")
        done = work.merge(1)
        assert done.json()["closed_tasks"] == [number]
        with server.api() as api:
            shown = api.get(f"/api/v1/projects/default/tasks/{number}").json()
        assert shown["state"] == "done"
        merged = [e for e in _events(server, "pull_request.merged") if e["repository"] == work.name]
        assert merged[0]["closed_tasks"] == [number]

    def test_a_merged_pull_request_is_history(self, work):
        _feature(work)
        work.open("feature")
        assert work.merge(1).status_code == 200
        assert work.merge(1).status_code == 409
        assert work.api("POST", "/1/close").status_code == 409
        assert work.api("PATCH", "/1", json={"title": "new"}).status_code == 409


class TestProtectedBase:
    def test_required_approvals_are_counted_before_the_merge(self, work, server):
        _feature(work)
        work.open("feature")
        with server.api() as api:
            rule = {"required_approvals": 1, "require_pull_request": True}
            ruled = api.put(f"{REPOS}/{work.name}/protections/main", json=rule)
            assert ruled.status_code == 200, ruled.text
        main = work.remote("refs/heads/main")
        refused = work.merge(1)
        assert refused.status_code == 409
        assert refused.json()["error"]["details"]["protection"] == [
            "main needs 1 approving review(s); this pull request has 0"
        ]
        assert work.remote("refs/heads/main") == main
        bob = server.make_user(f"bob{work.name}", project_role="write")
        work.api("POST", "/1/reviews", token=bob, json={"event": "approve"})
        done = work.merge(1)  # a required pull request lets the merge's push through
        assert done.status_code == 200, done.text
        assert work.remote("refs/heads/main") == done.json()["sha"]

    def test_an_authors_own_approval_written_before_the_rule_is_not_counted(self, work, server):
        _feature(work)
        work.open("feature")  # as the admin
        with psycopg.connect(libpq_url(server.db_url), autocommit=True) as conn:
            conn.execute(  # as add_review wrote it before authors were refused
                "INSERT INTO repos_pull_review (id, pull_id, author_id, state, body, commit_sha,"
                " created_at) SELECT gen_random_uuid(), p.id, p.author_id, 'approved', '',"
                " p.head_sha, now() FROM repos_pull p JOIN repos_repository r"
                " ON r.id = p.repository_id WHERE r.name = %s AND p.number = 1",
                (work.name,),
            )
        assert [r["state"] for r in work.api("GET", "/1/reviews").json()] == ["approved"]
        assert work.show(1)["approvals"] == 0
        with server.api() as api:
            api.put(f"{REPOS}/{work.name}/protections/main", json={"required_approvals": 1})
        refused = work.merge(1)
        assert refused.status_code == 409
        assert refused.json()["error"]["details"]["protection"] == [
            "main needs 1 approving review(s); this pull request has 0"
        ]

    def test_the_merge_is_pushed_through_the_branch_rules(self, work, server):
        _feature(work)
        work.open("feature")
        with server.api() as api:
            api.put(f"{REPOS}/{work.name}/protections/main", json={"protected_files": ["src/*"]})
        main = work.remote("refs/heads/main")
        refused = work.merge(1, "squash")
        assert refused.status_code == 409
        assert "src/app.py" in refused.json()["error"]["message"]
        assert work.remote("refs/heads/main") == main
        assert work.show(1)["state"] == "open"


class TestCloseAndReopen:
    def test_a_closed_pull_request_is_not_merged_until_reopened(self, work, server):
        _feature(work)
        work.open("feature")
        closed = work.api("POST", "/1/close")
        assert (closed.status_code, closed.json()["state"]) == (200, "closed")
        assert work.api("POST", "/1/close").status_code == 409
        assert work.merge(1).status_code == 409
        listed = work.api("GET", params={"state": "closed"}).json()
        assert [p["number"] for p in listed["items"]] == [1]
        assert work.api("GET").json()["total"] == 0
        reopened = work.api("POST", "/1/reopen")
        assert reopened.json()["state"] == "open"
        assert work.merge(1).status_code == 200
        kinds = [e["number"] for e in _events(server, "pull_request.reopened")
                 if e["repository"] == work.name]  # fmt: skip
        assert kinds == [1]


def _pr(server: RegistryServer, *args: str, cwd: Path | None = None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEVFLOW_")}
    env.update(DEVFLOW_URL=server.url, DEVFLOW_TOKEN=server.token, COLUMNS="200")
    return run_cli("pr", *args, env=env, cwd=cwd)


class TestCli:
    def test_the_pr_commands_open_review_merge_and_check_out(self, work, server):
        import json

        commits = _feature(work)
        repo = f"default/{work.name}"
        made = _pr(server, "create", "--repo", repo, "--head", "feature", "--base", "main",
                   "--title", "Shout", "--body", "Louder", "--json")  # fmt: skip
        assert made.returncode == 0, made.stderr + made.stdout
        number = json.loads(made.stdout)["number"]
        assert number == 1
        listed = json.loads(_pr(server, "list", "--repo", work.name, "--json").stdout)
        assert [p["number"] for p in listed["items"]] == [1]
        viewed = _pr(server, "view", "1", "--repo", repo)
        assert "#1 Shout [open]" in viewed.stdout
        assert "clean" in viewed.stdout
        patch = _pr(server, "diff", "1", "--repo", repo)
        assert "+ONE" in patch.stdout
        stat = _pr(server, "diff", "1", "--repo", repo, "--stat")
        assert "src/app.py" in stat.stdout
        own = _pr(server, "review", "1", "--repo", repo, "--approve")
        assert own.returncode != 0
        assert "cannot approve your own pull request" in own.stdout + own.stderr
        reviewed = _pr(server, "review", "1", "--repo", repo, "--body", "mine", "--json")
        assert json.loads(reviewed.stdout)["state"] == "commented"

        work.branch("elsewhere", "main")
        helper = f"!f() {{ echo username=me; echo password={server.token}; }}; f"
        work.git("config", "credential.helper", helper)  # as a user's helper would answer
        checked = _pr(server, "checkout", "1", "--repo", repo, cwd=work.dir)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert work.git("rev-parse", "HEAD") == commits[-1]
        assert work.git("branch", "--show-current") == "pr/1"

        closed = _pr(server, "close", "1", "--repo", repo, "--json")
        assert json.loads(closed.stdout)["state"] == "closed"
        assert (
            json.loads(_pr(server, "reopen", "1", "--repo", repo, "--json").stdout)["state"]
            == "open"
        )
        merged = _pr(server, "merge", "1", "--repo", repo, "--method", "squash", "--json")
        assert merged.returncode == 0, merged.stdout + merged.stderr
        assert json.loads(merged.stdout)["pull"]["state"] == "merged"

    def test_a_merge_of_a_moved_head_says_why(self, work, server):
        _feature(work)
        work.open("feature")
        stale = "0" * 40
        refused = _pr(server, "merge", "1", "--repo", work.name, "--sha", stale)
        assert refused.returncode != 0
        assert "moved" in refused.stdout + refused.stderr
