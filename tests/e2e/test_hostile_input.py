"""Hostile input on every protocol surface (the API, PyPI, npm, OCI, MCP) gets a clear 4xx and
changes nothing: NUL characters, overflowing numbers, path traversal, oversized declared sizes,
strings where objects belong. Real uvicorn, raw HTTP where clients would refuse to send it."""

from __future__ import annotations

import base64
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from tests.registry_fixtures import RegistryServer, npm_document, running_server
from tests.secret_values import leaked, secret_value

HUGE = "9" * 30
NUL = "a\x00b"
RUNS = "/api/v1/projects/default/runs"
PULLS = "/api/v1/projects/default/repos/pulled/pulls"  # a git repository (see server)
GIT = "/api/v1/projects/default/repos"
BUG = {"report": "it crashes", "repository": "app"}  # bug-fix's required parameters


@pytest.fixture(scope="module")
def server(pg_server, template_url, tmp_path_factory) -> Iterator[RegistryServer]:
    del template_url
    with running_server(pg_server, tmp_path_factory.mktemp("home")) as running:
        running.create_repo("py", "pypi")
        running.create_repo("js", "npm")
        with running.api() as api:  # a git repository with a README, for pull requests
            api.post("/api/v1/projects/default/repos", json={"name": "pulled", "readme": True})
        yield running


def _basic(token: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"__token__:{token}".encode()).decode()}


