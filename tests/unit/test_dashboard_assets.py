"""The dashboard's assets go out as the compressed twin the build wrote, when the browser takes
it (`make ui` writes `.br` and `.gz` beside each; web/routes/dashboard.py picks one)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from devflow.web.routes.dashboard import _Assets, accepted_encodings

SCRIPT = b"console.log('devflow');\n" * 200


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    assets = tmp_path / "assets"
    assets.mkdir()
    (assets / "index-abc123.js").write_bytes(SCRIPT)
    (assets / "index-abc123.js.gz").write_bytes(gzip.compress(SCRIPT))
    (assets / "index-abc123.js.br").write_bytes(b"brotli bytes stand-in")
    (assets / "plain-def456.css").write_bytes(b"body{}")
    app = Starlette(routes=[Mount("/assets", _Assets(directory=assets))])
    return TestClient(app)


def raw(client: TestClient, path: str, accept: str) -> tuple[dict[str, str], bytes]:
    with client.stream("GET", path, headers={"Accept-Encoding": accept}) as response:
        assert response.status_code == 200
        return dict(response.headers), b"".join(response.iter_raw())


def test_brotli_is_preferred_and_gzip_is_the_fallback(client: TestClient) -> None:
    headers, body = raw(client, "/assets/index-abc123.js", "gzip, deflate, br, zstd")
    assert headers["content-encoding"] == "br"
    assert body == b"brotli bytes stand-in"
    assert headers["content-type"].startswith("text/javascript")
    assert headers["vary"] == "Accept-Encoding"
    assert headers["cache-control"] == "public, max-age=31536000, immutable"

    headers, body = raw(client, "/assets/index-abc123.js", "gzip")
    assert headers["content-encoding"] == "gzip"
    assert gzip.decompress(body) == SCRIPT


def test_the_plain_file_without_a_twin_or_an_accepted_coding(client: TestClient) -> None:
    for accept in ("identity", "br;q=0, gzip;q=0", ""):
        headers, body = raw(client, "/assets/index-abc123.js", accept)
        assert "content-encoding" not in headers
        assert body == SCRIPT
    headers, body = raw(client, "/assets/plain-def456.css", "br, gzip")
    assert "content-encoding" not in headers
    assert body == b"body{}"
    assert headers["content-type"].startswith("text/css")


def test_a_missing_asset_is_404_and_no_twin_is_served_for_it(client: TestClient) -> None:
    answer = client.get("/assets/nothing.js", headers={"Accept-Encoding": "br"})
    assert answer.status_code == 404


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("gzip, deflate, br", {"gzip", "deflate", "br"}),
        ("br;q=0, gzip;q=0.5", {"gzip"}),
        ("GZIP ; q=1", {"gzip"}),
        ("br;q=nonsense, gzip", {"gzip"}),
        ("", set()),
    ],
)
def test_accept_encoding_is_read_with_its_weights(header: str, expected: set[str]) -> None:
    assert accepted_encodings(header) == expected
