"""Starting DevFlow: `devflow up` (everything, embedded PostgreSQL), `serve` and `worker`."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import json
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
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil
import psycopg
import uvicorn
from pydantic import SecretStr
from uvicorn.supervisors.multiprocess import SIGNALS, Multiprocess

from devflow.core.config import Settings
from devflow.core.credentials import Credentials, update_url, write_credentials
from devflow.core.db import create_engine, libpq_url, session_factory, unit_of_work
from devflow.core.embedded_pg import EmbeddedPostgres, InstanceLock, die_with_parent, stop_process
from devflow.core.errors import Conflict
from devflow.core.files import restrict_umask
from devflow.core.logging import configure_logging
from devflow.core.migrate import head_revision, upgrade
from devflow.identity import bootstrap

if TYPE_CHECKING:
    from starlette.types import ASGIApp

log = logging.getLogger("devflow")

WORKER_RECORD = "worker.json"  # in $DEVFLOW_HOME: the worker child of the running `devflow up`
# A leftover worker gets the graceful stop, then the kill; a job it was running is re-queued by
# the stalled-job sweep of the next worker and retried.
_LEFTOVER_WORKER_STOP = ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0))


@dataclass(frozen=True)
class FirstStart:
    """Shown once, on the first start of an instance."""

    credentials_path: str
    sign_in_url: str


def free_port(host: str) -> int:
    """Return a port that nothing listens on at `host` now (for `--port 0`)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
    return port


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
    """Migrate the database and, on an empty instance, create the admin and default project.

    A database already at the newest revision with users in it (every start but the first) is
    recognised with one cheap query, without running Alembic or an async engine.
    """
    revision, has_users = _database_state(url)
    if revision != head_revision():
        upgrade(url)
        has_users = False  # checked again, in the bootstrap's own transaction
    result = None if has_users else asyncio.run(_bootstrap(settings, url))
    if result is None:
        update_url(settings.credentials_path, settings.base_url)
        return None
    token, code = result
    write_credentials(settings.credentials_path, Credentials(url=settings.base_url, token=token))
    return FirstStart(
        credentials_path=str(settings.credentials_path),
        sign_in_url=f"{settings.base_url}/auth/signin?code={code}",
    )


def _database_state(url: str) -> tuple[str | None, bool]:
    """Return the database's Alembic revision and whether it has users (None, False: empty).

    Any failure (unreachable, never migrated) returns (None, False): `upgrade` then reports it
    properly, with the password masked.
    """
    try:
        with psycopg.connect(libpq_url(url), connect_timeout=5, autocommit=True) as conn:
            row = conn.execute(
                'SELECT (SELECT version_num FROM alembic_version), EXISTS (SELECT 1 FROM "user")'
            ).fetchone()
    except psycopg.Error:
        return None, False
    return (row[0], bool(row[1])) if row else (None, False)


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

    def __init__(self, config: uvicorn.Config, on_listening: Callable[[], None] | None) -> None:
        super().__init__(config)
        self._on_listening = on_listening

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        with super().capture_signals():
            yield
            self._captured_signals.clear()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and self._on_listening is not None:
            self._on_listening()


def serve(
    settings: Settings, on_listening: Callable[[], None] | None = None, *, workers: int = 1
) -> None:
    """Run the HTTP server until SIGINT or SIGTERM: in this process, or in `workers` processes.

    Several workers share one listening socket, bound here; each process builds its own app and
    services from `settings` (`server_worker_app`), so each has its own connection pool. A
    worker that dies is replaced. `on_listening` runs once the socket accepts connections (after
    the app's startup; with several workers, once every one has started).
    """
    options: dict[str, Any] = {
        "host": settings.server.host,
        "port": settings.server.port,
        "log_config": None,
        "access_log": False,
        "http": "httptools",  # C parser: h11 costs more CPU per request than the whole handler
        "loop": "uvloop" if sys.platform != "win32" else "asyncio",
        "proxy_headers": True,
        "server_header": False,
        "timeout_graceful_shutdown": 10,
    }
    if workers <= 1:
        from devflow.web import create_app

        _Server(uvicorn.Config(create_app(settings), **options), on_listening).run()
        return
    config = uvicorn.Config(
        functools.partial(server_worker_app, settings, os.getpid()),
        factory=True,
        workers=workers,
        # A worker answers the supervisor's pings from a thread of its own; on a loaded machine
        # a slow answer is no reason to kill it (uvicorn's default waits 5 s).
        timeout_worker_healthcheck=30,
        **options,
    )
    _Workers(config, on_listening).run()