def _raw(server: RegistryServer, head: str, body: bytes = b"") -> tuple[int, bytes]:
    """Send one request as bytes (paths httpx would re-encode) and return status and body."""
    parts = urlsplit(server.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(head.encode("latin-1") + b"\r\n\r\n" + body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, data.partition(b"\r\n\r\n")[2]


def _head(server: RegistryServer, method: str, target: str, *extra: str) -> str:
    lines = [
        f"{method} {target} HTTP/1.1",
        f"Host: {urlsplit(server.url).netloc}",
        f"Authorization: Bearer {server.token}",
        "Connection: close",
        *extra,
    ]
    return "\r\n".join(lines)


RAW_TARGETS = [
    ("GET", "/api/v1/projects/a%00b"),
    ("GET", "/api/v1/knowledge/sources?project=a%00b"),
    ("GET", "/api/v1/registry/search?q=%00"),
    ("GET", "/pypi/py/simple/a%00b/"),
    ("GET", "/pypi/py/files/x%00.whl"),
    ("GET", "/npm/js/a%00b"),
    ("GET", "/v2/default/a%00b/manifests/latest"),
    (
        "GET",
        f"/api/v1/knowledge/sources/{'0' * 8}-0000-0000-0000-{'0' * 12}/documents?offset={HUGE}",
    ),
    ("GET", "/api/v1/jobs/" + HUGE),
    ("POST", "/api/v1/jobs/" + HUGE + "/cancel"),
    ("POST", "/api/v1/jobs/a%00b/retry"),
    ("POST", "/api/v1/jobs/987654321/retry"),
    ("GET", "/api/v1/settings?section=%00"),
    ("GET", "/api/v1/projects/default/tasks?offset=" + HUGE),
    ("GET", "/api/v1/projects/default/tasks?limit=" + HUGE),
    ("GET", "/api/v1/projects/default/tasks?state=finished"),
    ("GET", "/api/v1/projects/default/tasks?q=a%00b"),
    ("GET", "/api/v1/projects/default/tasks/search?q="),
    ("GET", "/api/v1/projects/default/tasks/search?q=a%00b"),
    ("GET", "/api/v1/projects/default/tasks/search?q=" + "x" * 5000),
    ("GET", "/api/v1/projects/default/tasks/search?q=a&limit=" + HUGE),
    ("GET", "/api/v1/projects/default/tasks/search?q=a&run=" + HUGE),
    ("GET", "/api/v1/projects/a%00b/tasks"),
    ("GET", "/api/v1/projects/" + "p" * 5000 + "/tasks"),
    ("DELETE", "/api/v1/projects/default/members/a%00b"),
    ("DELETE", "/api/v1/projects/default/members/..%2F..%2Fadmin"),
    ("DELETE", "/api/v1/projects/default/members/" + "u" * 5000),
    ("DELETE", "/api/v1/projects/default/members/nobody-here"),
    ("GET", "/api/v1/projects/default/workflows?offset=" + HUGE),
    ("GET", "/api/v1/projects/default/workflows?limit=" + HUGE),
    ("GET", "/api/v1/projects/default/workflows/a%00b"),
    ("GET", "/api/v1/projects/default/workflows/..%2F..%2Fetc%2Fpasswd"),
    ("GET", "/api/v1/projects/default/workflows/Bad%20Name"),
    ("GET", "/api/v1/projects/default/workflows/" + "w" * 5000),
    ("GET", "/api/v1/projects/default/workflows/bug-fix?version=" + HUGE),
    ("GET", "/api/v1/projects/default/workflows/bug-fix/versions?offset=" + HUGE),
    ("GET", "/api/v1/projects/a%00b/workflows"),
    ("GET", "/api/v1/events?follow=false&latest=" + HUGE),
    ("GET", "/api/v1/events?since=" + HUGE),
    ("GET", "/api/v1/knowledge/documents?uri=x&start=" + HUGE),
    ("GET", "/api/v1/llm/usage?since=" + HUGE + "d"),
    ("GET", "/v2/_catalog?n=" + HUGE),
    ("GET", "/v2/_catalog?n=%D9%A3"),  # an Arabic-Indic digit
    ("GET", "/npm/js/-/v1/search?text=x&size=" + "9" * 5000),
    ("GET", "/pypi/py/files/..%2F..%2Fetc%2Fpasswd"),
    ("GET", "/npm/js/..%2F..%2Fx"),
    ("GET", "/v2/default/../../x/manifests/latest"),
    ("GET", "/api/v1/knowledge/code-examples?q="),
    ("GET", "/api/v1/knowledge/code-examples?q=%20%20"),
    ("GET", "/api/v1/projects/default/runs/" + HUGE),
    ("GET", "/api/v1/projects/default/runs/0"),
    ("GET", "/api/v1/projects/default/runs/987654321"),
    ("GET", "/api/v1/projects/default/runs/a%00b"),
    ("POST", "/api/v1/projects/default/runs/" + HUGE + "/pause"),
    ("POST", "/api/v1/projects/default/runs/-1/cancel"),
    ("POST", "/api/v1/projects/default/runs/987654321/resume"),
    ("POST", "/api/v1/projects/default/runs/1/approvals/" + HUGE),
    ("GET", "/api/v1/projects/default/runs?state=finished"),
    ("GET", "/api/v1/projects/default/runs?state=%00"),
    ("GET", "/api/v1/projects/default/runs?workflow=a%00b"),
    ("GET", "/api/v1/projects/default/runs?workflow=" + "w" * 5000),
    ("GET", "/api/v1/projects/default/runs?offset=" + HUGE),
    ("GET", "/api/v1/projects/default/runs?limit=" + HUGE),
    ("GET", "/api/v1/projects/a%00b/runs"),
    ("GET", "/api/v1/projects/" + "p" * 5000 + "/runs"),
    ("GET", "/api/v1/projects/default/tasks?run=" + HUGE),
    ("GET", "/api/v1/projects/default/tasks?phase=a%00b"),
    ("GET", PULLS + "/" + HUGE),
    ("GET", PULLS + "/0"),
    ("GET", PULLS + "/-1/diff"),
    ("GET", PULLS + "/a%00b"),
    ("GET", PULLS + "?state=%00"),
    ("GET", PULLS + "?state=everything"),
    ("GET", PULLS + "?limit=" + HUGE),
    ("GET", PULLS + "?offset=" + HUGE),
    ("GET", "/api/v1/projects/default/repos/a%00b/pulls"),
    ("GET", "/api/v1/projects/default/repos/missing/pulls/1"),
    ("GET", "/api/v1/projects/default/repos/..%2F..%2Fetc/pulls"),
    ("GET", "/api/v1/projects/default/repos/" + "r" * 5000 + "/pulls"),
    ("POST", PULLS + "/1/merge"),
    ("POST", PULLS + "/987654/close"),
    ("GET", GIT + "/a%00b/protections"),
    ("PUT", GIT + "/app/protections/a%00b"),
    ("DELETE", GIT + "/app/protections/" + "x" * 5000),
    ("POST", GIT + "/app/statuses/" + "f" * 5000),
    ("POST", GIT + "/app/statuses/a%00b"),
    ("GET", GIT + "/app/commits/a%00b/status"),
    ("GET", GIT + "/app/commits/..%2F..%2Fetc/statuses"),
    ("GET", GIT + "/app/commits/main/statuses?limit=" + HUGE),
    ("GET", GIT + "/app/commits/main/statuses?offset=" + HUGE),
]


class TestPathsAndQueries:
    @pytest.mark.parametrize(("method", "target"), RAW_TARGETS)
    def test_is_a_clear_client_error(self, server, method, target):
        status, body = _raw(server, _head(server, method, target))
        assert 400 <= status < 500, (target, status, body[:300])
        assert body, target


BROWSE = "/api/v1/projects/default/repos/browsed"
BROWSE_TARGETS = [
    ("GET", f"{BROWSE}/tree?path=..%2F..%2Fetc"),
    ("GET", f"{BROWSE}/tree?path=a%00b"),
    ("GET", f"{BROWSE}/tree?path=" + "p" * 5000),
    ("GET", f"{BROWSE}/file?path=README.md%2F..%2F..%2Fx"),
    ("GET", f"{BROWSE}/file?path=a%0Ab"),
    ("GET", f"{BROWSE}/file"),
    ("GET", f"{BROWSE}/raw?path=.%2FREADME.md"),
    ("GET", f"{BROWSE}/raw?path=README.md&ref=--output%3Dx"),
    ("GET", f"{BROWSE}/blame?path=README.md&ref=-n"),
    ("GET", f"{BROWSE}/commits?ref=--output%3D%2Ftmp%2Fx"),
    ("GET", f"{BROWSE}/commits?ref=main..main"),
    ("GET", f"{BROWSE}/commits?ref=main%3AREADME.md"),
    ("GET", f"{BROWSE}/commits?limit=" + HUGE),
    ("GET", f"{BROWSE}/commits?offset=" + HUGE),
    ("GET", f"{BROWSE}/commits/--output%3Dx"),
    ("GET", f"{BROWSE}/commits/" + "f" * 5000),
    ("GET", f"{BROWSE}/commits/no-such-ref"),
    ("GET", f"{BROWSE}/compare?base=--all&head=main"),
    ("GET", f"{BROWSE}/compare?base=main"),
    ("GET", f"{BROWSE}/readme?ref=a%00b"),
    ("GET", f"{BROWSE}/branches?limit=" + HUGE),
    ("GET", f"{BROWSE}/tags?offset=" + HUGE),
    ("GET", f"{BROWSE}/tags?limit=0"),
    ("GET", "/api/v1/projects/default/repos/..%2F..%2Fx/tree"),
    ("GET", "/api/v1/projects/default/repos/missing/tree?ref=--output%3Dx"),
]


@pytest.fixture(scope="module")
def browsed(server: RegistryServer) -> None:
    """A git repository with a README commit, for the browsing routes."""
    with server.api() as api:
        made = api.post("/api/v1/projects/default/repos", json={"name": "browsed", "readme": True})
    assert made.status_code == 201, made.text


class TestRepositoryBrowsing:
    @pytest.mark.parametrize(("method", "target"), BROWSE_TARGETS)
    def test_is_a_clear_client_error(self, server, browsed, method, target):
        del browsed
        status, body = _raw(server, _head(server, method, target))
        assert 400 <= status < 500, (target, status, body[:300])
        assert body, target
        assert not (server.home / "repos" / "x").exists()


HOOKS = "/api/v1/projects/default/hooks"
ZERO_ID = "00000000-0000-0000-0000-000000000000"
HOOK_TARGETS = [
    ("GET", f"{HOOKS}/a%00b"),
    ("GET", f"{HOOKS}/..%2F..%2Fx"),
    ("GET", f"{HOOKS}/" + "f" * 5000),
    ("GET", f"{HOOKS}?repository=a%00b"),
    ("GET", f"{HOOKS}?repository=" + "r" * 5000),
    ("GET", f"{HOOKS}?limit=" + HUGE),
    ("GET", f"{HOOKS}/{ZERO_ID}/deliveries?offset=" + HUGE),
    ("GET", f"{HOOKS}/{ZERO_ID}/deliveries/not-a-uuid"),
    ("POST", f"{HOOKS}/{ZERO_ID}/deliveries/{ZERO_ID}/attempts"),
    ("DELETE", f"{HOOKS}/{ZERO_ID}"),
]
HOOK_BODIES = [
    {"url": "http://127.0.0.1:22/"},
    {"url": "http://[::ffff:127.0.0.1]/"},
    {"url": "http://169.254.169.254/latest/meta-data/"},
    {"url": "file:///etc/passwd"},
    {"url": "https://example.com/\x00"},
    {"url": "https://a b.example.com/"},
    {"url": "https://example.com/" + "x" * 5000},
    {"url": "https://example.com/", "events": ["push"] * 50},
    {"url": "https://example.com/", "events": "push"},
    {"url": "https://example.com/", "repository": "../../etc"},
    {"url": "https://example.com/", "secret": "x" * 5000},
    {"url": {"$ne": None}},
]


class TestWebhooks:
    @pytest.mark.parametrize(("method", "target"), HOOK_TARGETS)
    def test_a_hostile_path_or_query_is_a_clear_client_error(self, server, method, target):
        status, body = _raw(server, _head(server, method, target))
        assert 400 <= status < 500, (target, status, body[:300])
        assert body, target

    @pytest.mark.parametrize("body", HOOK_BODIES)
    def test_a_hostile_hook_is_refused_and_stores_nothing(self, server, body):
        answer = _json(server, "POST", HOOKS, body)
        assert 400 <= answer.status_code < 500, (body, answer.text[:300])
        assert answer.json()["error"]["message"]
        with server.api() as api:
            assert api.get(HOOKS).json()["total"] == 0


IMPORT_BODIES = [
    {"url": "http://127.0.0.1:22/x.git"},
    {"url": "http://[::ffff:127.0.0.1]/x.git"},
    {"url": "http://169.254.169.254/latest/x.git"},
    {"url": "http://10.0.0.1/x.git"},
    {"url": "file:///etc/x.git"},
    {"url": "ext::sh -c touch% /tmp/pwned"},
    {"url": "ssh://git@example.com/x.git"},
    {"url": "git@example.com:team/x.git"},
    {"url": "https://ada:secret@example.com/x.git"},
    {"url": "https://example.com/x.git\x00"},
    {"url": "https://example.com/" + "x" * 5000},
    {"url": "https://example.com/x.git", "name": "../../etc"},
    {"url": "https://example.com/x.git", "name": "a\x00b"},
    {"url": "https://example.com/x.git", "mirror": True, "interval_seconds": 1},
    {"url": "https://example.com/x.git", "mirror": "yes"},
    {"url": {"$ne": None}},
]

FORK_BODIES = [
    {"name": "../../etc"},
    {"name": "a\x00b"},
    {"name": "x" * 5000},
    {"name": "forked-src"},  # taken: the source itself
    {"project": "../../etc"},
    {"project": "nope"},
    {"project": "a\x00b"},
    {"name": {"$ne": None}},
]


class TestImports:
    @pytest.mark.parametrize("body", IMPORT_BODIES)
    def test_a_hostile_import_is_refused_and_queues_nothing(self, server, body):
        answer = _json(server, "POST", f"{GIT}/import", body)
        assert 400 <= answer.status_code < 500, (body, answer.text[:300])
        assert answer.json()["error"]["message"]
        assert "secret" not in answer.text
        with server.api() as api:
            names = [r["name"] for r in api.get(GIT).json()["items"]]
            assert "x" not in names
            jobs = api.get("/api/v1/jobs", params={"task": "repos:import_repository"}).json()
            assert not [j for j in jobs["items"] if j["task"] == "repos:import_repository"]

    @pytest.mark.parametrize("body", FORK_BODIES)
    def test_a_hostile_fork_is_refused_and_makes_nothing(self, server, body):
        with server.api() as api:
            api.post(GIT, json={"name": "forked-src", "readme": True})
            answer = api.post(f"{GIT}/forked-src/forks", json=body)
            assert 400 <= answer.status_code < 500, (body, answer.text[:300])
            assert answer.json()["error"]["message"]
            assert api.get(f"{GIT}/forked-src/forks").json() == []

    @pytest.mark.parametrize("name", ["a%00b", "..%2F..%2Fx", "r" * 5000, "missing"])
    def test_a_hostile_fork_source_is_a_clear_client_error(self, server, name):
        for method in ("GET", "POST"):
            status, body = _raw(server, _head(server, method, f"{GIT}/{name}/forks"))
            assert 400 <= status < 500, (name, status, body[:300])

    @pytest.mark.parametrize("name", ["a%00b", "..%2F..%2Fx", "r" * 5000, "missing"])
    def test_a_hostile_mirror_path_is_a_clear_client_error(self, server, name):
        for method, tail in (("GET", "/mirror"), ("POST", "/mirror/sync")):
            status, body = _raw(server, _head(server, method, f"{GIT}/{name}{tail}"))
            assert 400 <= status < 500, (name, status, body[:300])


KEYS = "/api/v1/users/me/keys"
KEY_TARGETS = [
    ("GET", "/api/v1/users/a%00b/keys"),
    ("GET", "/api/v1/users/..%2F..%2Fx/keys"),
    ("GET", "/api/v1/users/" + "u" * 5000 + "/keys"),
    ("GET", "/api/v1/users/nobody-here/keys"),
    ("DELETE", f"{KEYS}/not-a-uuid"),
    ("DELETE", f"{KEYS}/{ZERO_ID}"),
    ("DELETE", f"{KEYS}/a%00b"),
]


def _key_bodies() -> list[object]:
    import asyncssh

    ed = asyncssh.generate_private_key("ssh-ed25519")
    public = ed.export_public_key().decode().strip()
    small_rsa = asyncssh.generate_private_key("ssh-rsa", key_size=1024)
    return [
        {"key": ed.export_private_key().decode()},  # a private key
        {"key": small_rsa.export_public_key().decode()},
        {"key": "ssh-dss AAAAB3NzaC1kc3MAAACBAP== old"},
        {"key": "ssh-ed25519 not-base64!! x"},
        {"key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA== short"},
        {"key": "hello"},
        {"key": ""},
        {"key": public + "\n" + public},
        {"key": public + "\x00"},
        {"key": "ssh-ed25519 " + "A" * 20000},
        {"key": public, "title": "a\x00b"},
        {"key": public, "title": "t" * 500},
        {"key": {"$ne": None}},
        {"key": public, "extra": 1},
    ]


class TestSshKeys:
    @pytest.mark.parametrize(("method", "target"), KEY_TARGETS)
    def test_a_hostile_key_path_is_a_clear_client_error(self, server, method, target):
        status, body = _raw(server, _head(server, method, target))
        assert 400 <= status < 500, (target, status, body[:300])
        assert body, target

    def test_a_hostile_key_is_refused_and_stores_nothing(self, server):
        for body in _key_bodies():
            answer = _json(server, "POST", KEYS, body)
            assert 400 <= answer.status_code < 500, (str(body)[:200], answer.text[:300])
            assert answer.status_code in {400, 422}, (str(body)[:200], answer.text[:300])
            assert answer.json()["error"]["message"]
            assert "PRIVATE" not in answer.text
        with server.api() as api:
            assert api.get(KEYS).json() == []


def _json(server: RegistryServer, method: str, path: str, body: object, **headers: str):
    with server.api() as api:
        return api.request(method, path, json=body, headers=headers or None)


JSON_CASES = [
    ("POST", "/api/v1/knowledge/search", {"query": NUL}),
    ("POST", "/api/v1/projects", {"name": NUL}),
    ("POST", "/api/v1/projects", {"name": "ok", "description": NUL}),
    ("POST", "/api/v1/tokens", {"name": NUL}),
    ("POST", "/api/v1/users", {"username": "x", "display_name": NUL}),
    ("POST", "/api/v1/knowledge/sources", {"location": "https://e.com/" + NUL}),
    ("PUT", "/api/v1/llm/budgets/default", {"monthly_usd": 1_000_000_000}),
    ("PUT", "/api/v1/llm/budgets/default", {"monthly_usd": int(HUGE)}),
    ("POST", "/api/v1/registry/gc", {"dry_run": 0}),
    ("POST", "/api/v1/registry/gc", {"dry_run": "no"}),
    ("POST", "/api/v1/users", {"username": "x", "is_admin": 1}),
    ("POST", "/api/v1/knowledge/search", {"query": "x", "limit": int(HUGE)}),
    ("POST", "/api/v1/knowledge/search", "a string"),
    ("POST", "/api/v1/knowledge/search", [1, 2]),
    ("POST", "/api/v1/session", {"token": NUL}),
    ("POST", "/api/v1/session", {"token": "dfl_" + "a" * 100_000}),
    ("POST", "/api/v1/session", {"token": int(HUGE)}),
    ("POST", "/api/v1/session", {}),
    ("PUT", "/npm/js/left-pad", {"name": NUL}),
    ("PUT", "/npm/js/left-pad", npm_document("left-pad", "../../x")),
    ("PUT", "/npm/js/-/package/left-pad/dist-tags/latest", "1.0.0\x00"),
    ("PUT", "/npm/js/-/user/org.couchdb.user:" + "x", {"name": NUL, "password": NUL}),
    ("POST", RUNS, {"workflow": "bug-fix", "goal": NUL, "params": BUG}),
    ("POST", RUNS, {"workflow": NUL, "goal": "x", "params": BUG}),
    ("POST", RUNS, {"workflow": "bug-fix", "goal": "x", "params": {**BUG, "report": NUL}}),
    ("POST", RUNS, {"workflow": "bug-fix", "goal": "x", "params": {**BUG, NUL: "x"}}),
    ("POST", RUNS, {"workflow": "bug-fix", "goal": "x", "params": {**BUG, "report": {"a": 1}}}),
    ("POST", RUNS, {"workflow": "bug-fix", "goal": "x", "params": {**BUG, "report": [1]}}),
    ("POST", RUNS, {"workflow": "bug-fix", "goal": "x", "params": {**BUG, "severity": "huge"}}),
    ("POST", RUNS, {"workflow": "bug-fix", "goal": "x", "params": {**BUG, "extra": int(HUGE)}}),
    ("POST", RUNS, {"workflow": "bug-fix", "goal": "x", "params": {"repository": "app"}}),
    ("POST", RUNS, {"workflow": "bug-fix", "goal": "x", "params": {f"p{i}": i for i in range(51)}}),
    ("POST", RUNS, {"workflow": "bug-fix", "goal": "x", "params": "report=x"}),
    ("POST", RUNS, {"workflow": "bug-fix", "goal": "x" * 20_001, "params": BUG}),
    ("POST", RUNS, {"workflow": "bug-fix", "goal": " ", "params": BUG}),
    ("POST", RUNS, {"workflow": "bug-fix", "goal": "x", "params": BUG, "version": int(HUGE)}),
    ("POST", RUNS, {"workflow": "bug-fix", "goal": "x", "params": BUG, "version": 99}),
    ("POST", RUNS, {"workflow": "../../etc", "goal": "x"}),
    ("POST", RUNS, {"workflow": "bug-fix", "goal": "x", "params": BUG, "repository": "nope"}),
    ("POST", RUNS, {"workflow": "bug-fix", "goal": "x", "params": BUG, "state": "succeeded"}),
    ("POST", RUNS + "/1/result", {"summary": NUL}),
    ("POST", RUNS + "/1/approvals/1", {"decision": "maybe"}),
    ("POST", RUNS + "/1/approvals/1", {"decision": "approve", "comment": NUL}),
    ("POST", PULLS, {"head": "../../etc", "title": "x"}),
    ("POST", PULLS, {"head": "--upload-pack=touch /tmp/x", "title": "x"}),
    ("POST", PULLS, {"head": "topic", "base": "a..b", "title": "x"}),
    ("POST", PULLS, {"head": "topic", "title": NUL}),
    ("POST", PULLS, {"head": "topic", "title": "  "}),
    ("POST", PULLS, {"head": "topic", "title": "x" * 301}),
    ("POST", PULLS, {"head": "topic", "title": "x", "body": "b" * 70_000}),
    ("POST", PULLS, {"head": "topic", "title": "x", "draft": "yes"}),
    ("POST", PULLS, {"head": ["topic"], "title": "x"}),
    ("POST", PULLS, {"head": "topic", "title": "x", "head_repository": "../../x"}),
    ("POST", PULLS, {"head": "topic", "title": "x", "head_repository": "default/a\x00b"}),
    ("POST", PULLS, {"head": "topic", "title": "x", "head_repository": "default/" + "r" * 5000}),
    ("POST", PULLS, {"head": "topic", "title": "x", "head_repository": "default/pulled"}),
    ("POST", PULLS, {"head": "topic", "title": "x", "head_repository": "nope/x"}),
    ("POST", PULLS, {"head": "nowhere", "title": "x"}),
    ("POST", PULLS + "/1/merge", {"sha": "not-a-sha"}),
    ("POST", PULLS + "/1/merge", {"sha": "0" * 40, "method": "octopus"}),
    ("POST", PULLS + "/1/merge", {"sha": "0" * 40, "delete_branch": 1}),
    ("POST", PULLS + "/1/reviews", {"event": "approve", "body": NUL}),
    ("POST", PULLS + "/1/reviews", {"event": "veto"}),
    ("POST", PULLS + "/1/comments", {"path": "../../etc/passwd", "line": 1, "body": "x"}),
    ("POST", PULLS + "/1/comments", {"path": "/etc/passwd", "line": 1, "body": "x"}),
    ("POST", PULLS + "/1/comments", {"path": "a\x01b", "line": 1, "body": "x"}),
    ("POST", PULLS + "/1/comments", {"path": "README.md", "line": 0, "body": "x"}),
    ("POST", PULLS + "/1/comments", {"path": "README.md", "line": int(HUGE), "body": "x"}),
    ("POST", PULLS + "/1/comments", {"path": "README.md", "line": 1, "body": " "}),
]


class TestJsonBodies:
    @pytest.mark.parametrize(("method", "path", "body"), JSON_CASES)
    def test_is_a_clear_client_error_and_stores_nothing(self, server, method, path, body):
        before = self._state(server)
        response = _json(server, method, path, body)
        assert 400 <= response.status_code < 500, (path, response.status_code, response.text)
        assert response.text
        assert self._state(server) == before

    def test_a_literal_backslash_u0000_in_text_is_not_a_nul(self, server):
        response = _json(
            server, "POST", "/api/v1/projects", {"name": "lit", "description": "\\u0000"}
        )
        assert response.status_code == 201, response.text
        assert response.json()["description"] == "\\u0000"

    @staticmethod
    def _state(server: RegistryServer) -> tuple[object, ...]:
        with server.api() as api:
            return (
                api.get("/api/v1/projects").json()["total"],
                api.get("/api/v1/registry/repositories/js/packages").json()["total"],
                api.get("/api/v1/llm/budgets").json(),
                len(api.get("/api/v1/tokens").json()["items"]),
                api.get(RUNS).json()["total"],
            )


WORKFLOWS = "/api/v1/projects/default/workflows"
FLOW = "name: flow\nphases:\n  - id: work\n    name: Work\n"
YAML = "application/yaml"


class TestWorkflowDefinitions:
    @pytest.mark.parametrize("path", [WORKFLOWS, "/api/v1/workflows/validate"])
    @pytest.mark.parametrize(
        ("body", "content_type", "status"),
        [
            (b"", YAML, 422),
            (b"   \n", YAML, 422),
            (FLOW.encode() + b"#" * 300_000, YAML, 422),  # over workflows.definition_max_bytes
            (b"#" * 2_000_000, YAML, 413),  # over server.max_body_bytes: refused unread
            (FLOW.replace("flow", "fl\x00ow").encode(), YAML, 422),
            (b'{"source": "name: a\\u0000b"}', "application/json", 400),
            (b'{"source": 12}', "application/json", 422),
            (b'{"sauce": "x"}', "application/json", 422),
            (b"[1, 2]", "application/json", 422),
            (FLOW.replace("name: flow", "name: ../../etc").encode(), YAML, 422),
            (b"\xff\xfe not utf-8", YAML, 422),
            (b"a: &a [*a]", YAML, 422),
            (b"[" * 100_000, YAML, 422),
            (FLOW.encode(), "text/plain", 415),
            (FLOW.encode(), "multipart/form-data; boundary=x", 415),
            (FLOW.encode(), "", 415),
        ],
    )
    def test_is_a_clear_client_error_and_stores_nothing(
        self, server, path, body, content_type, status
    ):
        with server.api() as api:
            before = api.get(WORKFLOWS).json()["total"]
            headers = {"Content-Type": content_type} if content_type else {}
            response = api.post(path, content=body, headers=headers)
            assert response.status_code == status, (body[:60], response.text[:300])
            assert response.json()["error"]["message"]
            assert api.get(WORKFLOWS).json()["total"] == before

    @pytest.mark.parametrize(
        "body",
        [
            {"repository": "../../etc"},
            {"repository": "code", "ref": "--upload-pack=touch /tmp/x"},
            {"repository": "code", "ref": "../../HEAD"},
            {"repository": "a\x00b"},
            {"repository": "r" * 5000},
            {"repository": "code", "ref": "x" * 5000},
            {},
        ],
    )
    def test_an_import_of_a_hostile_repository_or_ref_is_refused(self, server, body):
        with server.api() as api:
            response = api.post(f"{WORKFLOWS}/import", json=body)
        assert 400 <= response.status_code < 500, response.text


class TestProtocolBodies:
    def test_a_pypi_upload_with_a_nul_in_a_field_stores_nothing(self, server):
        with server.api() as api:
            response = api.post(
                "/pypi/py/legacy/",
                headers=_basic(server.token),
                data={":action": "file_upload", "name": NUL, "version": "1.0"},
                files={"content": ("a-1.0-py3-none-any.whl", b"PK\x05\x06" + b"\x00" * 18)},
            )
            assert 400 <= response.status_code < 500, response.text
            assert api.get("/api/v1/registry/repositories/py/packages").json()["total"] == 0

    def test_a_pypi_upload_with_a_traversing_file_name_stores_nothing(self, server):
        with server.api() as api:
            response = api.post(
                "/pypi/py/legacy/",
                headers=_basic(server.token),
                data={":action": "file_upload", "name": "a", "version": "1.0"},
                files={"content": ("../../a-1.0-py3-none-any.whl", b"PK")},
            )
            assert 400 <= response.status_code < 500, response.text
            assert api.get("/api/v1/registry/repositories/py/packages").json()["total"] == 0

    def test_an_oci_manifest_with_a_nul_is_refused(self, server):
        manifest = b'{"schemaVersion":2,"annotations":{"a":"\\u0000"},"layers":[],"config":{}}'
        with server.api() as api:
            response = api.put(
                "/v2/default/app/manifests/v1",
                content=manifest,
                headers={
                    **_basic(server.token),
                    "Content-Type": "application/vnd.oci.image.manifest.v1+json",
                },
            )
        assert 400 <= response.status_code < 500, response.text

    @pytest.mark.parametrize(
        ("header", "value"),
        [("Content-Range", f"0-{HUGE}"), ("Range", f"bytes=0-{HUGE}"), ("Range", "bytes=\xb2-")],
    )
    def test_overflowing_ranges_are_refused_or_ignored(self, server, header, value):
        with server.api() as api:
            started = api.post("/v2/default/app/blobs/uploads/", headers=_basic(server.token))
            assert started.status_code == 202, started.text
            response = api.patch(
                started.headers["location"],
                content=b"x",
                headers={**_basic(server.token), header: value.encode("latin-1")},
            )
        assert response.status_code < 500, response.text

    def test_oversized_declared_sizes_are_refused_before_reading(self, server):
        for target in ("/pypi/py/legacy/", "/npm/js/left-pad", "/v2/default/app/blobs/uploads/"):
            head = _head(server, "POST" if "npm" not in target else "PUT", target)
            status, _ = _raw(server, head + f"\r\nContent-Length: {2**40}")
            assert status == 413, target


class TestMcp:
    def test_a_tool_call_with_a_nul_is_a_clear_client_error(self, server):
        call = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": "knowledge_search", "arguments": {"query": NUL}},
        }
        with server.api() as api:
            response = api.post(
                "/mcp", json=call, headers={"Accept": "application/json, text/event-stream"}
            )
        assert response.status_code == 400, response.text

    def test_a_request_that_is_not_json_rpc_is_a_client_error(self, server):
        with server.api() as api:
            response = api.post(
                "/mcp",
                content=b"\x00\xff not json",
                headers={
                    "Content-Type": "application/json",
                    "Accept": "application/json, text/event-stream",
                },
            )
        assert 400 <= response.status_code < 500, response.text


SECRETS = "/api/v1/projects/default/secrets"
SECRET_TIERS = (SECRETS, "/api/v1/secrets/user", "/api/v1/secrets/system")
LONG_NAME = "N" * 10_000
SECRET_TARGETS = [
    (method, f"{tier}/{tail}")
    for tier in SECRET_TIERS
    for method, tail in [
        ("GET", "..%2F..%2Fetc"),
        ("GET", "A%2FB"),
        ("GET", "A..B"),
        ("GET", "a%00b"),
        ("GET", "A%01B"),
        ("GET", "A%0AB"),
        ("GET", LONG_NAME),
        ("GET", "KEPT?reveal=maybe"),
        ("GET", "KEPT?reveal=" + HUGE),
        ("GET", "KEPT?environment=..%2F..%2Fetc"),
        ("GET", "KEPT?environment=a%00b"),
        ("GET", "KEPT/history?environment=..%2Fx"),
        ("GET", "a%00b/history"),
        ("DELETE", "..%2F..%2Fetc"),
        ("DELETE", "a%00b"),
        ("DELETE", LONG_NAME),
        ("DELETE", "KEPT?environment=..%2F..%2Fetc"),
        ("DELETE", "NEVER_SET"),
        ("GET", "KEPT/rotation?environment=..%2Fx"),
        ("GET", "a%00b/rotation"),
        ("GET", "NEVER_SET/rotation"),
        ("DELETE", "KEPT/rotation?environment=a%00b"),
        ("DELETE", f"{LONG_NAME}/rotation"),
        ("POST", "a%00b/rotate"),
        ("POST", "KEPT/rotate?environment=..%2F..%2Fetc"),
        ("POST", "NEVER_SET/rotate"),
    ]
] + [
    # the listing of a tier: its only input is the environment
    (method, f"{tier}{query}")
    for tier in SECRET_TIERS
    for method, query in [
        ("GET", "?environment=..%2F..%2Fetc"),
        ("GET", "?environment=a%00b"),
        ("GET", "?environment=" + "e" * 5000),
        ("GET", "?environment=Production"),
    ]
]
SECRET_BODIES = [
    ("PUT", "A..B", {"value": "v-hostile"}),
    ("PUT", "A%2FB", {"value": "v-hostile"}),
    ("PUT", "a%00b", {"value": "v-hostile"}),
    ("PUT", "A%01B", {"value": "v-hostile"}),
    ("PUT", LONG_NAME, {"value": "v-hostile"}),
    ("PUT", "NEW", {"value": "x" * (64 * 1024 + 1)}),
    ("PUT", "NEW", {"value": "é" * (32 * 1024 + 1)}),  # 64 KiB + 2 bytes as UTF-8
    ("PUT", "NEW", {"value": NUL}),
    ("PUT", "NEW", {"value": ""}),
    ("PUT", "NEW", {"value": {"$ne": None}}),
    ("PUT", "NEW", {"value": ["v"]}),
    ("PUT", "NEW", {"value": "v-hostile", "environment": "../etc"}),
    ("PUT", "NEW", {"value": "v-hostile", "environment": "../../x"}),
    ("PUT", "NEW", {"value": "v-hostile", "environment": NUL}),
    ("PUT", "NEW", {"value": "v-hostile", "environment": "e" * 5000}),
    ("PUT", "NEW", {"value": "v-hostile", "description": "d" * 501}),
    ("PUT", "NEW", {"reference": "op://vault/it\x07em/field"}),
    ("PUT", "NEW", {"reference": "op://vault/item/fie\nld"}),
    ("PUT", "NEW", {"reference": "op://vault/item/field\x00"}),
    ("PUT", "NEW", {"reference": "op://../../etc/passwd"}),
    ("PUT", "NEW", {"reference": "op://vault"}),
    ("PUT", "NEW", {"value": "v", "reference": "op://a/b/c"}),
    ("PUT", "NEW", "a string"),
    ("PUT", "NEW", [1, 2]),
    ("POST", "KEPT/rollback", {"version": 2**63}),
    ("POST", "KEPT/rollback", {"version": int(HUGE)}),
    ("POST", "KEPT/rollback", {"version": 0}),
    ("POST", "KEPT/rollback", {"version": -1}),
    ("POST", "KEPT/rollback", {"version": "one"}),
    ("POST", "KEPT/rollback", {"version": 1.5}),
    ("POST", "KEPT/rollback", {"version": 99}),
    ("POST", "KEPT/rollback", {"version": 1, "environment": "../etc"}),
    ("POST", "KEPT/rollback", {}),
    ("POST", "a%00b/rollback", {"version": 1}),
    ("PUT", "KEPT/rotation", {"rotator": "evil", "interval_seconds": 3600}),
    ("PUT", "KEPT/rotation", {"rotator": "manual", "interval_seconds": 0}),
    ("PUT", "KEPT/rotation", {"rotator": "manual", "interval_seconds": 2**63}),
    ("PUT", "KEPT/rotation", {"rotator": "manual", "interval_seconds": "daily"}),
    (
        "PUT",
        "KEPT/rotation",
        {"rotator": "manual", "interval_seconds": 3600, "overlap_seconds": -1},
    ),
    ("PUT", "KEPT/rotation", {"rotator": "manual", "interval_seconds": 3600, "environment": NUL}),
    ("PUT", "KEPT/rotation", {"interval_seconds": 3600}),
    ("PUT", "KEPT/rotation", {"rotator": "devflow-token", "interval_seconds": 3600}),  # no token
    ("PUT", "NEVER_SET/rotation", {"rotator": "manual", "interval_seconds": 3600}),
    ("PUT", "a%00b/rotation", {"rotator": "manual", "interval_seconds": 3600}),
]
RESOLVE_BODIES = [
    {"names": ["../etc"]},
    {"names": ["A\x00B"]},
    {"names": ["A\x01B"]},
    {"names": [LONG_NAME]},
    {"names": ["KEPT"] * 501},
    {"names": "KEPT"},
    {"names": ["KEPT"], "reveal": "maybe"},
    {"names": ["KEPT"], "reveal": 2},
    {"names": ["KEPT"], "environment": "../etc"},
    {"names": ["KEPT"], "project": "../etc"},
    {"names": ["KEPT"], "project": NUL},
    {"names": ["NEVER_SET"]},
]


@pytest.fixture(scope="module")
def kept(server: RegistryServer) -> None:
    """Secret KEPT in every tier, with two versions (the rollbacks' target)."""
    with server.api() as api:
        for tier in SECRET_TIERS:
            for value in (secret_value("kept-"), secret_value("kept-")):
                made = api.put(f"{tier}/KEPT", json={"value": value})
                assert made.status_code == 200, made.text


class TestSecrets:
    @pytest.mark.parametrize(("method", "target"), SECRET_TARGETS)
    def test_a_hostile_path_or_query_is_a_clear_client_error(self, server, kept, method, target):
        del kept
        before = self._state(server)
        status, body = _raw(server, _head(server, method, target))
        assert 400 <= status < 500, (target[:200], status, body[:300])
        assert body, target[:200]
        assert self._state(server) == before

    @pytest.mark.parametrize("tier", SECRET_TIERS)
    @pytest.mark.parametrize(("method", "tail", "body"), SECRET_BODIES)
    def test_a_hostile_secret_is_refused_and_writes_nothing(
        self, server, kept, tier, method, tail, body
    ):
        del kept
        before = self._state(server)
        answer = _json(server, method, f"{tier}/{tail}", body)
        assert 400 <= answer.status_code < 500, (tail[:100], answer.status_code, answer.text[:300])
        assert answer.json()["error"]["message"]
        assert leaked(answer.text) is None
        assert self._state(server) == before

    @pytest.mark.parametrize("body", RESOLVE_BODIES)
    def test_a_hostile_resolution_is_a_clear_client_error(self, server, kept, body):
        del kept
        answer = _json(server, "POST", "/api/v1/secrets/resolve", body)
        assert 400 <= answer.status_code < 500, (str(body)[:100], answer.text[:300])
        assert answer.json()["error"]["message"]
        assert leaked(answer.text) is None

    @pytest.mark.parametrize("tier", SECRET_TIERS)
    @pytest.mark.parametrize(
        ("method", "tail"), [("PUT", "NEW"), ("POST", "KEPT/rollback"), ("POST", "")]
    )
    @pytest.mark.parametrize(
        ("content", "content_type"),
        [
            (b"value=x", "application/x-www-form-urlencoded"),
            (b"not json", "application/json"),
            (b'{"value": "x"', "application/json"),
            (b"\xff\xfe", "application/json"),
            (b'{"value": "v-hostile"}', "text/plain"),
            (b"", "application/json"),
        ],
    )
    def test_a_body_that_is_not_json_is_refused(
        self, server, kept, tier, method, tail, content, content_type
    ):
        del kept
        path = f"{tier}/{tail}" if tail else "/api/v1/secrets/resolve"
        before = self._state(server)
        with server.api() as api:
            answer = api.request(
                method, path, content=content, headers={"Content-Type": content_type}
            )
        assert 400 <= answer.status_code < 500, (path, content, answer.text[:300])
        assert answer.json()["error"]["message"]
        assert self._state(server) == before

    @staticmethod
    def _state(server: RegistryServer) -> list[object]:
        """Every secret of every tier, with its current version and history length."""
        state: list[object] = []
        with server.api() as api:
            for tier in SECRET_TIERS:
                listed = api.get(tier)
                assert listed.status_code == 200, listed.text
                state.extend(
                    (tier, s["name"], s["environment"], s["version"]) for s in listed.json()
                )
        return state
