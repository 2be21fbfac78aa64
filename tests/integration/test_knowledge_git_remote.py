"""Remote git sources: the host is resolved and checked by DevFlow, and git is pinned to it."""

from __future__ import annotations

import http.server
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from devflow.core.errors import Invalid
from devflow.knowledge.local import checkout, git_files, pin_remote
from devflow.knowledge.models import Source

HOST = "git.devflow.test"  # resolves nowhere: only a pinned address gets git there


class _SmartHttp(http.server.BaseHTTPRequestHandler):
    """git's smart HTTP protocol through `git http-backend` (a CGI program)."""

    root: Path
    paths: list[str]

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        self.paths.append(self.path)
        path, _, query = self.path.partition("?")
        if path.startswith("/moved.git/"):
            self.send_response(301)
            self.send_header("Location", self.path.replace("/moved.git/", "/repo.git/", 1))
            self.end_headers()
            return
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        env = {
            "GIT_PROJECT_ROOT": str(self.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "REQUEST_METHOD": self.command,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "PATH": "/usr/bin:/bin",
        }
        done = subprocess.run(
            ["git", "http-backend"], input=body, env=env, capture_output=True, check=True
        )
        head, _, payload = done.stdout.partition(b"\r\n\r\n")
        headers = [line.split(": ", 1) for line in head.decode().split("\r\n") if line]
        status = next((int(v.split()[0]) for k, v in headers if k == "Status"), 200)
        self.send_response(status)
        for key, value in headers:
            if key != "Status":
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


def _git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def served(tmp_path) -> Iterator[tuple[int, list[str]]]:
    """A bare repository served over git's smart HTTP protocol; yields its port and the paths
    requested."""
    work = tmp_path / "work"
    work.mkdir()
    _git("init", "-q", "-b", "main", cwd=work)
    (work / "README.md").write_text("# Pinned\n\nCloned through a checked address.\n")
    _git("add", "README.md", cwd=work)
    _git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "one", cwd=work)
    root = tmp_path / "served"
    root.mkdir()
    _git("clone", "-q", "--bare", str(work), str(root / "repo.git"), cwd=tmp_path)
    paths: list[str] = []
    handler = type("Handler", (_SmartHttp,), {"root": root, "paths": paths})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1], paths
    finally:
        server.shutdown()
        server.server_close()


def _resolver(*addresses: str):
    asked: list[tuple[str, int]] = []

    async def resolve(host: str, port: int) -> list[str]:
        asked.append((host, port))
        return list(addresses)

    return resolve, asked


async def test_git_clones_from_the_address_devflow_checked(served):
    port, paths = served
    resolve, asked = _resolver("127.0.0.1")
    source = Source(location=f"http://{HOST}:{port}/repo.git", settings={})
    async with checkout(source, allow_private=True, resolver=resolve) as tree:
        assert await git_files(tree) == ["README.md"]
    assert asked == [(HOST, port)]  # once, by DevFlow; git itself never resolved the name
    assert paths


async def test_a_name_that_resolves_to_a_private_address_is_refused_before_git_runs(served):
    port, paths = served
    resolve, _ = _resolver("10.1.2.3", "127.0.0.1")
    source = Source(location=f"http://{HOST}:{port}/repo.git", settings={})
    with pytest.raises(Invalid) as refused:
        async with checkout(source, allow_private=False, resolver=resolve):
            pass
    assert refused.value.details == {"reason": "private_address"}
    assert "10.1.2.3" in refused.value.message
    assert "allow_private" in refused.value.message
    assert paths == []


async def test_redirects_are_not_followed_where_the_check_does_not_reach(served):
    port, paths = served
    resolve, _ = _resolver("127.0.0.1")
    source = Source(location=f"http://{HOST}:{port}/moved.git", settings={})
    with pytest.raises(Invalid, match="git clone failed"):
        async with checkout(source, allow_private=True, resolver=resolve):
            pass
    assert paths
    assert all(p.startswith("/moved.git/") for p in paths)


@pytest.mark.parametrize(
    ("location", "addresses", "url", "ssh"),
    [
        ("git@example.com:team/app.git", ["93.184.216.34"], "git@93.184.216.34:team/app.git", 1),
        (
            "ssh://git@example.com:2222/app.git",
            ["2606:2800::1"],
            "ssh://git@[2606:2800::1]:2222/app.git",
            1,
        ),
        ("git://example.com/app.git", ["93.184.216.34"], "git://93.184.216.34/app.git", 0),
    ],
)
async def test_other_transports_connect_to_the_checked_address_itself(
    location, addresses, url, ssh
):
    resolve, asked = _resolver(*addresses)
    pinned = await pin_remote(location, allow_private=False, resolver=resolve)
    assert pinned.url == url
    assert asked[0][0] == "example.com"
    assert ("GIT_SSH_COMMAND" in pinned.env) == bool(ssh)
    if ssh:  # the host key is still checked under the host's name
        assert pinned.env["GIT_SSH_COMMAND"].endswith("HostKeyAlias=example.com")


