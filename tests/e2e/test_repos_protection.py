"""Protected branches and commit statuses, with the real `git` client against a real server.

Every rule is tried with a real `git push`: git runs DevFlow's pre-receive hook, which asks the
server over the push's socket; a refusal reaches the pusher as `remote:` lines and git reports
the push rejected. One server for the module (`tests.registry_fixtures`), one repository per
test.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from devflow.core.auth import Principal
from devflow.core.services import open_services
from devflow.repos import Merge, push_gate
from devflow.repos.protection.hook import PRE_RECEIVE
from devflow.settings import load_settings
from tests.cli_inprocess import run_cli
from tests.registry_fixtures import RegistryServer, running_server

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
REPOS = "/api/v1/projects/default/repos"
DECLINED = "(pre-receive hook declined)"


@pytest.fixture(scope="module")
def server(pg_server, template_url, tmp_path_factory) -> Iterator[RegistryServer]:
    del template_url
    with running_server(pg_server, tmp_path_factory.mktemp("home")) as running:
        yield running


def git(
    *args: str, cwd: Path, token: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run git with no user configuration; with `token`, a credential helper gives it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        HOME=str(cwd),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_TERMINAL_PROMPT="0",
        GIT_AUTHOR_NAME="Ada",
        GIT_AUTHOR_EMAIL="ada@example.com",
        GIT_COMMITTER_NAME="Ada",
        GIT_COMMITTER_EMAIL="ada@example.com",
    )
    options = ["-c", "init.defaultBranch=main", "-c", "credential.helper="]
    if token is not None:
        helper = f"!f() {{ echo username=anyone; echo password={token}; }}; f"
        options += ["-c", f"credential.helper={helper}"]
    done = subprocess.run(
        ["git", *options, *args], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    if check:
        assert done.returncode == 0, done.stderr
    return done


def commit(work: Path, name: str, text: str) -> str:
    path = work / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    git("add", name, cwd=work)
    git("commit", "-q", "-m", f"change {name}", cwd=work)
    return git("rev-parse", "HEAD", cwd=work).stdout.strip()


def clone(server: RegistryServer, name: str, tmp_path: Path, token: str | None = None) -> Path:
    """Create `name` with a README on main and return a clone of it."""
    with server.api() as api:
        made = api.post(REPOS, json={"name": name, "readme": True})
    assert made.status_code == 201, made.text
    git("clone", "-q", made.json()["clone_url"], name, cwd=tmp_path, token=token or server.token)
    return tmp_path / name


def protect(server: RegistryServer, name: str, branch: str, *options: str) -> dict:
    done = cli(server, "protect", name, branch, *options, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def cli(server: RegistryServer, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEVFLOW_")}
    env.update(DEVFLOW_URL=server.url, DEVFLOW_TOKEN=server.token, COLUMNS="200")
    return run_cli("repo", *args, env=env)


def remote_head(work: Path, branch: str, token: str) -> str:
    listed = git("ls-remote", "origin", f"refs/heads/{branch}", cwd=work, token=token).stdout
    return listed.split("\t")[0]


def push(work: Path, *refspecs: str, token: str, force: bool = False):
    return git("push", *(["--force"] if force else []), "origin", *refspecs, cwd=work,
               token=token, check=False)  # fmt: skip


class TestForcePushAndDeletion:
    def test_a_force_push_is_refused_with_its_reason(self, server, tmp_path):
        work = clone(server, "forced", tmp_path)
        protect(server, "forced", "main", "--no-force-push")
        first = commit(work, "a.txt", "a\n")
        assert push(work, "HEAD:main", token=server.token).returncode == 0
        git("reset", "-q", "--hard", "HEAD~1", cwd=work)
        commit(work, "b.txt", "b\n")
        refused = push(work, "HEAD:main", token=server.token, force=True)
        assert refused.returncode != 0
        assert "remote: main: protected by rule 'main': force pushes are refused" in (
            refused.stderr
        )
        assert DECLINED in refused.stderr
        assert remote_head(work, "main", server.token) == first

    def test_deleting_a_branch_matched_by_a_glob_is_refused(self, server, tmp_path):
        work = clone(server, "deleting", tmp_path)
        protect(server, "deleting", "release/*", "--no-delete")
        assert push(work, "HEAD:release/1.0", "HEAD:feature/x", token=server.token).returncode == 0
        refused = push(work, ":release/1.0", token=server.token)
        assert "remote: release/1.0: protected by rule 'release/*': it cannot be deleted" in (
            refused.stderr
        )
        assert remote_head(work, "release/1.0", server.token)
        assert push(work, ":feature/x", token=server.token).returncode == 0

    def test_the_default_branch_is_never_deleted_even_without_a_rule(self, server, tmp_path):
        work = clone(server, "default-kept", tmp_path)
        refused = push(work, ":main", token=server.token)
        assert refused.returncode != 0
        assert "remote: main: the default branch cannot be deleted" in refused.stderr
        assert remote_head(work, "main", server.token)

    def test_one_refused_branch_refuses_the_whole_push(self, server, tmp_path):
        work = clone(server, "atomic", tmp_path)
        protect(server, "atomic", "main", "--require-pr")
        commit(work, "a.txt", "a\n")
        refused = push(work, "HEAD:main", "HEAD:topic", token=server.token)
        assert refused.returncode != 0
        assert git("ls-remote", "origin", "refs/heads/topic", cwd=work,
                   token=server.token).stdout == ""  # fmt: skip


class TestWhoAndHow:
    def test_only_the_push_allowlist_may_push(self, server, tmp_path):
        writer = server.make_user("pw-writer", project_role="write")
        work = clone(server, "allowlisted", tmp_path)
        rule = protect(server, "allowlisted", "main", "--push-allow", "admin")
        assert rule["push_allow"] == ["admin"]
        commit(work, "a.txt", "a\n")
        refused = push(work, "HEAD:main", token=writer)
        assert "remote: main: protected by rule 'main': only admin may push to it" in (
            refused.stderr
        )
        assert push(work, "HEAD:topic", token=writer).returncode == 0
        assert push(work, "HEAD:main", token=server.token).returncode == 0

    def test_a_required_pull_request_refuses_a_direct_push(self, server, tmp_path):
        work = clone(server, "reviewed", tmp_path)
        protect(server, "reviewed", "main", "--require-pr", "--approvals", "2")
        before = remote_head(work, "main", server.token)
        commit(work, "a.txt", "a\n")
        refused = push(work, "HEAD:main", token=server.token)
        assert "changes arrive through a pull request" in refused.stderr
        assert remote_head(work, "main", server.token) == before
        assert push(work, "HEAD:feature", token=server.token).returncode == 0

    def test_protected_files_are_refused_and_the_rest_goes_through(self, server, tmp_path):
        work = clone(server, "files", tmp_path)
        protect(server, "files", "main", "--protect-file", "ci/**", "--protect-file", "*.lock")
        commit(work, "src/app.py", "print(1)\n")
        assert push(work, "HEAD:main", token=server.token).returncode == 0
        commit(work, "ci/deep/build.yml", "steps: []\n")
        refused = push(work, "HEAD:main", token=server.token)
        assert "it protects ci/**, *.lock; this push changes ci/deep/build.yml" in refused.stderr
        git("reset", "-q", "--hard", "HEAD~1", cwd=work)
        commit(work, "sub/poetry.lock", "x\n")  # `*` stays within one folder
        assert push(work, "HEAD:main", token=server.token).returncode == 0


class TestPullRefs:
    PULLS_READ_ONLY = "remote: refs/pull/1/head: refs/pull/ are managed by DevFlow's pull requests"

    def test_pull_request_refs_are_read_only_for_every_pusher(self, server, tmp_path):
        """Creating, moving or deleting `refs/pull/*` is refused, for an admin too (the
        module's token), and with no branch rule at all; a branch in the same push stays out."""
        work = clone(server, "pull-refs", tmp_path)
        base = git("rev-parse", "HEAD", cwd=work).stdout.strip()
        git("checkout", "-q", "-b", "feature", cwd=work)
        head = commit(work, "f.txt", "f\n")
        assert push(work, "feature", token=server.token).returncode == 0
        with server.api() as api:
            opened = api.post(f"{REPOS}/pull-refs/pulls", json={"head": "feature", "title": "F"})
        assert opened.status_code == 201, opened.text
        pinned = "refs/pull/1/head"
        for refspecs in (
            [f"{base}:{pinned}"],  # move it
            [f":{pinned}"],  # delete it
            [f"{head}:refs/pull/2/head"],  # create one
            [f"{base}:{pinned}", f"{head}:refs/heads/other"],  # with a branch
        ):
            refused = push(work, *refspecs, token=server.token, force=True)
            assert refused.returncode != 0, refspecs
            assert DECLINED in refused.stderr
            assert "refs/pull/ are managed by DevFlow's pull requests" in refused.stderr
        assert self.PULLS_READ_ONLY in refused.stderr
        listed = git("ls-remote", "origin", cwd=work, token=server.token).stdout
        refs = {line.split("\t")[1]: line.split("\t")[0] for line in listed.splitlines()}
        assert refs[pinned] == head
        assert "refs/pull/2/head" not in refs
        assert "refs/heads/other" not in refs


class TestRequiredChecks:
    def test_a_required_check_must_succeed_on_the_pushed_commit(self, server, tmp_path):
        work = clone(server, "checked", tmp_path)
        protect(server, "checked", "main", "--require-check", "ci/test")
        sha = commit(work, "a.txt", "a\n")
        assert push(work, "HEAD:candidate", token=server.token).returncode == 0

        missing = push(work, "HEAD:main", token=server.token)
        assert f"required check 'ci/test' has not reported on {sha[:12]}" in missing.stderr

        statuses = f"{REPOS}/checked/statuses/{sha}"
        with server.api() as api:
            posted = api.post(statuses, json={"state": "failure", "context": "ci/test"})
            assert posted.status_code == 201, posted.text
        failing = push(work, "HEAD:main", token=server.token)
        assert f"required check 'ci/test' is failure on {sha[:12]}" in failing.stderr

        with server.api() as api:
            api.post(statuses, json={"state": "success", "context": "ci/test"})
            api.post(statuses, json={"state": "pending", "context": "other"})
        assert push(work, "HEAD:main", token=server.token).returncode == 0
        assert remote_head(work, "main", server.token) == sha


@pytest.fixture(scope="module")
def hostile_repo(server, tmp_path_factory) -> str:
    """Repository `st-hostile` with its README commit on main; returns that commit."""
    work = clone(server, "st-hostile", tmp_path_factory.mktemp("hostile"))
    return git("rev-parse", "HEAD", cwd=work).stdout.strip()


class TestStatusesApi:
    def test_statuses_are_listed_newest_first_and_combined_per_context(self, server, tmp_path):
        work = clone(server, "statuses", tmp_path)
        sha = git("rev-parse", "HEAD", cwd=work).stdout.strip()
        base = f"{REPOS}/statuses"
        with server.api() as api:
            empty = api.get(f"{base}/commits/main/status").json()
            assert (empty["state"], empty["sha"], empty["total_count"]) == ("pending", sha, 0)
            for state, context in (("pending", "ci/test"), ("success", "ci/test"),
                                   ("error", "lint")):  # fmt: skip
                made = api.post(
                    f"{base}/statuses/{sha}",
                    json={"state": state, "context": context, "description": "ran",
                          "target_url": "https://ci.example.com/1"},
                )  # fmt: skip
                assert made.status_code == 201, made.text
            assert made.json()["creator"] == {"login": "admin"}
            listed = api.get(f"{base}/commits/{sha}/statuses").json()
            combined = api.get(f"{base}/commits/main/status").json()
        assert [s["state"] for s in listed["items"]] == ["error", "success", "pending"]
        assert listed["total"] == 3
        assert combined["state"] == "failure"
        assert {s["context"]: s["state"] for s in combined["statuses"]} == {
            "ci/test": "success",
            "lint": "error",
        }
        with server.api() as api:
            answer = api.get("/api/v1/events", params={"type": "repo.status", "since": 0,
                                                       "follow": False})  # fmt: skip
        frames = [json.loads(line[6:])["payload"] for line in answer.text.splitlines()
                  if line.startswith("data: ")]  # fmt: skip
        mine = [f for f in frames if f["repository"] == "statuses"]
        assert [(f["sha"], f["state"], f["context"]) for f in mine][-1] == (sha, "error", "lint")

    def test_a_reader_reads_statuses_but_may_not_report_one(self, server, tmp_path):
        reader = server.make_user("st-reader", project_role="read")
        work = clone(server, "st-read", tmp_path)
        sha = git("rev-parse", "HEAD", cwd=work).stdout.strip()
        with server.api(reader) as api:
            refused = api.post(f"{REPOS}/st-read/statuses/{sha}", json={"state": "success"})
            assert refused.status_code == 403
            assert api.get(f"{REPOS}/st-read/commits/main/status").status_code == 200

    @pytest.mark.parametrize(
        ("sha", "body"),
        [
            ("abc", {"state": "success"}),
            ("0" * 40, {"state": "success"}),  # well-formed, not a commit of the repository
            (None, {"state": "done"}),
            (None, {"state": "success", "target_url": "javascript:alert(1)"}),
            (None, {"state": "success", "description": "x" * 141}),
            (None, {"state": "success", "context": ""}),
            (None, {"state": "success", "context": "a\nb"}),
            (None, {"state": "success", "description": "a\x00b"}),
        ],
    )
    def test_a_bad_report_is_refused_and_stores_nothing(self, server, hostile_repo, sha, body):
        with server.api() as api:
            answer = api.post(f"{REPOS}/st-hostile/statuses/{sha or hostile_repo}", json=body)
            assert 400 <= answer.status_code < 500, answer.text
            assert api.get(f"{REPOS}/st-hostile/commits/main/statuses").json()["total"] == 0

    @pytest.mark.parametrize("ref", ["nope", "--output=x", "main..HEAD", "HEAD@{1}", "a%00b"])
    def test_an_unknown_or_hostile_ref_is_not_found(self, server, hostile_repo, ref):
        del hostile_repo
        with server.api() as api:
            answer = api.get(f"{REPOS}/st-hostile/commits/{ref}/status")
        assert answer.status_code in {400, 404}, answer.text


class TestRulesCli:
    def test_rules_are_listed_replaced_and_removed(self, server, tmp_path):
        clone(server, "ruled", tmp_path)
        protect(server, "ruled", "main", "--no-force-push", "--require-check", "ci/test")
        replaced = protect(server, "ruled", "main", "--no-delete")
        assert (replaced["no_force_push"], replaced["no_delete"]) == (False, True)
        assert replaced["required_checks"] == []
        protect(server, "ruled", "release/**", "--approvals", "1")
        listed = json.loads(cli(server, "protections", "ruled", "--json").stdout)
        assert [r["pattern"] for r in listed["items"]] == ["main", "release/**"]
        shown = cli(server, "protections", "ruled")
        assert "1 approval(s)" in shown.stdout
        assert cli(server, "unprotect", "ruled", "release/**").returncode == 0
        gone = cli(server, "unprotect", "ruled", "release/**")
        assert gone.returncode != 0
        assert "no rule for 'release/**'" in gone.stderr + gone.stdout

    def test_a_writer_may_not_change_rules_and_an_unknown_user_is_refused(self, server, tmp_path):
        writer = server.make_user("rule-writer", project_role="write")
        clone(server, "rules-guarded", tmp_path)
        with server.api(writer) as api:
            refused = api.put(f"{REPOS}/rules-guarded/protections/main", json={})
        assert refused.status_code == 403
        with server.api() as api:
            unknown = api.put(
                f"{REPOS}/rules-guarded/protections/main", json={"push_allow": ["ghost"]}
            )
            bad = api.put(f"{REPOS}/rules-guarded/protections/..%2Fx", json={})
            listed = api.get(f"{REPOS}/rules-guarded/protections").json()
        assert unknown.status_code == 422, unknown.text
        assert bad.status_code == 422, bad.text
        assert listed["total"] == 0


class TestHookFailsClosed:
    """The hook file itself, run as git runs it (a shell script reading ref lines)."""

    @staticmethod
    def run_hook(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
        hook = tmp_path / "pre-receive"
        hook.write_text(PRE_RECEIVE)
        hook.chmod(0o700)
        base = {"PATH": os.environ["PATH"], "DEVFLOW_HOOK_PYTHON": shutil.which("python3") or ""}
        return subprocess.run(
            [str(hook)], input=f"{'0' * 40} {'1' * 40} refs/heads/main\n", env={**base, **env},
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    def test_a_socket_that_cannot_be_reached_refuses(self, tmp_path):
        done = self.run_hook(tmp_path, DEVFLOW_HOOK_SOCKET=str(tmp_path / "gone.sock"))
        assert done.returncode != 0
        assert "could not check this push against its branch rules" in done.stderr

    def test_a_push_devflow_serves_without_a_socket_refuses(self, tmp_path):
        done = self.run_hook(tmp_path, DEVFLOW_PUSH_LOG=str(tmp_path / "log"))
        assert done.returncode != 0

    def test_a_push_on_the_servers_own_files_is_not_asked_about(self, tmp_path):
        assert self.run_hook(tmp_path).returncode == 0

    def test_an_existing_repository_gets_the_hook_at_its_next_push(self, server, tmp_path):
        work = clone(server, "older", tmp_path)
        with server.api() as api:
            made = api.get(f"{REPOS}/older").json()
        hook = server.home / "repos" / f"{made['id']}.git" / "hooks" / "pre-receive"
        hook.unlink()  # as a repository made before protected branches
        protect(server, "older", "main", "--require-pr")
        commit(work, "a.txt", "a\n")
        assert "through a pull request" in push(work, "HEAD:main", token=server.token).stderr
        assert hook.read_text() == PRE_RECEIVE


class TestMergeThroughTheGate:
    """The merge of a pull request pushes with `push_gate(..., merge=Merge(...))`, as the pull
    requests' code does: from a local clone into the bare repository."""

    @staticmethod
    def merge_push(
        server: RegistryServer, work: Path, repo_id: str, merge: Merge
    ) -> tuple[int, str]:
        async def run() -> tuple[int, str]:
            settings = load_settings(database_url=server.db_url, home=server.home)
            pusher = Principal(
                user_id=uuid.uuid4(), username="admin", is_admin=True, scopes=frozenset({"admin"})
            )
            async with open_services(settings) as services:
                gate = push_gate(services, repo_id=uuid.UUID(repo_id), pusher=pusher, merge=merge)
                async with gate as hook_env:
                    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
                    env.update(hook_env, DEVFLOW_PUSH_LOG=str(work.parent / "push.log"),
                               GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull)  # fmt: skip
                    bare = server.home / "repos" / f"{repo_id}.git"
                    proc = await asyncio.create_subprocess_exec(
                        "git", "push", str(bare), "HEAD:refs/heads/main", cwd=work, env=env,
                        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                    )  # fmt: skip
                    _, err = await proc.communicate()
            return proc.returncode or 0, err.decode()

        return asyncio.run(run())

    def test_a_merge_passes_a_required_pull_request_once_approved_and_checked(
        self, server, tmp_path
    ):
        work = clone(server, "merging", tmp_path)
        protect(server, "merging", "main", "--require-pr", "--approvals", "1",
                "--require-check", "ci/test")  # fmt: skip
        head = commit(work, "a.txt", "a\n")
        assert push(work, "HEAD:feature", token=server.token).returncode == 0
        with server.api() as api:
            repo_id = api.get(f"{REPOS}/merging").json()["id"]

        code, said = self.merge_push(server, work, repo_id, Merge(7, head, approvals=0))
        assert code != 0
        assert "main needs 1 approving review(s); this pull request has 0" in said
        assert f"required check 'ci/test' has not reported on {head[:12]}" in said

        with server.api() as api:
            api.post(f"{REPOS}/merging/statuses/{head}", json={"state": "success",
                                                               "context": "ci/test"})  # fmt: skip
        code, said = self.merge_push(server, work, repo_id, Merge(7, head, approvals=1))
        assert code == 0, said
        assert remote_head(work, "main", server.token) == head


class TestTheGateFailsClosed:
    """DevFlow's end of the exchange, spoken to as a hostile or broken hook would."""

    @staticmethod
    def ask(server: RegistryServer, repo_id: str, *requests: bytes) -> list[str]:
        async def run() -> list[str]:
            settings = load_settings(database_url=server.db_url, home=server.home)
            pusher = Principal(
                user_id=uuid.uuid4(), username="admin", is_admin=True, scopes=frozenset({"admin"})
            )
            answers = []
            async with open_services(settings) as services:
                gate = push_gate(services, repo_id=uuid.UUID(repo_id), pusher=pusher)
                async with gate as env:
                    for request in requests:
                        reader, writer = await asyncio.open_unix_connection(
                            env["DEVFLOW_HOOK_SOCKET"]
                        )
                        writer.write(request)
                        writer.write_eof()
                        answers.append((await reader.read()).decode())
                        writer.close()
            return answers

        return asyncio.run(run())

    def test_malformed_requests_and_foreign_object_folders_are_refused(self, server, tmp_path):
        clone(server, "gated", tmp_path)
        with server.api() as api:
            repo_id = api.get(f"{REPOS}/gated").json()["id"]
        line = f"{'0' * 40} {'1' * 40} refs/heads/feature\n".encode()
        for request in (
            b"not json\n" + line,
            b'{"GIT_OBJECT_DIRECTORY": "/etc"}\n' + line,
            b'{"GIT_ALTERNATE_OBJECT_DIRECTORIES": "/tmp"}\n' + line,
            b"{}\nrefs/heads/main\n",
            b"{}\n" + line.replace(b"feature", b"a b"),
            b"\xff\xfe\n" + line,
        ):
            [answer] = self.ask(server, repo_id, request)
            assert answer.startswith("no\n"), (request, answer)
            assert "could not check this push" in answer

    def test_one_push_is_checked_once(self, server, tmp_path):
        clone(server, "gated-once", tmp_path)
        with server.api() as api:
            repo_id = api.get(f"{REPOS}/gated-once").json()["id"]
        line = f"{'0' * 40} {'1' * 40} refs/heads/feature\n".encode()
        first, second = self.ask(server, repo_id, b"{}\n" + line, b"{}\n" + line)
        assert first == "ok\n"
        assert second.startswith("no\n")
