"""A webhook receiver for tests: a real HTTP server on 127.0.0.1 that checks each request's
`X-Hub-Signature-256` against the secret it was told, records what came, and answers as each
path's plan says (a status, or `hang`: no answer until the test ends)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psycopg

from devflow.core.config import Settings
from devflow.core.db import libpq_url
from devflow.repos import jobs as repos_jobs
from tests.factories import run_jobs

HANG = "hang"


async def run_webhook_jobs(db_url: str, settings: Settings) -> None:
    """Run the queued webhook jobs, and those they queue (the deliveries an event makes, the
    retries), as `devflow worker` would, until none waits."""
    for _ in range(20):
        await run_jobs(db_url, [repos_jobs.blueprint], settings=settings)
        async with await psycopg.AsyncConnection.connect(libpq_url(db_url)) as conn:
            cursor = await conn.execute(
                "SELECT count(*) FROM procrastinate_jobs WHERE status = 'todo'"
            )
            row = await cursor.fetchone()
        if not row or not row[0]:
            return
    raise AssertionError("webhook jobs still wait")


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    signed: bool  # the signature matches the body and the receiver's secret

    @property
    def event(self) -> str:
        return self.headers.get("x-github-event", "")

    @property
    def delivery(self) -> str:
        return self.headers.get("x-github-delivery", "")

    @property
    def payload(self) -> dict[str, Any]:
        return json.loads(self.body)


@dataclass
class Receiver:
    url: str
    secret: str
    plans: dict[str, list[int | str]] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    def at(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]


@contextmanager
def webhook_receiver(secret: str = "s3cret") -> Iterator[Receiver]:  # noqa: S107 - a test secret
    """Yield a running receiver; every path answers 200 unless `plans[path]` says otherwise
    (its answers in turn; the last one repeats)."""
    state: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            receiver = state["receiver"]
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            expected = (
                "sha256=" + hmac.new(receiver.secret.encode(), body, hashlib.sha256).hexdigest()
            )
            signed = hmac.compare_digest(self.headers.get("x-hub-signature-256", ""), expected)
            headers = {k.lower(): v for k, v in self.headers.items()}
            receiver.received.append(Received(self.path, headers, body, signed))
            plan = receiver.plans.get(self.path, [200])
            answer = plan.pop(0) if len(plan) > 1 else plan[0]
            if answer == HANG:
                receiver.release.wait(30)
                return
            self.send_response(int(answer))
            reply = json.dumps({"seen": len(receiver.received)}).encode()
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
            del format, args

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state["receiver"] = Receiver(f"http://127.0.0.1:{server.server_port}", secret)
    thread = threading.Thread(target=server.serve_forever, daemon=True, name="webhook-receiver")
    thread.start()
    try:
        yield state["receiver"]
    finally:
        state["receiver"].release.set()
        server.shutdown()
        server.server_close()
