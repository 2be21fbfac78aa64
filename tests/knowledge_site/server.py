"""A real HTTP server on 127.0.0.1 serving the fixture website, plus pages that misbehave."""

from __future__ import annotations

import contextlib
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

SITE = Path(__file__).parent / "site"
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".xml": "application/xml",
    ".md": "text/markdown; charset=utf-8",
    ".pdf": "application/pdf",
    ".png": "image/png",
}


class _Handler(BaseHTTPRequestHandler):
    site: ClassVar[FixtureSite]

    def log_message(self, format, *args):  # noqa: A002 - stdlib signature
        pass

    def do_GET(self):
        self.site.requests.append((self.path, dict(self.headers)))
        path = self.path.split("?")[0]
        special = self.site.routes.get(path)
        if special is not None:
            special(self)
            return
        if path.endswith("/"):
            path += "index.html"
        root = self.site.root.resolve()
        file = (root / path.lstrip("/")).resolve()
        if root not in file.parents or not file.is_file():
            self._send(404, b"<html><body><h1>Not found</h1></body></html>", "text/html")
            return
        body = file.read_bytes()
        body = body.replace(b"{{BASE}}", self.site.url.encode())
        etag = f'"{hash(body) & 0xFFFFFFFF:x}"'
        if self.headers.get("If-None-Match") == etag:
            self.send_response(304)
            self.send_header("ETag", etag)
            self.end_headers()
            return
        self._send(200, body, TYPES.get(file.suffix, "application/octet-stream"), etag=etag)

    def _send(self, status, body, ctype, *, etag=None, extra=None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        if etag:
            self.send_header("ETag", etag)
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)


def _redirect(target):
    def handle(h):
        h.send_response(301)
        h.send_header("Location", target)
        h.send_header("Content-Length", "0")
        h.end_headers()

    return handle


def _slow(h):
    time.sleep(3.0)
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up
        h._send(200, b"<html><body><p>slow</p></body></html>", "text/html")


def _huge(h):
    chunk = b"x" * 65536
    h.send_response(200)
    h.send_header("Content-Type", "text/plain")
    h.end_headers()
    try:
        for _ in range(400):  # 25 MiB, no Content-Length
            h.wfile.write(chunk)
    except (BrokenPipeError, ConnectionResetError):
        pass


def _error(h):
    h._send(500, b"<html><body>boom</body></html>", "text/html")


class FixtureSite:
    """The fixture site on a free port; `requests` logs what was asked."""

    def __init__(self, root=SITE):
        self.root = Path(root)
        self.requests = []
        self.routes = {
            "/old-page": _redirect("/guide/install.html"),
            "/loop-a": _redirect("/loop-b"),
            "/loop-b": _redirect("/loop-a"),
            "/slow": _slow,
            "/huge.txt": _huge,
            "/broken": _error,
        }
        handler = type("Handler", (_Handler,), {"site": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()

    def paths(self):
        return [p for p, _ in self.requests]
