"""Starting DevFlow: `devflow up` (everything, embedded PostgreSQL), `serve` and `worker`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta

import uvicorn
from pydantic import SecretStr

from devflow.core.config import Settings
from devflow.core.credentials import Credentials, update_url, write_credentials
from devflow.core.db import create_engine, session_factory, unit_of_work
from devflow.core.embedded_pg import EmbeddedPostgres, InstanceLock
from devflow.core.errors import Conflict
from devflow.core.migrate import upgrade
from devflow.identity.service import bootstrap

log = logging.getLogger("devflow")


@dataclass(frozen=True)
class FirstStart:
    """Shown once, on the first start of an instance."""

    credentials_path: str
    sign_in_url: str


def check_port_free(host: str, port: int) -> None:
    """Raise Conflict when the HTTP port cannot be bound."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise Conflict(
                f"cannot listen on {host}:{port}: {exc.strerror or exc}. Is DevFlow (or something "
                "else) already running there? Choose another with --port or DEVFLOW_SERVER__PORT."
            ) from None


def prepare(settings: Settings, url: str) -> FirstStart | None:
    """Migrate the database and, on an empty instance, create the admin and default project."""
    upgrade(url)
    result = asyncio.run(_bootstrap(settings, url))
    if result is None:
        update_url(settings.credentials_path, settings.base_url)
        return None
    token, code = result
    write_credentials(settings.credentials_path, Credentials(url=settings.base_url, token=token))
    return FirstStart(
        credentials_path=str(settings.credentials_path),
        sign_in_url=f"{settings.base_url}/auth/signin?code={code}",
    )


async def _bootstrap(settings: Settings, url: str) -> tuple[str, str] | None:
    engine = create_engine(url, settings.database)
    try:
        async with unit_of_work(session_factory(engine)) as session:
            done = await bootstrap(
                session,
                admin_username=settings.auth.admin_username,
                code_ttl=timedelta(minutes=settings.auth.sign_in_link_ttl_minutes),
            )
    finally:
        await engine.dispose()
    return (done.token, done.sign_in_code) if done else None


class _Server(uvicorn.Server):
    """uvicorn re-raises a captured SIGINT/SIGTERM after its graceful shutdown; the resulting
    KeyboardInterrupt would land at a random point of `up`'s own clean-up (possibly while stopping
    PostgreSQL). DevFlow stops its children itself, in order, so the signal is consumed here."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        with super().capture_signals():
            yield
            self._captured_signals.clear()


def serve(settings: Settings) -> None:
    """Run the HTTP server in this process until SIGINT or SIGTERM."""
    from devflow.web import create_app

    config = uvicorn.Config(
        create_app(settings),
        host=settings.server.host,
        port=settings.server.port,
        log_config=None,
        access_log=False,
        http="httptools",  # C parser: h11 costs more CPU per request than the whole handler
        loop="uvloop" if sys.platform != "win32" else "asyncio",
        proxy_headers=True,
        server_header=False,
        timeout_graceful_shutdown=10,
    )
    _Server(config).run()


class WorkerProcess:
    """A `devflow worker` child, restarted if it dies while DevFlow runs."""

    def __init__(self, env: dict[str, str]) -> None:
        self._env = env
        self._proc: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(
            target=self._supervise, name="worker-supervisor", daemon=True
        )

    def start(self) -> None:
        """Start the worker and its supervisor."""
        self._spawn()
        self._thread.start()

    def _spawn(self) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "devflow", "worker"],
            env=self._env,
            start_new_session=True,  # stopped by us, after the server, not by the terminal's ^C
        )

    def _supervise(self) -> None:
        restarts: list[float] = []
        while not self._stopping.is_set():
            assert self._proc is not None  # noqa: S101
            code = self._proc.wait()
            if self._stopping.is_set():
                return
            now = time.monotonic()
            restarts = [t for t in restarts if now - t < 60] + [now]  # noqa: PLR2004
            log.error("worker exited (code %s); restarting", code)
            time.sleep(min(30.0, 0.5 * 2 ** len(restarts)))
            if not self._stopping.is_set():
                self._spawn()

    def stop(self, timeout: float = 35.0) -> None:
        """Ask the worker to finish its running jobs and exit."""
        self._stopping.set()
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def up(settings: Settings, announce: Callable[[str, FirstStart | None, str | None], None]) -> None:
    """Run PostgreSQL (embedded unless DEVFLOW_DATABASE_URL is set), the server and a worker."""
    check_port_free(settings.server.host, settings.server.port)
    lock = InstanceLock(settings.home)
    lock.acquire({"url": settings.base_url})
    pg: EmbeddedPostgres | None = None
    worker: WorkerProcess | None = None
    try:
        if settings.database_url is None:
            pg = EmbeddedPostgres(settings.home, settings.embedded_pg)
            url = pg.start()
            settings = settings.model_copy(update={"database_url": SecretStr(url)})
        else:
            url = settings.database_url.get_secret_value()
        first = prepare(settings, url)
        env = {**os.environ, "DEVFLOW_DATABASE_URL": url, "DEVFLOW_HOME": str(settings.home)}
        worker = WorkerProcess(env)
        worker.start()
        announce(settings.base_url, first, str(pg.state.data_dir) if pg and pg.state else None)
        serve(settings)
    finally:
        if worker is not None:
            worker.stop()
        if pg is not None:
            pg.stop()
        lock.release()


def run_worker_process(settings: Settings) -> None:
    """Run a worker in this process (for `devflow worker`)."""
    from devflow.worker import run_worker

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_worker(settings))
