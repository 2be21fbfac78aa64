"""Request bodies cannot take the API down: uploads that stall hold no database connection, a
stalled body is cut off, an oversized one is refused before it is read, and one client may only
send so many at once. Real uvicorn, real sockets, raw HTTP."""

from __future__ import annotations

import asyncio
import base64
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from urllib.parse import urlsplit

import httpx
import pytest

from tests.registry_fixtures import RegistryServer, running_server

POOL = {"pool_size": 2, "max_overflow": 0, "pool_timeout": 1.0}


def _basic(token: str) -> str:
    return "Basic " + base64.b64encode(f"__token__:{token}".encode()).decode()


def _basic_header(token: str) -> dict[str, str]:
    return {"Authorization": _basic(token)}


def _stalled_requests(token: str) -> list[tuple[str, str, dict[str, str], bytes]]:
    """One upload of each kind that announces a body and sends only its start."""
    bearer = f"Bearer {token}"
    return [
        (
            "POST",
            "/pypi/py/legacy/",
            {
                "Authorization": _basic(token),
                "Content-Type": "multipart/form-data; boundary=xyz",
            },
            b'--xyz\r\nContent-Disposition: form-data; name=":action"\r\n\r\nfile_upload\r\n',
        ),
        (
            "PUT",
            "/npm/js/left-pad",
            {"Authorization": bearer, "Content-Type": "application/json"},
            b'{"name": "left-pad", ',
        ),
        (
            "PUT",
            "/v2/default/app/manifests/v1",
            {
                "Authorization": _basic(token),
                "Content-Type": "application/vnd.oci.image.manifest.v1+json",
            },
            b'{"schemaVersion": 2, ',
        ),
        (
            "POST",
            "/v2/default/app/blobs/uploads/?digest=sha256:" + "0" * 64,
            {"Authorization": _basic(token), "Content-Type": "application/octet-stream"},
            b"partial layer",
        ),
        (
            "POST",
            "/default/code.git/git-receive-pack",
            {
                "Authorization": _basic(token),
                "Content-Type": "application/x-git-receive-pack-request",
            },
            b"00a4",  # the start of a push's first command line
        ),
    ]


@contextmanager
def _open_stalled(
    server: RegistryServer,
    method: str,
    path: str,
    headers: dict[str, str],
    start: bytes,
    *,
    declared: int = 100_000,
) -> Iterator[socket.socket]:
    parts = urlsplit(server.url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
    lines = [f"{method} {path} HTTP/1.1", f"Host: {parts.netloc}", f"Content-Length: {declared}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    try:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + start)
        yield sock
    finally:
        sock.close()


def _status_of(sock: socket.socket) -> int:
    """Read the status line the server answers (waiting as long as the socket's timeout)."""
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return int(data.split(b" ", 2)[1])


@pytest.fixture(scope="module")
def server(pg_server, template_url, tmp_path_factory):
    del template_url
    settings = {"database": POOL, "server": {"body_timeout": 600}}
    with running_server(pg_server, tmp_path_factory.mktemp("home"), settings=settings) as running:
        running.create_repo("py", "pypi")
        running.create_repo("js", "npm")
        with running.api() as api:  # a git repository, for pushes
            api.post("/api/v1/projects/default/repos", json={"name": "code"}).raise_for_status()
        yield running


class TestStalledUploads:
    def test_the_api_keeps_answering_while_uploads_of_every_kind_stall(self, server):
        stalled = _stalled_requests(server.token) * 2  # twice the pool of two connections
        auth = {"Authorization": f"Bearer {server.token}"}
        with ExitStack() as stack, httpx.Client(base_url=server.url, timeout=30) as api:
            for method, path, headers, start in stalled:
                stack.enter_context(_open_stalled(server, method, path, headers, start))
            # Each stalled request has long since authenticated and looked up its repository;
            # were it holding a connection meanwhile, these would wait for the pool (one
            # second) and get 503.
            answers = []
            for _ in range(8):
                answers.append(api.get("/api/v1/projects", headers=auth).status_code)
                time.sleep(0.2)
        assert answers == [200] * 8


class TestBodyLimits:
    def test_a_declared_size_over_the_limit_is_refused_before_the_body_is_sent(self, server):
        limit = 1024 * 1024  # the API's default for JSON routes
        headers = {"Authorization": f"Bearer {server.token}", "Content-Type": "application/json"}
        with _open_stalled(
            server, "POST", "/api/v1/knowledge/search", headers, b"", declared=limit + 1
        ) as sock:
            assert _status_of(sock) == 413

    def test_an_upload_larger_than_the_registry_allows_is_refused_up_front(self, server):
        headers = {"Authorization": _basic(server.token), "Content-Type": "multipart/form-data"}
        with _open_stalled(
            server, "POST", "/pypi/py/legacy/", headers, b"", declared=600 * 1024 * 1024
        ) as sock:
            assert _status_of(sock) == 413


@pytest.fixture(scope="module")
def impatient(pg_server, template_url, tmp_path_factory):
    del template_url
    settings = {"server": {"body_timeout": 0.5, "max_bodies_per_client": 2}}
    with running_server(pg_server, tmp_path_factory.mktemp("home"), settings=settings) as running:
        running.create_repo("py", "pypi")
        yield running


class TestManySmallBodies:
    async def test_a_client_may_send_many_small_requests_at_once(self, impatient):
        # Only bodies that keep the server waiting count against the cap of two.
        async with httpx.AsyncClient(
            base_url=impatient.url,
            headers={"Authorization": f"Bearer {impatient.token}"},
            limits=httpx.Limits(max_connections=50),
        ) as api:
            answers = await asyncio.gather(
                *(api.post("/api/v1/knowledge/search", json={"query": "x"}) for _ in range(50))
            )
        assert {a.status_code for a in answers} == {200}


class TestStalledBodiesEnd:
    def test_a_body_that_stops_arriving_is_answered_408(self, impatient):
        method, path, headers, start = _stalled_requests(impatient.token)[0]
        with _open_stalled(impatient, method, path, headers, start) as sock:
            assert _status_of(sock) == 408

    def test_one_client_may_send_only_so_many_bodies_at_once(self, impatient):
        headers = {"Authorization": f"Bearer {impatient.token}", "Content-Type": "application/json"}
        # The same token in another wire form is the same client.
        basic = {**headers, **_basic_header(impatient.token)}
        with ExitStack() as stack:
            first = stack.enter_context(
                _open_stalled(impatient, "POST", "/api/v1/projects", headers, b"{")
            )
            second = stack.enter_context(
                _open_stalled(impatient, "POST", "/api/v1/projects", basic, b"{")
            )
            httpx.get(f"{impatient.url}/health")  # the server has taken up both meanwhile
            third = stack.enter_context(
                _open_stalled(impatient, "POST", "/api/v1/projects", headers, b"{")
            )
            assert _status_of(third) == 429
            other = impatient.make_user("other")  # another credential is not held back
            with httpx.Client(base_url=impatient.url) as api:
                answer = api.post(
                    "/api/v1/projects",
                    json={"name": "elsewhere"},
                    headers={"Authorization": f"Bearer {other}"},
                )
            assert answer.status_code == 201
            assert {_status_of(first), _status_of(second)} == {408}
