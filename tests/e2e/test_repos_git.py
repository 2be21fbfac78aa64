"""Git hosting over Smart HTTP, driven by the real `git` client against a real server.

The server is DevFlow's app under uvicorn on 127.0.0.1 (`tests.registry_fixtures`), on a fresh
clone of the migrated database; git runs with no user or system configuration, and gets its
password from a credential helper given on the command line, as a user's helper would give it.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.cli_inprocess import run_cli
from tests.registry_fixtures import RegistryServer, running_server

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


@pytest.fixture(scope="module")
def server(pg_server, template_url, tmp_path_factory) -> Iterator[RegistryServer]:
    del template_url
    home = tmp_path_factory.mktemp("home")
    with running_server(pg_server, home, settings={"server": {"body_timeout": 3}}) as running:
        yield running


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        HOME=str(home),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_TERMINAL_PROMPT="0",
        GIT_AUTHOR_NAME="Ada",
        GIT_AUTHOR_EMAIL="ada@example.com",
        GIT_COMMITTER_NAME="Ada",
        GIT_COMMITTER_EMAIL="ada@example.com",
    )
    return env


def git(
    *args: str, cwd: Path, token: str | None = None, check: bool = True, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run git; with `token`, a credential helper answers git's question with it."""
    options = ["-c", "init.defaultBranch=main", "-c", "credential.helper="]
    if token is not None:
        helper = f"!f() {{ echo username=anyone; echo password={token}; }}; f"
        options += ["-c", f"credential.helper={helper}"]
    done = subprocess.run(
        ["git", *options, *args],
        cwd=cwd,
        env={**_env(cwd), **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if check:
        assert done.returncode == 0, done.stderr
    return done


def _create(server: RegistryServer, name: str, token: str | None = None, **extra) -> dict:
    with server.api(token) as api:
        made = api.post("/api/v1/projects/default/repos", json={"name": name, **extra})
    assert made.status_code == 201, made.text
    return made.json()


def _commit(work: Path, name: str, text: str) -> None:
    (work / name).write_text(text)
    git("add", name, cwd=work)
    git("commit", "-q", "-m", f"add {name}", cwd=work)


def _events(server: RegistryServer, kind: str) -> list[dict]:
    """The payloads of the events of `kind` so far, as the SSE stream gives them."""
    with server.api() as api:
        answer = api.get("/api/v1/events", params={"type": kind, "since": 0, "follow": False})
    frames = [line[6:] for line in answer.text.splitlines() if line.startswith("data: ")]
    return [json.loads(frame)["payload"] for frame in frames]


class TestCloneAndPush:
    def test_an_empty_repository_is_cloned_pushed_to_and_cloned_again(self, server, tmp_path):
        repo = _create(server, "app")
        url, token = repo["clone_url"], server.token
        assert url == f"{server.url}/default/app.git"
        git("clone", "-q", url, "first", cwd=tmp_path, token=token)
        first = tmp_path / "first"
        _commit(first, "hello.txt", "hello\n")
        pushed = git("push", "-q", "origin", "HEAD:main", cwd=first, token=token)
        assert pushed.returncode == 0

        git("clone", "-q", url, "second", cwd=tmp_path, token=token)
        assert (tmp_path / "second" / "hello.txt").read_text() == "hello\n"

        _commit(first, "more.txt", "more\n")
        git("push", "-q", "origin", "HEAD:main", cwd=first, token=token)
        git("pull", "-q", "--ff-only", cwd=tmp_path / "second", token=token)
        assert (tmp_path / "second" / "more.txt").read_text() == "more\n"

        with server.api() as api:
            shown = api.get("/api/v1/projects/default/repos/app").json()
        assert shown["last_pushed_at"] is not None
        assert shown["size_bytes"] > 0

    def test_each_push_is_recorded_with_the_refs_it_moved(self, server, tmp_path):
        _create(server, "recorded")
        url = f"{server.url}/default/recorded.git"
        git("init", "-q", "work", cwd=tmp_path)
        work = tmp_path / "work"
        _commit(work, "a.txt", "a\n")
        git("push", "-q", url, "HEAD:refs/heads/main", "HEAD:refs/heads/topic", cwd=work,
            token=server.token)  # fmt: skip
        head = git("rev-parse", "HEAD", cwd=work).stdout.strip()
        pushes = [p for p in _events(server, "repo.pushed") if p["repository"] == "recorded"]
        assert len(pushes) == 1
        assert pushes[0]["pusher"] == "admin"
        assert sorted(pushes[0]["refs"], key=lambda r: r["ref"]) == [
            {"ref": "refs/heads/main", "old": "0" * 40, "new": head},
            {"ref": "refs/heads/topic", "old": "0" * 40, "new": head},
        ]

    def test_a_repository_made_with_a_readme_checks_out_its_default_branch(self, server, tmp_path):
        _create(server, "docs", readme=True, default_branch="trunk", description="The docs")
        git("clone", "-q", f"{server.url}/default/docs.git", cwd=tmp_path, token=server.token)
        clone = tmp_path / "docs"
        assert (clone / "README.md").read_text() == "# docs\n\nThe docs\n"
        assert git("branch", "--show-current", cwd=clone).stdout.strip() == "trunk"

    def test_protocol_v2_is_spoken(self, server, tmp_path):
        _create(server, "v2", readme=True)
        listed = git(
            "-c", "protocol.version=2", "ls-remote", f"{server.url}/default/v2.git",
            cwd=tmp_path, token=server.token, GIT_TRACE_PACKET="1",
        )  # fmt: skip
        assert "git< version 2" in listed.stderr
        assert "refs/heads/main" in listed.stdout

    def test_a_gzip_request_body_is_inflated_by_the_backend(self, server):
        _create(server, "zipped", visibility="public", readme=True)
        request = b"0014command=ls-refs\n" + b"0001" + b"0000"
        answer = httpx.post(
            f"{server.url}/default/zipped.git/git-upload-pack",
            content=gzip.compress(request),
            headers={
                "Content-Type": "application/x-git-upload-pack-request",
                "Content-Encoding": "gzip",
                "Git-Protocol": "version=2",
            },
        )
        assert answer.status_code == 200
        assert b"refs/heads/main" in answer.content


class TestAccess:
    def test_a_private_repository_asks_anonymous_git_for_credentials(self, server, tmp_path):
        _create(server, "secret")
        url = f"{server.url}/default/secret.git"
        answer = httpx.get(f"{url}/info/refs", params={"service": "git-upload-pack"})
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"].startswith("Basic ")
        cloned = git("clone", "-q", url, cwd=tmp_path, check=False)
        assert cloned.returncode != 0
        assert "terminal prompts disabled" in cloned.stderr

    def test_a_public_repository_is_cloned_anonymously_but_not_pushed_to(self, server, tmp_path):
        _create(server, "open", visibility="public", readme=True)
        url = f"{server.url}/default/open.git"
        git("clone", "-q", url, cwd=tmp_path)
        clone = tmp_path / "open"
        assert (clone / "README.md").exists()
        _commit(clone, "x.txt", "x\n")
        refused = git("push", "-q", "origin", "HEAD:main", cwd=clone, check=False)
        assert refused.returncode != 0

    def test_a_read_only_member_fetches_but_is_told_why_a_push_is_refused(self, server, tmp_path):
        _create(server, "guarded", readme=True)
        reader = server.make_user("reader1", project_role="read")
        url = f"{server.url}/default/guarded.git"
        git("clone", "-q", url, cwd=tmp_path, token=reader)
        clone = tmp_path / "guarded"
        _commit(clone, "x.txt", "x\n")
        refused = git("push", "origin", "HEAD:main", cwd=clone, token=reader, check=False)
        assert refused.returncode != 0
        assert "remote: pushing to default/guarded needs the write role" in refused.stderr

    def test_an_internal_repository_is_cloned_by_any_signed_in_user_only(self, server, tmp_path):
        _create(server, "inner", visibility="internal", readme=True)
        url = f"{server.url}/default/inner.git"
        outsider = server.make_user("outsider1")
        git("clone", "-q", url, "mine", cwd=tmp_path, token=outsider)
        assert (tmp_path / "mine" / "README.md").exists()
        anonymous = git("clone", url, "theirs", cwd=tmp_path, check=False)
        assert anonymous.returncode != 0

    def test_a_writer_with_a_read_only_token_is_told_the_scope_it_lacks(self, server, tmp_path):
        _create(server, "scoped", readme=True)
        writer = server.make_user("writer1", project_role="write")
        with server.api(writer) as api:
            made = api.post("/api/v1/tokens", json={"name": "ro", "scopes": ["read"]})
        read_only = made.json()["token"]
        url = f"{server.url}/default/scoped.git"
        git("clone", "-q", url, cwd=tmp_path, token=read_only)
        clone = tmp_path / "scoped"
        _commit(clone, "x.txt", "x\n")
        refused = git("push", "origin", "HEAD:main", cwd=clone, token=read_only, check=False)
        assert "remote: this token lacks the 'write' scope" in refused.stderr
        git("push", "-q", "origin", "HEAD:main", cwd=clone, token=writer)

    def test_a_stranger_is_told_a_private_repository_does_not_exist(self, server, tmp_path):
        _create(server, "hidden")
        stranger = server.make_user("stranger1")
        cloned = git("clone", f"{server.url}/default/hidden.git", cwd=tmp_path, token=stranger,
                     check=False)  # fmt: skip
        assert cloned.returncode != 0
        assert "remote: no repository default/hidden" in cloned.stderr

    def test_an_archived_repository_refuses_pushes_with_a_reason(self, server, tmp_path):
        _create(server, "old", readme=True)
        url = f"{server.url}/default/old.git"
        git("clone", "-q", url, cwd=tmp_path, token=server.token)
        with server.api() as api:
            archived = api.patch("/api/v1/projects/default/repos/old", json={"archived": True})
        assert archived.json()["archived"] is True
        clone = tmp_path / "old"
        _commit(clone, "x.txt", "x\n")
        refused = git("push", "origin", "HEAD:main", cwd=clone, token=server.token, check=False)
        assert "remote: default/old is archived and read-only" in refused.stderr
        git("fetch", "-q", cwd=clone, token=server.token)  # still readable


class TestManagement:
    def test_a_renamed_repository_answers_at_its_new_url_only(self, server, tmp_path):
        _create(server, "before", readme=True)
        with server.api() as api:
            renamed = api.patch("/api/v1/projects/default/repos/before", json={"name": "after"})
        assert renamed.json()["clone_url"].endswith("/default/after.git")
        git("clone", "-q", f"{server.url}/default/after.git", cwd=tmp_path, token=server.token)
        gone = git("clone", f"{server.url}/default/before.git", "x", cwd=tmp_path,
                   token=server.token, check=False)  # fmt: skip
        assert gone.returncode != 0

    def test_a_deleted_repository_leaves_no_files(self, server):
        made = _create(server, "doomed", readme=True)
        folder = server.home / "repos" / f"{made['id']}.git"
        assert folder.is_dir()
        with server.api() as api:
            assert api.delete("/api/v1/projects/default/repos/doomed").status_code == 204
            assert api.get("/api/v1/projects/default/repos/doomed").status_code == 404
        assert not folder.exists()

    def test_repositories_are_readable_by_devflows_user_only(self, server):
        made = _create(server, "private-files", readme=True)
        root = server.home / "repos"
        assert stat.S_IMODE(root.stat().st_mode) == 0o700
        config = root / f"{made['id']}.git" / "config"
        assert stat.S_IMODE(config.stat().st_mode) & 0o077 == 0

    def test_listing_pages_through_a_projects_repositories(self, server):
        for name in ("page-a", "page-b", "page-c"):
            _create(server, name)
        with server.api() as api:
            first = api.get("/api/v1/projects/default/repos", params={"limit": 2}).json()
            names = [r["name"] for r in first["items"]]
            rest = api.get(
                "/api/v1/projects/default/repos", params={"limit": 500, "offset": 2}
            ).json()
        assert len(names) == 2
        assert first["total"] == len(first["items"]) + len(rest["items"])


class TestHostileInput:
    @pytest.mark.parametrize(
        "name", ["../etc", "a/b", "a..b", "x.git", "-x", "A" * 101, "sp ace", "ünï"]
    )
    def test_a_bad_name_is_refused_at_creation(self, server, name):
        with server.api() as api:
            made = api.post("/api/v1/projects/default/repos", json={"name": name})
        assert made.status_code == 422, made.text

    @pytest.mark.parametrize(
        "path",
        [
            "/default/..%2F..%2Fetc.git/info/refs",
            "/default/%2e%2e.git/info/refs",
            "/..%2Fdefault/app.git/info/refs",
            "/default/" + "a" * 5000 + ".git/info/refs",
            "/" + "p" * 5000 + "/app.git/info/refs",
        ],
    )
    def test_odd_paths_are_answered_as_missing(self, server, path):
        answer = httpx.get(
            server.url + path,
            params={"service": "git-upload-pack"},
            headers={"Authorization": f"Bearer {server.token}"},
        )
        assert answer.status_code == 404, answer.text

    def test_a_nul_byte_in_the_path_is_refused(self, server):
        answer = httpx.get(f"{server.url}/default/a%00b.git/info/refs?service=git-upload-pack")
        assert answer.status_code == 400

    def test_the_dumb_protocol_is_refused_plainly(self, server):
        _create(server, "smart", visibility="public")
        answer = httpx.get(f"{server.url}/default/smart.git/info/refs")
        assert answer.status_code == 422
        assert "smart HTTP" in answer.text

    def test_a_push_to_a_missing_repository_is_refused(self, server, tmp_path):
        git("init", "-q", "work", cwd=tmp_path)
        work = tmp_path / "work"
        _commit(work, "a.txt", "a\n")
        refused = git("push", f"{server.url}/default/nowhere.git", "HEAD:main", cwd=work,
                      token=server.token, check=False)  # fmt: skip
        assert refused.returncode != 0
        assert "remote: no repository default/nowhere" in refused.stderr
        assert not list((server.home / "repos").glob("*nowhere*"))

    def test_a_push_body_that_never_finishes_is_cut_off_and_changes_nothing(self, server):
        made = _create(server, "stalled", readme=True)
        folder = server.home / "repos" / f"{made['id']}.git"
        refs_before = sorted(p.name for p in (folder / "refs" / "heads").iterdir())
        with socket.create_connection(("127.0.0.1", int(server.url.rsplit(":", 1)[1]))) as conn:
            head = (
                "POST /default/stalled.git/git-receive-pack HTTP/1.1\r\n"
                "Host: x\r\nContent-Type: application/x-git-receive-pack-request\r\n"
                f"Authorization: Bearer {server.token}\r\nContent-Length: 100000\r\n\r\n"
            )
            conn.sendall(head.encode() + b"00a4")  # the start of a command line, never ended
            conn.settimeout(60)
            answer = conn.recv(65536).decode(errors="replace")
        assert answer.startswith("HTTP/1.1 408"), answer
        assert sorted(p.name for p in (folder / "refs" / "heads").iterdir()) == refs_before
        assert httpx.get(f"{server.url}/health").status_code == 200

    def test_a_push_declared_over_the_limit_is_refused_before_it_is_read(self, server):
        made = _create(server, "capped")
        with socket.create_connection(("127.0.0.1", int(server.url.rsplit(":", 1)[1]))) as conn:
            head = (
                "POST /default/capped.git/git-receive-pack HTTP/1.1\r\n"
                "Host: x\r\nContent-Type: application/x-git-receive-pack-request\r\n"
                f"Authorization: Bearer {server.token}\r\n"
                f"Content-Length: {5 * 1024**3}\r\n\r\n"  # over the 4 GiB default
            )
            conn.sendall(head.encode())
            conn.settimeout(60)
            answer = conn.recv(65536).decode(errors="replace")
        assert answer.startswith("HTTP/1.1 413"), answer
        assert "repos.max_push_bytes" in answer
        folder = server.home / "repos" / f"{made['id']}.git"
        assert list((folder / "refs" / "heads").iterdir()) == []


def _rss() -> int:
    with Path("/proc/self/statm").open() as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class TestLargePush:
    def test_a_20_mb_pack_streams_through_without_the_server_holding_it(self, server, tmp_path):
        """The server runs in this process: its resident memory is sampled during the push."""
        _create(server, "big")
        git("init", "-q", "work", cwd=tmp_path)
        work = tmp_path / "work"
        size = 20 * 1024 * 1024
        for index in range(20):
            (work / f"blob{index}.bin").write_bytes(os.urandom(size // 20))
        git("add", ".", cwd=work)
        git("commit", "-q", "-m", "big", cwd=work)
        baseline, peak, done = _rss(), [0], threading.Event()

        def sample() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], _rss())
                done.wait(0.02)

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            git("push", "-q", f"{server.url}/default/big.git", "HEAD:main", cwd=work,
                token=server.token)  # fmt: skip
        finally:
            done.set()
            sampler.join()
        assert peak[0] - baseline < size // 2, (baseline, peak[0])
        git("clone", "-q", f"{server.url}/default/big.git", "again", cwd=tmp_path,
            token=server.token)  # fmt: skip
        assert (tmp_path / "again" / "blob7.bin").read_bytes() == (work / "blob7.bin").read_bytes()


def devflow(
    server: RegistryServer, *args: str, process: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run `devflow repo *args` in this process (tests/cli_inprocess.py), or with `process` as
    `python -m devflow` in its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEVFLOW_")}
    env.update(DEVFLOW_URL=server.url, DEVFLOW_TOKEN=server.token, COLUMNS="200")
    if not process:
        return run_cli("repo", *args, env=env)
    return subprocess.run(
        [sys.executable, "-m", "devflow", "repo", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


class TestCli:
    def test_the_repo_commands_create_show_rename_archive_and_delete(self, server, tmp_path):
        made = devflow(
            server, "create", "tool", "--readme", "--visibility", "internal", process=True
        )
        assert made.returncode == 0, made.stderr
        assert f"git clone {server.url}/default/tool.git" in made.stdout
        git("clone", "-q", f"{server.url}/default/tool.git", cwd=tmp_path, token=server.token)

        shown = json.loads(devflow(server, "show", "default/tool", "--json").stdout)
        assert (shown["visibility"], shown["default_branch"]) == ("internal", "main")
        assert shown["ssh_url"] is None  # this server's SSH is off (repos.ssh_port 0)
        assert "ssh:" not in devflow(server, "show", "default/tool").stdout
        listed = json.loads(devflow(server, "list", "--json").stdout)
        assert "tool" in [r["name"] for r in listed["items"]]

        renamed = devflow(server, "rename", "tool", "gadget", "--json")
        assert json.loads(renamed.stdout)["clone_url"] == f"{server.url}/default/gadget.git"
        archived = devflow(server, "archive", "gadget")
        assert "archived (read-only)" in archived.stdout
        assert devflow(server, "delete", "gadget", "--yes").returncode == 0
        missing = devflow(server, "show", "gadget")
        assert missing.returncode != 0
        assert "no repository default/gadget" in missing.stderr + missing.stdout
