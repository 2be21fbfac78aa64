"""`devflow serve --workers N` and `devflow up --workers N`: several server processes on one port.

Which process accepts a connection is the kernel's choice, so each worker is made the only one
that can (the others are paused with SIGSTOP) before it is asked for something: every worker is
then seen, by psutil, holding the connection it answered on.
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest

from devflow.core.embedded_pg import free_port
from tests.e2e.conftest import REPO, make_home, wait_for

pytestmark = pytest.mark.e2e


@dataclass
class Served:
    """A running `devflow serve` and what it wrote."""

    proc: subprocess.Popen[str]
    home: Path
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def token(self) -> str:
        return json.loads((self.home / "credentials").read_text())["token"]

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        out, _ = self.proc.communicate(timeout=60)
        return out


def answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/ready", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


@contextmanager
def serve(db_url: str, *args: str) -> Iterator[Served]:
    home = Path(tempfile.mkdtemp(prefix="devflow-serve-")) / "home"
    port = free_port()
    env = {
        **os.environ,
        "DEVFLOW_DATABASE_URL": db_url,
        "DEVFLOW_HOME": str(home),
        "DEVFLOW_LOG__FORMAT": "json",
        "PYTHONPATH": str(REPO),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "devflow", "serve", "--port", str(port), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    served = Served(proc, home, port)
    try:
        wait_for(lambda: proc.poll() is not None or answers(served.url))
        if proc.poll() is not None:
            pytest.fail(f"devflow serve exited early:\n{proc.communicate()[0]}")
        yield served
    finally:
        served.stop()


def listening(proc: psutil.Process, port: int) -> bool:
    try:
        return any(
            c.status == psutil.CONN_LISTEN and c.laddr.port == port
            for c in proc.net_connections(kind="tcp")
        )
    except psutil.NoSuchProcess:
        return False


def connected(proc: psutil.Process, port: int) -> bool:
    """Whether `proc` holds an accepted connection on `port` (a client it serves)."""
    return any(
        c.status == psutil.CONN_ESTABLISHED and c.laddr.port == port
        for c in proc.net_connections(kind="tcp")
    )


def server_workers(parent: int, port: int) -> list[psutil.Process]:
    """The children of `parent` that listen on `port` (the parent listens too: it bound it)."""
    return [p for p in psutil.Process(parent).children() if listening(p, port)]


@contextmanager
def only_this_one_accepts(workers: list[psutil.Process], chosen: psutil.Process) -> Iterator[None]:
    others = [w for w in workers if w.pid != chosen.pid]
    for other in others:
        other.suspend()
        wait_for(lambda other=other: other.status() == psutil.STATUS_STOPPED)
    try:
        yield
    finally:
        for other in others:
            other.resume()


class TestServeWorkers:
    def test_each_of_two_workers_answers_requests_on_the_one_port(self, db_url):
        with serve(db_url, "--workers", "2") as served:
            workers = wait_for(
                lambda: len(found := server_workers(served.proc.pid, served.port)) == 2 and found
            )
            assert len({w.pid for w in workers}) == 2
            for worker in workers:
                with (
                    only_this_one_accepts(workers, worker),
                    httpx.Client(
                        base_url=served.url,
                        headers={"Authorization": f"Bearer {served.token}"},
                        timeout=30,
                    ) as client,
                ):
                    listing = client.get("/api/v1/projects")
                    assert listing.status_code == 200
                    assert [p["name"] for p in listing.json()["items"]] == ["default"]
                    # The connection stays open (keep-alive): the worker that answered holds it.
                    assert connected(worker, served.port)
                    assert all(not connected(w, served.port) for w in workers if w != worker)
            out = served.stop()
        assert served.proc.returncode == 0, out
        assert "Traceback" not in out
        assert all(not w.is_running() or w.status() == psutil.STATUS_ZOMBIE for w in workers)

    def test_a_worker_that_dies_is_replaced(self, db_url):
        with serve(db_url, "--workers", "2") as served:
            first = wait_for(
                lambda: len(found := server_workers(served.proc.pid, served.port)) == 2 and found
            )
            first[0].kill()
            again = wait_for(
                lambda: (
                    len(found := server_workers(served.proc.pid, served.port)) == 2
                    and first[0].pid not in {p.pid for p in found}
                    and found
                )
            )
            assert first[1].pid in {p.pid for p in again}
            assert answers(served.url)

    def test_workers_stop_when_their_parent_is_killed(self, db_url):
        with serve(db_url, "--workers", "2") as served:
            workers = wait_for(
                lambda: len(found := server_workers(served.proc.pid, served.port)) == 2 and found
            )
            served.proc.kill()  # no clean-up in the parent: the workers notice it is gone
            served.proc.wait()
            psutil.wait_procs(workers, timeout=30)
            assert not any(w.is_running() and w.status() != psutil.STATUS_ZOMBIE for w in workers)

    def test_one_worker_serves_in_the_process_itself(self, db_url):
        with serve(db_url) as served:
            assert listening(psutil.Process(served.proc.pid), served.port)
            assert server_workers(served.proc.pid, served.port) == []


class TestUpWorkers:
    def test_server_workers_of_up_start_no_postgres_and_no_job_worker_of_their_own(self):
        home, port = make_home(), free_port()
        env = {**os.environ, "DEVFLOW_HOME": str(home), "PYTHONPATH": str(REPO)}
        env.pop("DEVFLOW_DATABASE_URL", None)
        proc = subprocess.Popen(
            [sys.executable, "-m", "devflow", "up", "--port", str(port), "--workers", "2"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_for(lambda: proc.poll() is not None or answers(url))
            assert proc.poll() is None, proc.communicate()[0]
            up = psutil.Process(proc.pid)
            workers = wait_for(lambda: len(found := server_workers(proc.pid, port)) == 2 and found)
            # The job worker starts once every server worker listens.
            job_workers = wait_for(
                lambda: [c for c in up.children() if "worker" in c.cmdline()] or None
            )
            assert len(job_workers) == 1
            assert all(w.children() == [] for w in workers)
            pg_port = json.loads((home / "pg.json").read_text())["port"]
            postmasters = [
                p for p in psutil.process_iter() if p.name() == "postgres" and listening(p, pg_port)
            ]
            assert len(postmasters) == 1
            token = json.loads((home / "credentials").read_text())["token"]
            listing = httpx.get(
                f"{url}/api/v1/projects", headers={"Authorization": f"Bearer {token}"}, timeout=30
            )
            assert listing.json()["total"] == 1
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
            out, _ = proc.communicate(timeout=90)
        assert proc.returncode == 0, out
        assert not any(w.is_running() and w.status() != psutil.STATUS_ZOMBIE for w in workers)
        assert not any(j.is_running() and j.status() != psutil.STATUS_ZOMBIE for j in job_workers)
