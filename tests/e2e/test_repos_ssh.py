"""Git over SSH, driven by the real `ssh` client and `git` against a running DevFlow.

The server is DevFlow's app under uvicorn (`tests.registry_fixtures`) with its SSH server on a
free port; keys are made by `ssh-keygen` and added through the API, and git reaches the server
with `GIT_SSH_COMMAND` as a user would.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from devflow.core.embedded_pg import free_port
from tests.cli_inprocess import run_cli
from tests.registry_fixtures import RegistryServer, running_server

pytestmark = pytest.mark.skipif(
    shutil.which("git") is None or shutil.which("ssh") is None, reason="needs git and ssh"
)
PORT = free_port()


@pytest.fixture(scope="module")
def server(pg_server, template_url, tmp_path_factory) -> Iterator[RegistryServer]:
    del template_url
    home = tmp_path_factory.mktemp("home")
    with running_server(pg_server, home, settings={"repos": {"ssh_port": PORT}}) as running:
        yield running


def keygen(folder: Path, name: str) -> Path:
    key = folder / name
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{name}@test", "-f", str(key)],
        check=True,
        capture_output=True,
    )
    return key


def add_key(server: RegistryServer, key: Path, token: str | None = None) -> dict:
    with server.api(token) as api:
        added = api.post("/api/v1/users/me/keys", json={"key": key.with_suffix(".pub").read_text()})
    assert added.status_code == 201, added.text
    return added.json()


def ssh_url(name: str) -> str:
    return f"ssh://git@127.0.0.1:{PORT}/default/{name}.git"


def git(*args: str, cwd: Path, key: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
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
        GIT_SSH_COMMAND=f"ssh -i {key} -o IdentitiesOnly=yes -o StrictHostKeyChecking=no "
        "-o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o BatchMode=yes",
    )
    done = subprocess.run(
        ["git", "-c", "init.defaultBranch=main", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if check:
        assert done.returncode == 0, done.stderr
    return done


def ssh(key: Path, *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ssh", "-i", str(key), "-p", str(PORT), "-o", "IdentitiesOnly=yes",
         "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
         "-o", "LogLevel=ERROR", "-o", "BatchMode=yes", "git@127.0.0.1", *command],
        capture_output=True, text=True, timeout=60, check=False, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def create(server: RegistryServer, name: str) -> None:
    with server.api() as api:
        made = api.post("/api/v1/projects/default/repos", json={"name": name, "readme": True})
    assert made.status_code == 201, made.text


def commit(work: Path, name: str, text: str) -> None:
    (work / name).write_text(text)
    git("add", name, cwd=work, key=Path(os.devnull))
    git("commit", "-q", "-m", f"add {name}", cwd=work, key=Path(os.devnull))


@pytest.fixture(scope="module")
def admin_key(server, tmp_path_factory) -> Path:
    key = keygen(tmp_path_factory.mktemp("keys"), "admin")
    add_key(server, key)
    return key


class TestGitOverSsh:
    def test_clone_and_push_are_recorded_as_over_http(self, server, admin_key, tmp_path):
        create(server, "app")
        git("clone", "-q", ssh_url("app"), "work", cwd=tmp_path, key=admin_key)
        work = tmp_path / "work"
        assert (work / "README.md").exists()
        commit(work, "hello.txt", "hello\n")
        pushed = git("push", "origin", "HEAD:main", cwd=work, key=admin_key)
        assert pushed.returncode == 0
        with server.api() as api:
            shown = api.get("/api/v1/projects/default/repos/app").json()
            keys = api.get("/api/v1/users/me/keys").json()
        assert shown["last_pushed_at"] is not None
        assert keys[0]["last_used_at"] is not None
        # protocol v2 reaches the server through the client's `env` request
        v2 = git("-c", "protocol.version=2", "ls-remote", ssh_url("app"), cwd=tmp_path,
                 key=admin_key)  # fmt: skip
        assert "refs/heads/main" in v2.stdout
        again = git("clone", "-q", "--no-local", "--", ssh_url("app"), "again", cwd=tmp_path,
                    key=admin_key)  # fmt: skip
        assert again.returncode == 0
        assert (tmp_path / "again" / "hello.txt").read_text() == "hello\n"

    def test_the_api_and_repo_show_give_the_ssh_url_that_clones(self, server, admin_key, tmp_path):
        with server.api() as api:
            made = api.post(
                "/api/v1/projects/default/repos", json={"name": "shown", "readme": True}
            )
        assert made.status_code == 201, made.text
        assert made.json()["ssh_url"] == ssh_url("shown")
        env = {k: v for k, v in os.environ.items() if not k.startswith("DEVFLOW_")}
        env.update(DEVFLOW_URL=server.url, DEVFLOW_TOKEN=server.token, COLUMNS="200")
        shown = run_cli("repo", "show", "default/shown", env=env)
        assert shown.returncode == 0, shown.stderr
        assert f"git clone {ssh_url('shown')}" in shown.stdout
        cloned = git("clone", "-q", made.json()["ssh_url"], "work", cwd=tmp_path, key=admin_key)
        assert cloned.returncode == 0
        assert (tmp_path / "work" / "README.md").exists()

    def test_a_reader_clones_but_may_not_push(self, server, admin_key, tmp_path):
        create(server, "guarded")
        reader = server.make_user("sshreader", project_role="read")
        key = keygen(tmp_path, "reader")
        add_key(server, key, reader)
        git("clone", "-q", ssh_url("guarded"), "work", cwd=tmp_path, key=key)
        work = tmp_path / "work"
        commit(work, "x.txt", "x\n")
        refused = git("push", "origin", "HEAD:main", cwd=work, key=key, check=False)
        assert refused.returncode != 0
        assert "pushing to default/guarded needs the write role" in refused.stderr

    def test_a_protected_branch_refusal_reaches_the_pusher(self, server, admin_key, tmp_path):
        create(server, "kept")
        with server.api() as api:
            rule = api.put("/api/v1/projects/default/repos/kept/protections/main",
                           json={"require_pull_request": True})  # fmt: skip
        assert rule.status_code in {200, 201}, rule.text
        git("clone", "-q", ssh_url("kept"), "work", cwd=tmp_path, key=admin_key)
        work = tmp_path / "work"
        commit(work, "y.txt", "y\n")
        refused = git("push", "origin", "HEAD:main", cwd=work, key=admin_key, check=False)
        assert refused.returncode != 0
        assert "remote: main: protected by rule 'main'" in refused.stderr

    def test_an_unknown_key_is_refused(self, server, tmp_path):
        create(server, "closed")
        stranger = keygen(tmp_path, "stranger")
        refused = git("ls-remote", ssh_url("closed"), cwd=tmp_path, key=stranger, check=False)
        assert refused.returncode != 0
        assert "Permission denied (publickey)" in refused.stderr

    def test_a_removed_key_is_refused(self, server, tmp_path):
        user = server.make_user("sshgone", project_role="write")
        key = keygen(tmp_path, "gone")
        added = add_key(server, key, user)
        assert ssh(key, "git-upload-pack", "/default/nothere.git").returncode == 1
        with server.api(user) as api:
            assert api.delete(f"/api/v1/users/me/keys/{added['id']}").status_code == 204
        assert "Permission denied" in ssh(key, "git-upload-pack", "/default/x.git").stderr

    @pytest.mark.parametrize(
        ("command", "said"),
        [
            ((), "DevFlow serves git only"),
            (("sh", "-c", "id"), "DevFlow serves git only"),
            (("git-upload-pack", "/default/../../etc.git"), "no repository"),
            (("git-upload-pack", "/etc/passwd"), "no repository"),
            (("git-upload-pack", "'/default/missing.git'"), "no repository default/missing"),
            (("git-receive-pack", "default/a b.git"), "DevFlow serves git only"),
        ],
    )
    def test_anything_but_git_is_refused_on_stderr(self, server, admin_key, command, said):
        done = ssh(admin_key, *command)
        assert done.returncode != 0
        assert said in done.stderr, done.stderr

    def test_the_host_key_is_private(self, server, admin_key):
        key = server.home / "ssh_host_ed25519_key"
        assert key.stat().st_mode & 0o777 == 0o600


def cli(server: RegistryServer, *args: str, token: str | None = None, stdin: str | None = None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEVFLOW_")}
    env.update(DEVFLOW_URL=server.url, DEVFLOW_TOKEN=token or server.token, COLUMNS="200")
    return run_cli("ssh-key", *args, env=env, input=stdin)


class TestKeys:
    def test_the_cli_adds_lists_and_removes_a_key(self, server, tmp_path):
        user = server.make_user("sshcli")
        key = keygen(tmp_path, "cli")
        added = cli(server, "add", str(key.with_suffix(".pub")), "--json", token=user)
        assert added.returncode == 0, added.stderr
        made = json.loads(added.stdout)
        assert made["fingerprint"].startswith("SHA256:")
        assert made["title"] == "cli@test"
        listed = cli(server, "list", "--json", token=user)
        assert [k["id"] for k in json.loads(listed.stdout)] == [made["id"]]
        again = cli(server, "add", "-", token=user, stdin=key.with_suffix(".pub").read_text())
        assert again.returncode != 0
        assert "already added" in again.stderr
        shown = cli(server, "list", token=user)
        assert made["fingerprint"] in shown.stdout
        removed = cli(server, "remove", made["id"], token=user)
        assert removed.returncode == 0, removed.stderr
        assert json.loads(cli(server, "list", "--json", token=user).stdout) == []

    def test_an_invalid_key_is_a_clear_422(self, server, tmp_path):
        key = keygen(tmp_path, "private")
        with server.api() as api:
            private = api.post("/api/v1/users/me/keys", json={"key": key.read_text()})
            dsa = api.post("/api/v1/users/me/keys", json={"key": "ssh-dss AAAAB3NzaC1kc3M= x"})
        assert private.status_code == 422
        assert "private key" in private.json()["error"]["message"]
        assert dsa.status_code == 422
        assert "unsupported key type" in dsa.json()["error"]["message"]

    def test_admins_manage_anyones_keys_and_others_only_their_own(self, server, tmp_path):
        alice = server.make_user("sshalice")
        server.make_user("sshbob")
        key = keygen(tmp_path, "bob")
        with server.api() as admin:
            made = admin.post("/api/v1/users/sshbob/keys",
                              json={"key": key.with_suffix(".pub").read_text()})  # fmt: skip
            assert made.status_code == 201, made.text
        with server.api(alice) as api:
            assert api.get("/api/v1/users/sshbob/keys").status_code == 403
            gone = api.delete(f"/api/v1/users/sshbob/keys/{made.json()['id']}")
            assert gone.status_code == 403
            mine = api.delete(f"/api/v1/users/me/keys/{made.json()['id']}")
            assert mine.status_code == 404  # bob's key is not alice's
        with server.api() as admin:
            listed = admin.get("/api/v1/users/sshbob/keys").json()
            assert [k["id"] for k in listed] == [made.json()["id"]]
            assert admin.delete(f"/api/v1/users/sshbob/keys/{listed[0]['id']}").status_code == 204


class TestProtocol:
    def test_protocol_v2_is_spoken_when_the_client_asks(self, server, admin_key, tmp_path):
        create(server, "v2")
        env = {**os.environ, "GIT_TRACE_PACKET": "1"}
        done = subprocess.run(
            ["git", "-c", "protocol.version=2", "ls-remote", ssh_url("v2")],
            cwd=tmp_path,
            env={**env, "GIT_SSH_COMMAND": f"ssh -i {admin_key} -o IdentitiesOnly=yes "
                 "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"},
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "< version 2" in done.stderr  # the server answered in protocol v2
        assert "refs/heads/main" in done.stdout

    def test_git_archive_over_ssh(self, server, admin_key, tmp_path):
        create(server, "archived")
        done = git("archive", f"--remote={ssh_url('archived')}", "-o", "out.tar", "main",
                   cwd=tmp_path, key=admin_key)  # fmt: skip
        assert done.returncode == 0
        assert (tmp_path / "out.tar").stat().st_size > 0


def test_a_client_that_sends_nothing_is_let_go(server, admin_key, monkeypatch):
    # The server runs in this process (a thread): its idle bound is shortened here.
    from devflow.repos.ssh import server as ssh_server

    create(server, "idle")
    monkeypatch.setattr(ssh_server, "IDLE", 1.0)
    proc = subprocess.Popen(
        ["ssh", "-i", str(admin_key), "-p", str(PORT), "-o", "IdentitiesOnly=yes",
         "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
         "-o", "LogLevel=ERROR", "-o", "BatchMode=yes", "git@127.0.0.1",
         "git-receive-pack", "/default/idle.git"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        proc.wait(timeout=30)  # stdin stays open: only the server's bound ends the session
    finally:
        proc.kill()
        proc.communicate()
    assert proc.returncode == 128  # git receive-pack: its input ended before any command