def server_worker_app(settings: Settings, parent: int) -> ASGIApp:
    """Build the app in one server worker process (uvicorn calls this in each).

    The process is a fresh interpreter: it sets up its own logging, and stops when `parent`
    (the process that started it) is gone, however that died.
    """
    configure_logging(settings.log)
    _stop_without_parent(parent)
    from devflow.web import create_app

    return create_app(settings)


def _stop_without_parent(parent: int, interval: float = 1.0) -> None:
    """Send this process SIGTERM (a graceful stop) once `parent` is no longer its parent."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        log.warning("the process that started this server worker is gone; stopping")
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


class _Workers(Multiprocess):
    """uvicorn's supervisor of worker processes, which also says when all of them listen.

    The signal handlers it installs (each signal queued for its loop) are put back when it
    returns, so that `up` stops its children with the terminal's ^C working as before.
    """

    def __init__(self, config: uvicorn.Config, on_listening: Callable[[], None] | None) -> None:
        self._saved = {sig: signal.getsignal(sig) for sig in SIGNALS}
        super().__init__(config, sockets=[config.bind_socket()])
        self._on_listening = on_listening

    def init_processes(self) -> None:
        super().init_processes()
        if self._on_listening is None:
            return
        deadline = time.monotonic() + _WORKER_START_TIMEOUT
        for process in self.processes:
            while not process.is_ready(timeout=1):
                # A worker that exits, or a signal, is for the loop of `run` to handle.
                if self.signal_queue or process.exitcode is not None:
                    return
                if time.monotonic() > deadline:
                    return
                time.sleep(0.05)
        self._on_listening()

    def run(self) -> None:
        try:
            super().run()
        finally:
            for sig, handler in self._saved.items():
                signal.signal(sig, handler)


_WORKER_START_TIMEOUT = 120.0  # seconds for a server worker to import, open services, listen


class WorkerProcess:
    """A `devflow worker` child, restarted if it dies while DevFlow runs.

    The child dies with this process: on Linux the kernel sends it SIGTERM (its graceful stop);
    elsewhere it stops when a pipe from this process reaches end-of-file. The kernel's signal
    follows the *thread* that forked the child, so one supervisor thread forks every worker and
    outlives each. The child's pid and create time are recorded in `record` for the next start
    to stop it should it survive anyway (`stop_leftover_worker`).
    """

    def __init__(self, env: dict[str, str], record: Path) -> None:
        self._env = env
        self._record = record
        self._proc: subprocess.Popen[bytes] | None = None
        self._pipe: int | None = None  # write end of the parent-death pipe, where it is used
        self._lock = threading.Lock()  # a spawn and a stop never interleave
        self._stopping = threading.Event()
        self._thread = threading.Thread(
            target=self._supervise, name="worker-supervisor", daemon=True
        )

    def start(self) -> None:
        """Start the supervisor, which starts the worker."""
        self._thread.start()

    def _spawn(self) -> subprocess.Popen[bytes]:
        args = [sys.executable, "-m", "devflow", "worker"]
        preexec = die_with_parent(signal.SIGTERM)
        read_end = None
        if preexec is None:
            # No parent-death signal here (macOS, BSD): only this process holds the write end,
            # so the worker reads end-of-file when this process dies, however it dies.
            read_end, self._pipe = os.pipe()
            args += ["--parent-fd", str(read_end)]
        try:
            proc = subprocess.Popen(  # noqa: S603
                args,
                env=self._env,
                start_new_session=True,  # stopped by us, after the server, not by the terminal's ^C
                preexec_fn=preexec,  # noqa: PLW1509 - it only calls a prctl resolved before the fork
                pass_fds=() if read_end is None else (read_end,),
            )
        except BaseException:
            self._close_pipe()
            raise
        finally:
            if read_end is not None:
                os.close(read_end)
        record_worker(self._record, proc.pid)
        self._proc = proc
        return proc

    def _close_pipe(self) -> None:
        if self._pipe is not None:
            os.close(self._pipe)
            self._pipe = None

    def _supervise(self) -> None:
        restarts: list[float] = []
        while True:
            with self._lock:
                if self._stopping.is_set():
                    return
                try:
                    proc = self._spawn()
                except (OSError, subprocess.SubprocessError):
                    log.exception("could not start the worker; retrying")
                    proc = None
            if proc is not None:
                code = proc.wait()
                with self._lock:
                    self._close_pipe()
                    self._record.unlink(missing_ok=True)
                if self._stopping.is_set():
                    return
                log.error("worker exited (code %s); restarting", code)
            now = time.monotonic()
            restarts = [t for t in restarts if now - t < 60] + [now]  # noqa: PLR2004
            self._stopping.wait(min(30.0, 0.5 * 2 ** len(restarts)))

    def stop(self, timeout: float = 35.0) -> None:
        """Ask the worker to finish its running jobs and exit."""
        with self._lock:
            self._stopping.set()
            proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._thread.is_alive():
            self._thread.join()
        self._close_pipe()
        self._record.unlink(missing_ok=True)


def record_worker(path: Path, pid: int) -> None:
    """Record the worker child `pid` with its create time, which tells it from a recycled pid."""
    try:
        created = psutil.Process(pid).create_time()
    except psutil.NoSuchProcess:  # already gone: nothing to stop later
        return
    tmp = path.with_suffix(".tmp")
    try:
        tmp.write_text(json.dumps({"pid": pid, "create_time": created}), encoding="utf-8")
        tmp.replace(path)
    except OSError:  # a full disk must not cost the worker; only its clean-up after a crash
        log.warning("could not record the worker's pid", extra={"path": str(path)}, exc_info=True)


def stop_leftover_worker(path: Path) -> None:
    """Stop the worker child that an earlier `devflow up` of this home left running.

    Call it holding the home's `InstanceLock`: the `up` that started the recorded worker is then
    gone. Only the recorded process is stopped, and only while its create time still matches;
    `devflow worker` processes that users start themselves against the same database are theirs.
    """
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        pid, created = int(raw["pid"]), float(raw["create_time"])
    except FileNotFoundError:
        return
    except (OSError, ValueError, KeyError, TypeError):
        path.unlink(missing_ok=True)  # unreadable: it identifies no process
        return
    try:
        proc = psutil.Process(pid)
        same = abs(proc.create_time() - created) < 0.01  # noqa: PLR2004 - psutil's rounding
    except psutil.NoSuchProcess:
        same = False
    if same:
        log.warning("stopping the worker left by an earlier devflow up", extra={"pid": pid})
        try:
            stop_process(proc, _LEFTOVER_WORKER_STOP)
        except psutil.AccessDenied:
            log.warning("may not stop the leftover worker", extra={"pid": pid})
    path.unlink(missing_ok=True)


def up(
    settings: Settings,
    announce: Callable[[str, FirstStart | None, str | None], None],
    *,
    workers: int = 1,
) -> None:
    """Run PostgreSQL (embedded unless DEVFLOW_DATABASE_URL is set), the server and a job worker.

    PostgreSQL, the migrations and the job worker belong to this process; `workers` > 1 runs the
    HTTP server in that many processes of its own (`serve`), which only serve.
    """
    check_port_free(settings.server.host, settings.server.port)
    lock = InstanceLock(settings.home)
    lock.acquire({"url": settings.base_url})
    preload = None
    if workers <= 1:  # server worker processes import it themselves
        # Importing the web app takes about a second of CPU; do it while PostgreSQL starts.
        preload = threading.Thread(
            target=importlib.import_module, args=("devflow.web",), name="preload", daemon=True
        )
        preload.start()
    pg: EmbeddedPostgres | None = None
    worker: WorkerProcess | None = None
    try:
        # Holding the lock, whatever an earlier `up` of this home left running is a leftover.
        # The worker goes first: it still needs its database to stop gracefully.
        stop_leftover_worker(settings.home / WORKER_RECORD)
        if settings.database_url is None:
            pg = EmbeddedPostgres(settings.home, settings.embedded_pg)
            url = pg.start()
            settings = settings.model_copy(update={"database_url": SecretStr(url)})
        else:
            url = settings.database_url.get_secret_value()
        # Only now: the embedded PostgreSQL's system folders (outside the home) must stay
        # reachable by its service user. The worker child inherits the umask.
        restrict_umask(settings.files)
        first = prepare(settings, url)
        env = {**os.environ, "DEVFLOW_DATABASE_URL": url, "DEVFLOW_HOME": str(settings.home)}
        worker = WorkerProcess(env, settings.home / WORKER_RECORD)
        data_dir = str(pg.state.data_dir) if pg and pg.state else None

        def listening() -> None:
            # The worker starts once the server listens: on a small machine its own start-up
            # would otherwise compete with the server's for the same cores.
            worker.start()
            announce(settings.base_url, first, data_dir)

        if preload is not None:
            preload.join()
        serve(settings, listening, workers=workers)
    finally:
        if worker is not None:
            worker.stop()
        if pg is not None:
            pg.stop()
        lock.release()


def run_worker_process(settings: Settings, parent_fd: int | None = None) -> None:
    """Run a worker in this process (for `devflow worker`).

    `parent_fd`: the read end of a pipe from the parent; the worker stops when it closes.
    """
    from devflow.worker import run_worker

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_worker(settings, parent_fd=parent_fd))