@pytest.mark.parametrize("location", ["https://host:99999/x.git", "ftp://host/x.git", "https:///x"])
async def test_what_is_not_a_clone_url_is_refused_with_the_forms_that_are(location):
    resolve, asked = _resolver("93.184.216.34")
    with pytest.raises(Invalid, match="is not a clone URL"):
        await pin_remote(location, allow_private=False, resolver=resolve)
    assert asked == []


async def test_a_name_that_does_not_resolve_says_so():
    async def nowhere(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    with pytest.raises(Invalid, match=r"cannot resolve nowhere\.test"):
        await pin_remote("https://nowhere.test/x.git", allow_private=False, resolver=nowhere)


@pytest.fixture
def dumb(tmp_path) -> Iterator[tuple[int, list[str]]]:
    """A bare repository served by a plain web server (git's "dumb" HTTP protocol, which cannot
    serve shallow clones); yields its port and the paths requested."""
    work = tmp_path / "work"
    work.mkdir()
    _git("init", "-q", "-b", "main", cwd=work)
    (work / "README.md").write_text("# Dumb\n\nServed as plain files.\n")
    _git("add", "README.md", cwd=work)
    _git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "one", cwd=work)
    root = tmp_path / "static"
    root.mkdir()
    _git("clone", "-q", "--bare", str(work), str(root / "repo.git"), cwd=tmp_path)
    _git("update-server-info", cwd=root / "repo.git")  # the index files dumb clients read
    paths: list[str] = []

    class Static(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, directory=str(root), **kwargs)

        def do_GET(self) -> None:
            paths.append(self.path)
            super().do_GET()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Static)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1], paths
    finally:
        server.shutdown()
        server.server_close()


async def test_a_server_that_cannot_serve_a_shallow_clone_is_cloned_whole(dumb):
    port, paths = dumb
    resolve, asked = _resolver("127.0.0.1")
    source = Source(location=f"http://{HOST}:{port}/repo.git", settings={})
    async with checkout(source, allow_private=True, resolver=resolve) as tree:
        assert await git_files(tree) == ["README.md"]
    assert asked == [(HOST, port)]  # the whole clone went to the checked address as well
    assert "/repo.git/info/refs?service=git-upload-pack" in paths
    assert any(p.startswith("/repo.git/objects/") for p in paths)


async def test_a_dumb_server_clones_a_branch_too(dumb, tmp_path):
    port, _ = dumb
    resolve, _ = _resolver("127.0.0.1")
    source = Source(location=f"http://{HOST}:{port}/repo.git", settings={"ref": "main"})
    async with checkout(source, allow_private=True, resolver=resolve) as tree:
        assert (tree / "README.md").read_text().startswith("# Dumb")


def _head_names_master(bare: Path) -> None:
    """Make a bare repository's HEAD name `master` while only `main` has commits: what
    `git init --bare` (git's default) and `git push origin main` leave."""
    (bare / "HEAD").write_text("ref: refs/heads/master\n")
    _git("update-server-info", cwd=bare)


@pytest.mark.parametrize("protocol", ["smart", "dumb"])
async def test_a_remote_whose_head_names_a_branch_without_commits_is_read_at_its_branch(
    protocol, request, tmp_path
):
    # Before, the clone had no files and the source read "ready" with 0 documents, silently.
    port, _ = request.getfixturevalue("served" if protocol == "smart" else "dumb")
    root = tmp_path / ("served" if protocol == "smart" else "static")
    _head_names_master(root / "repo.git")
    resolve, _ = _resolver("127.0.0.1")
    source = Source(location=f"http://{HOST}:{port}/repo.git", settings={})
    async with checkout(source, allow_private=True, resolver=resolve) as tree:
        assert await git_files(tree) == ["README.md"]


async def test_a_remote_with_several_branches_and_none_the_default_says_which_to_choose(
    served, tmp_path
):
    port, _ = served
    bare = tmp_path / "served" / "repo.git"
    _git("branch", "-m", "main", "docs", cwd=bare)
    _git("branch", "release", "docs", cwd=bare)
    _head_names_master(bare)
    resolve, _ = _resolver("127.0.0.1")
    source = Source(location=f"http://{HOST}:{port}/repo.git", settings={})
    with pytest.raises(Invalid, match=r"names master as its default.*\(docs, release\) with --ref"):
        async with checkout(source, allow_private=True, resolver=resolve):
            pass
