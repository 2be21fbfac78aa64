"""Platform benchmark: cold start of `devflow up`, and the request path beside a bare endpoint.

    python bench/platform_bench.py [--duration 10] [--clients 20,100] [--workers 1,CORES]
                                   [--starts 5] [--no-record]

Everything runs on 127.0.0.1, against a fresh temporary DEVFLOW_HOME:

1. One first start (initialises the embedded PostgreSQL cluster; timed, not measured against the
   target), then N cold starts of `devflow up` with that data dir: from spawning the process to
   the first 200 from GET /ready (polled every 10 ms), each stopped with SIGINT as Ctrl-C would.
2. The request path, side by side, for each worker count (1, and the machine's cores):
   - the anchor: a bare Starlette JSON endpoint (`bare_app` below) under uvicorn, started the
     way DevFlow starts its server (httptools, uvloop, no access log, that many processes);
   - `devflow up --workers N`: `GET /health` (no database) and `GET /api/v1/projects` with the
     admin token (authentication, one query, the JSON page);
   - the floor: the same listing as a plain Starlette route on a psycopg pool (`floor_app`),
     against DevFlow's database while DevFlow idles: what the listing costs without FastAPI,
     DevFlow's middleware and its authorization model;
   each under every `--clients` count of concurrent keep-alive clients for `--duration` seconds,
   after a warm-up. Every request carries the same `Authorization` header. The load generator
   is `wrk` when it is on PATH (cheap: it shares the cores with the server), otherwise an asyncio
   pool of httpx clients in a separate process.

Targets (issue 13): the projects listing with one server process at ≥ 15% of the bare
endpoint's throughput with one process (20 clients); p95 of the listing under 200 ms at 100
clients with as many server processes as cores; no errors; cold start under 3 s.

Besides latency, each run records the CPU seconds of the server processes, PostgreSQL, the job
worker and the load generator, and the machine's other CPU use meanwhile (other people's work:
when it is high, the figures are not the server's alone). The figures are printed and, unless
--no-record, appended as a dated section to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import math
import os
import resource
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
from rich.console import Console
from rich.table import Table

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
RESULTS = BENCH_DIR / "RESULTS.md"

COLD_START_TARGET_S = 3.0
SHARE_TARGET = 0.15  # projects / bare throughput, one process each (issue 13)
SHARE_CLIENTS = 20  # the client count the share is judged at (the figures)
P95_TARGET_MS = 200.0  # the design document's target, at the highest client count
READY_POLL_S = 0.01
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 60.0
PROJECTS = "/api/v1/projects"
ENDPOINTS = {"bare": "/", "health": "/health", "projects": PROJECTS, "floor": PROJECTS}
LABELS = {"bare": " (bare)", "floor": " (floor: Starlette + psycopg)"}
JSON_MARKER = "BENCH_JSON "
GENERATOR_BUSY_SHARE = 0.5  # of one core; above it the generator, not the server, may be the limit

RESULTS_HEADER = """\
# DevFlow platform benchmark results

Appended by the scripts in bench/ (`python bench/platform_bench.py`, `make bench`): one dated
section per run, newest last. Each section names the machine, the exact command and the settings
it ran with, so that figures from different machines or settings are not compared by accident. Do
not edit figures by hand: rerun the benchmark instead.
"""

# wrk runs this in every thread; done() runs once, with the merged latency histogram. Latency
# figures are in microseconds. A response other than 200 counts as an error.
WRK_LUA = """\
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  non200 = 0
end

function response(status, headers, body)
  if status ~= 200 then
    non200 = non200 + 1
  end
end

function done(summary, latency, requests)
  local non200_total = 0
  for _, thread in ipairs(threads) do
    non200_total = non200_total + (thread:get("non200") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    "BENCH_JSON {\\"requests\\": %d, \\"duration_us\\": %d, \\"non200\\": %d, " ..
    "\\"connect\\": %d, \\"read\\": %d, \\"write\\": %d, \\"timeout\\": %d, " ..
    "\\"p50_us\\": %.1f, \\"p95_us\\": %.1f, \\"p99_us\\": %.1f, " ..
    "\\"max_us\\": %.1f, \\"mean_us\\": %.1f}\\n",
    summary.requests, summary.duration, non200_total,
    e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99),
    latency.max, latency.mean))
end
"""


def bare_app() -> Any:
    """Return the anchor: one Starlette JSON endpoint (uvicorn imports it, `--factory`)."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def status(request: Request) -> JSONResponse:
        del request
        return JSONResponse({"status": "ok"})

    return Starlette(routes=[Route("/", status)])


def floor_app() -> Any:
    """Return the floor: the same listing as DevFlow's, written as plainly as Python allows.

    One Starlette route: the bearer token checked against the SHA-256 of the credentials file's
    token (a dict lookup, as a warm principal cache is), one prepared statement on a small pool
    of psycopg connections in autocommit, the JSON page by orjson. It shows what the request
    path can cost on this machine with PostgreSQL on the same cores; DevFlow's listing adds
    FastAPI's routing and dependencies, its middleware and the authorization model.
    """
    import asyncio
    import hashlib
    from contextlib import asynccontextmanager

    import orjson
    import psycopg
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    home = Path(os.environ["DEVFLOW_HOME"])
    pg = json.loads((home / "pg.json").read_text(encoding="utf-8"))
    url = f"postgresql://devflow:{pg['password']}@127.0.0.1:{pg['port']}/devflow"
    tokens = {hashlib.sha256(read_token(home).encode()).hexdigest()}
    sql = "SELECT id, name, description, created_at FROM project ORDER BY name"
    idle: asyncio.Queue[psycopg.AsyncConnection[Any]] = asyncio.Queue()

    async def projects(request: Request) -> Response:
        secret = request.headers.get("authorization", "").removeprefix("Bearer ")
        if hashlib.sha256(secret.encode()).hexdigest() not in tokens:
            return Response(status_code=401)
        conn = await idle.get()
        try:
            rows = await (await conn.execute(sql, prepare=True)).fetchall()
        finally:
            idle.put_nowait(conn)
        items = [
            {"id": str(i), "name": n, "description": d, "created_at": c.isoformat()}
            for i, n, d, c in rows
        ]
        body = orjson.dumps({"items": items, "total": len(items)})
        return Response(body, media_type="application/json")

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> Any:
        for _ in range(8):
            idle.put_nowait(await psycopg.AsyncConnection.connect(url, autocommit=True))
        yield
        while not idle.empty():
            await idle.get_nowait().close()

    async def ready(_request: Request) -> Response:
        return Response("ok")

    return Starlette(routes=[Route(PROJECTS, projects), Route("/ready", ready)], lifespan=lifespan)


# -- data -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Machine:
    """Where the benchmark ran."""

    cores: int
    ram_gib: float
    cpu_model: str
    system: str
    python: str


@dataclass(frozen=True)
class LoadResult:
    """What one load run measured."""

    generator: str
    requests: int
    seconds: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float
    non200: int
    socket_errors: int
    error_detail: str

    @property
    def throughput(self) -> float:
        """Return completed requests per second."""
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def errors(self) -> int:
        """Return non-200 responses plus failed requests (timeouts, socket errors)."""
        return self.non200 + self.socket_errors


@dataclass(frozen=True)
class CpuUse:
    """CPU seconds spent during one load run."""

    server_s: float  # the HTTP server: `devflow up` (or the bare uvicorn) and its server workers
    worker_s: float  # the job-worker subprocess
    postgres_s: float  # the embedded PostgreSQL, all its processes
    generator_s: float  # the load generator
    other_s: float  # everything else on the machine meanwhile (other people's work)


@dataclass(frozen=True)
class Run:
    """One endpoint, worker count and client count, measured."""

    target: str  # a key of ENDPOINTS
    workers: int
    clients: int
    load: LoadResult
    cpu: CpuUse


@dataclass
class Report:
    """Everything one benchmark run found."""

    started: datetime
    argv: list[str]
    machine: Machine
    revision: str
    loadavg: tuple[float, float, float]
    access_log: bool
    first_start_s: float = math.nan
    cold_starts_s: list[float] = field(default_factory=list)
    stops_s: list[float] = field(default_factory=list)
    runs: list[Run] = field(default_factory=list)
    generator_setup: str = ""
    warmup_s: float = 0.0
    duration_s: float = 0.0
    loadavg_end: tuple[float, float, float] = (math.nan, math.nan, math.nan)

    def run(self, target: str, workers: int, clients: int) -> Run | None:
        """Return the run of `target` with that many workers and clients, if it was measured."""
        for found in self.runs:
            if (found.target, found.workers, found.clients) == (target, workers, clients):
                return found
        return None


# -- machine --------------------------------------------------------------------------------------


def describe_machine() -> Machine:
    """Return the core count, memory and CPU model of this machine."""
    ram_gib = math.nan
    with suppress(OSError):
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                ram_gib = int(line.split()[1]) / 1024 / 1024
                break
    cpu_model = "unknown"
    with suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu_model = line.partition(":")[2].strip()
                break
    uname = os.uname()
    return Machine(
        cores=os.cpu_count() or 0,
        ram_gib=ram_gib,
        cpu_model=cpu_model,
        system=f"{uname.sysname} {uname.release} {uname.machine}",
        python=sys.version.split()[0],
    )


def git_revision() -> str:
    """Return the commit under test, saying when the working tree has uncommitted changes."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    if status:
        return f"{head} + uncommitted changes in {len(status)} paths"
    return head


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# -- running the servers --------------------------------------------------------------------------


class ServerProcess:
    """A server spawned in its own session, polled until a GET answers 200, stopped by SIGINT."""

    name = "server"

    def __init__(
        self, args: list[str], env: dict[str, str], cwd: Path, log_path: Path, **where: Any
    ) -> None:
        self.args = args
        self.env = env
        self.cwd = cwd
        self.log_path = log_path
        self.port: int = where["port"]
        self.workers: int = where.get("workers", 1)
        self.ready_path: str = where.get("ready_path", "/ready")
        self.proc: subprocess.Popen[bytes] | None = None
        self.spawned_at = 0.0

    def start(self) -> None:
        """Spawn the process (in its own session, so a ^C here is not sent to it)."""
        with self.log_path.open("ab") as log:
            self.spawned_at = time.perf_counter()
            self.proc = subprocess.Popen(
                self.args,
                env=self.env,
                cwd=self.cwd,  # no stray `.env` from the caller's working directory
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self) -> float:
        """Poll the ready path every 10 ms; return seconds from spawn to the first 200.

        Raises:
            RuntimeError: the process exited, or it was not ready within START_TIMEOUT_S.
        """
        assert self.proc is not None  # noqa: S101 - start() first
        deadline = self.spawned_at + START_TIMEOUT_S
        while True:
            if ready_once(self.port, self.ready_path):
                return time.perf_counter() - self.spawned_at
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with code {self.proc.returncode} before "
                    f"{self.ready_path} answered 200; its log:\n{tail(self.log_path)}"
                )
            if time.perf_counter() > deadline:
                raise RuntimeError(
                    f"{self.ready_path} did not answer 200 within {START_TIMEOUT_S:.0f} s; "
                    f"log:\n{tail(self.log_path)}"
                )
            time.sleep(READY_POLL_S)

    def stop(self) -> float:
        """Send SIGINT (like Ctrl-C) and wait for a clean exit; return the seconds it took.

        Raises:
            RuntimeError: it did not exit within STOP_TIMEOUT_S (it is then killed) or it exited
                with an error.
        """
        if self.proc is None or self.proc.poll() is not None:
            return 0.0
        started = time.perf_counter()
        self.proc.send_signal(signal.SIGINT)
        try:
            code = self.proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.kill()
            raise RuntimeError(
                f"{self.name} did not stop within {STOP_TIMEOUT_S:.0f} s of SIGINT; killed it"
            ) from None
        if code not in {0, -signal.SIGINT, 128 + signal.SIGINT}:
            raise RuntimeError(f"{self.name} exited with code {code}; log:\n{tail(self.log_path)}")
        return time.perf_counter() - started

    def kill(self) -> None:
        """Kill the process group (only used when SIGINT did not work)."""
        if self.proc is not None and self.proc.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def tree(self) -> list[psutil.Process]:
        """Return the process and every process below it (server workers, job worker, PG)."""
        assert self.proc is not None  # noqa: S101 - start() first
        root = psutil.Process(self.proc.pid)
        return [root, *root.children(recursive=True)]


def devflow_up(
    home: Path, port: int, log_path: Path, *, access_log: bool, workers: int = 1
) -> ServerProcess:
    """Return `devflow up` on 127.0.0.1:port with the given home (not started)."""
    env = {
        **os.environ,
        "DEVFLOW_HOME": str(home),
        "DEVFLOW_LOG__FORMAT": "json",
        "DEVFLOW_LOG__ACCESS_LOG": "true" if access_log else "false",
    }
    # No DATABASE_URL from the caller's environment: this must be the embedded PostgreSQL.
    env.pop("DEVFLOW_DATABASE_URL", None)
    args = [sys.executable, "-m", "devflow", "up", "--host", "127.0.0.1", "--port", str(port)]
    if workers > 1:
        args += ["--workers", str(workers)]
    server = ServerProcess(args, env, home, log_path, port=port, workers=workers)
    server.name = "devflow up"
    return server


def bare_server(
    port: int, log_path: Path, *, workers: int = 1, app: str = "bare_app", home: Path | None = None
) -> ServerProcess:
    """Return uvicorn serving `bare_app` (or `floor_app` of DevFlow's `home`) the way
    `devflow.runtime.serve` runs DevFlow."""
    args = [
        sys.executable,
        "-m",
        "uvicorn",
        "--app-dir",
        str(BENCH_DIR),
        "--factory",
        f"platform_bench:{app}",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--http",
        "httptools",
        "--loop",
        "uvloop",
        "--no-access-log",
        "--no-server-header",
        "--proxy-headers",
        "--log-level",
        "warning",
        "--workers",
        str(workers),
    ]
    env = dict(os.environ)
    if home is not None:
        env["DEVFLOW_HOME"] = str(home)
    ready = "/" if app == "bare_app" else "/ready"
    server = ServerProcess(
        args, env, BENCH_DIR, log_path, port=port, workers=workers, ready_path=ready
    )
    server.name = "bare uvicorn" if app == "bare_app" else "floor uvicorn"
    return server


@contextmanager
def running(server: ServerProcess) -> Iterator[float]:
    """Start a server, yield the seconds it took to be ready, and stop it with SIGINT."""
    server.start()
    try:
        yield server.wait_ready()
    finally:
        server.stop()


def ready_once(port: int, path: str = "/ready") -> bool:
    """Return whether GET `path` answers 200 (one short-lived connection)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2.0)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
    except (OSError, http.client.HTTPException):
        return False
    else:
        return response.status == 200
    finally:
        conn.close()


def tail(path: Path, lines: int = 30) -> str:
    """Return the last lines of a log file."""
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def leftovers(home: Path) -> list[psutil.Process]:
    """Return processes still running for this DEVFLOW_HOME (PostgreSQL, worker, server)."""
    found: list[psutil.Process] = []
    marker = str(home)
    for proc in psutil.process_iter():
        if proc.pid == os.getpid():
            continue
        try:
            if any(marker in part for part in proc.cmdline()):
                found.append(proc)
                continue
            if proc.environ().get("DEVFLOW_HOME") == marker:
                found.append(proc)
        except (psutil.Error, OSError):
            continue
    return found


def kill_leftovers(home: Path, console: Console) -> None:
    """Kill, by pid, whatever this benchmark started that is still running."""
    procs = leftovers(home)
    for proc in procs:
        console.print(f"[yellow]killing leftover process {proc.pid}[/]")
        with suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(procs, timeout=10)


def read_token(home: Path) -> str:
    """Return the admin token that the first start wrote."""
    token: str = json.loads((home / "credentials").read_text(encoding="utf-8"))["token"]
    return token


# -- load generators ------------------------------------------------------------------------------


def wrk_version(wrk: str) -> str:
    """Return wrk's version line."""
    out = subprocess.run([wrk, "--version"], capture_output=True, text=True, check=False)
    first = (out.stdout or out.stderr).strip().splitlines()
    return first[0].split(" [")[0] if first else "wrk"


def run_wrk(
    wrk: str, url: str, token: str, clients: int, threads: int, duration: float, script: Path
) -> LoadResult:
    """Run wrk with the Lua script that reports percentiles and non-200 responses.

    Raises:
        RuntimeError: wrk failed or printed no figures.
    """
    out = subprocess.run(
        [
            wrk,
            f"-t{max(1, min(threads, clients))}",
            f"-c{clients}",
            f"-d{max(1, round(duration))}s",
            "--timeout",
            "30s",  # slow answers are measured, not dropped as timeouts
            "--latency",
            "-s",
            str(script),
            "-H",
            f"Authorization: Bearer {token}",
            url,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    line = next((x for x in out.stdout.splitlines() if x.startswith(JSON_MARKER)), None)
    if out.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    raw = json.loads(line.removeprefix(JSON_MARKER))
    socket_errors = raw["connect"] + raw["read"] + raw["write"] + raw["timeout"]
    detail = (
        f"non-200 {raw['non200']}, connect {raw['connect']}, read {raw['read']}, "
        f"write {raw['write']}, timeout {raw['timeout']}"
    )
    return LoadResult(
        generator="wrk",
        requests=raw["requests"],
        seconds=raw["duration_us"] / 1e6,
        p50_ms=raw["p50_us"] / 1000,
        p95_ms=raw["p95_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
        mean_ms=raw["mean_us"] / 1000,
        non200=raw["non200"],
        socket_errors=socket_errors,
        error_detail=detail,
    )


def run_httpx(url: str, token: str, clients: int, duration: float) -> LoadResult:
    """Run the asyncio httpx client pool in a separate process (this file, --httpx-worker).

    Raises:
        RuntimeError: the worker failed.
    """
    out = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).resolve()),
            "--httpx-worker",
            url,
            "--clients",
            str(clients),
            "--duration",
            str(duration),
        ],
        env={**os.environ, "BENCH_TOKEN": token},
        capture_output=True,
        text=True,
        check=False,
    )
    line = next((x for x in out.stdout.splitlines() if x.startswith(JSON_MARKER)), None)
    if out.returncode != 0 or line is None:
        raise RuntimeError(f"httpx load worker failed ({out.returncode}):\n{out.stderr}")
    raw = json.loads(line.removeprefix(JSON_MARKER))
    return LoadResult(**raw)


def percentile(sorted_values: list[float], pct: float) -> float:
    """Return the nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


async def httpx_load(url: str, token: str, clients: int, duration: float) -> LoadResult:
    """Keep `clients` requests in flight on keep-alive connections for `duration` seconds."""
    import httpx  # here, not at the top: it is only needed in the worker process

    latencies: list[float] = []
    counts = {"non200": 0, "failed": 0}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(limits=limits, headers=headers, timeout=30.0) as client:
        deadline = time.perf_counter() + duration

        async def one_client() -> None:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                try:
                    response = await client.get(url)
                except httpx.HTTPError:
                    counts["failed"] += 1
                    continue
                latencies.append(time.perf_counter() - started)
                if response.status_code != 200:
                    counts["non200"] += 1

        began = time.perf_counter()
        await asyncio.gather(*(one_client() for _ in range(clients)))
        elapsed = time.perf_counter() - began
    ms = sorted(x * 1000 for x in latencies)
    return LoadResult(
        generator="httpx",
        requests=len(ms),
        seconds=elapsed,
        p50_ms=percentile(ms, 50),
        p95_ms=percentile(ms, 95),
        p99_ms=percentile(ms, 99),
        max_ms=ms[-1] if ms else math.nan,
        mean_ms=statistics.fmean(ms) if ms else math.nan,
        non200=counts["non200"],
        socket_errors=counts["failed"],
        error_detail=f"non-200 {counts['non200']}, failed requests {counts['failed']}",
    )


def httpx_worker(url: str, clients: int, duration: float) -> None:
    """Entry point of the load process: run the pool and print the result as one JSON line."""
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(httpx_load(url, os.environ["BENCH_TOKEN"], clients, duration))
    else:
        result = uvloop.run(httpx_load(url, os.environ["BENCH_TOKEN"], clients, duration))
    print(JSON_MARKER + json.dumps(asdict(result)), flush=True)


def cpu_seconds(procs: list[psutil.Process]) -> dict[int, float]:
    """Return user+system CPU seconds per pid (processes that are gone are left out)."""
    seconds: dict[int, float] = {}
    for proc in procs:
        with suppress(psutil.Error):
            times = proc.cpu_times()
            seconds[proc.pid] = times.user + times.system
    return seconds


def children_cpu_seconds() -> float:
    """Return the CPU seconds of this process's finished children (the load generator)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def machine_busy_seconds() -> float:
    """Return the CPU seconds all cores have spent busy since boot (idle and I/O wait aside)."""
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


# -- the benchmark --------------------------------------------------------------------------------


def measure_starts(
    report: Report, home: Path, port: int, starts: int, logs: Path, console: Console
) -> None:
    """Time the first start (not measured) and `starts` cold starts."""
    first = devflow_up(home, port, logs / "first-start.log", access_log=report.access_log)
    with running(first) as seconds:
        report.first_start_s = seconds
    console.print(f"first start (initialises the cluster, not measured): {seconds:.2f} s")
    for n in range(1, starts + 1):
        devflow = devflow_up(home, port, logs / f"start-{n}.log", access_log=report.access_log)
        devflow.start()
        try:
            seconds = devflow.wait_ready()
        finally:
            report.stops_s.append(devflow.stop())
        report.cold_starts_s.append(seconds)
        console.print(f"cold start {n}/{starts}: {seconds:.3f} s to /ready")


class Load:
    """Puts load on one URL: wrk when it is on PATH, else the httpx pool."""

    def __init__(self, args: argparse.Namespace, token: str, logs: Path, console: Console) -> None:
        self.token = token
        self.threads = max(1, args.wrk_threads)
        self.wrk = None if args.generator == "httpx" else shutil.which("wrk")
        if args.generator == "wrk" and self.wrk is None:
            raise RuntimeError("--generator wrk, but wrk is not on PATH (apt-get install wrk)")
        self.script = logs / "report.lua"
        self.script.write_text(WRK_LUA, encoding="utf-8")
        if self.wrk is None:
            console.print("[yellow]wrk not found: using the asyncio httpx client pool[/]")

    def describe(self) -> str:
        """Return the generator's setup, for the report."""
        if self.wrk is not None:
            return (
                f"{wrk_version(self.wrk)}: {self.threads} thread(s), one keep-alive connection "
                "per client, timeout 30 s, Lua script for p95 and non-200 counting"
            )
        return "httpx asyncio pool in a separate process: one task and connection per client"

    def __call__(self, url: str, clients: int, duration: float) -> LoadResult:
        if self.wrk is not None:
            return run_wrk(self.wrk, url, self.token, clients, self.threads, duration, self.script)
        return run_httpx(url, self.token, clients, duration)


def measure_server(
    report: Report,
    server: ServerProcess,
    targets: list[str],
    clients: list[int],
    load: Load,
    args: argparse.Namespace,
    console: Console,
    beside: Callable[[], ServerProcess] | None = None,
) -> None:
    """Start `server`, run every target at every client count against it, and stop it; then,
    while it still runs, the same for `beside()`'s server and its target `floor`."""
    with running(server):
        if beside is not None:
            measure_server(report, beside(), ["floor"], clients, load, args, console)
        for target in targets:
            url = f"http://127.0.0.1:{server.port}{ENDPOINTS[target]}"
            probe(url, load.token)
            for n in clients:
                if args.warmup > 0:
                    load(url, n, args.warmup)
                console.print(
                    f"{target}: {server.workers} worker(s), {n} clients, {args.duration:g} s"
                )
                report.runs.append(measure_once(server, target, n, load, url, args.duration))


def measure_once(
    server: ServerProcess, target: str, clients: int, load: Load, url: str, duration: float
) -> Run:
    """Run the load once, with the CPU seconds of each part and of the rest of the machine."""
    procs = server.tree()
    roles = {p.pid: role(p, server) for p in procs}
    before = cpu_seconds(procs)
    generator_before = children_cpu_seconds()
    busy_before = machine_busy_seconds()
    result = load(url, clients, duration)
    busy = machine_busy_seconds() - busy_before
    generator_s = children_cpu_seconds() - generator_before
    after = cpu_seconds(server.tree())
    used: dict[str, float] = {"server": 0.0, "worker": 0.0, "postgres": 0.0}
    for pid, seconds in after.items():
        used[roles.get(pid, "server")] += seconds - before.get(pid, 0.0)
    ours = sum(used.values()) + generator_s
    cpu = CpuUse(
        used["server"], used["worker"], used["postgres"], generator_s, max(0.0, busy - ours)
    )
    return Run(target, server.workers, clients, result, cpu)


def probe(url: str, token: str) -> None:
    """Check that one request answers 200 before the load starts.

    Raises:
        RuntimeError: it did not.
    """
    host, _, rest = url.removeprefix("http://").partition("/")
    name, _, port = host.partition(":")
    conn = http.client.HTTPConnection(name, int(port), timeout=10)
    try:
        conn.request("GET", "/" + rest, headers={"Authorization": f"Bearer {token}"})
        answer = conn.getresponse()
        answer.read()
    finally:
        conn.close()
    if answer.status != 200:
        raise RuntimeError(f"GET {url} answered {answer.status}, not 200")


def role(proc: psutil.Process, server: ServerProcess) -> str:
    """Return which part a process is: server (with its server workers), worker or postgres."""
    assert server.proc is not None  # noqa: S101 - started
    if proc.pid == server.proc.pid:
        return "server"
    with suppress(psutil.Error):
        cmdline = proc.cmdline()
        if "worker" in cmdline:
            return "worker"
        if any("multiprocessing" in part for part in cmdline):
            return "server"  # a server worker process, or uvicorn's resource tracker
    return "postgres"


def measure_load(
    report: Report, home: Path, args: argparse.Namespace, logs: Path, console: Console
) -> None:
    """Measure the bare endpoint and DevFlow's, side by side, for each worker count."""
    load = Load(args, read_token(home), logs, console)
    report.generator_setup = load.describe()
    report.warmup_s = args.warmup
    report.duration_s = args.duration
    for workers in args.workers:
        bare = bare_server(free_port(), logs / f"bare-{workers}.log", workers=workers)
        measure_server(report, bare, ["bare"], args.clients, load, args, console)
        devflow = devflow_up(
            home,
            free_port(),
            logs / f"load-{workers}.log",
            access_log=report.access_log,
            workers=workers,
        )
        measure_server(
            report,
            devflow,
            ["health", "projects"],
            args.clients,
            load,
            args,
            console,
            # The floor reads DevFlow's database, so it runs while DevFlow (idle) is up.
            beside=lambda w=workers: bare_server(
                free_port(), logs / f"floor-{w}.log", workers=w, app="floor_app", home=home
            ),
        )


# -- output ---------------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    """Return PASS or FAIL."""
    return "PASS" if ok else "FAIL"


def share(report: Report, run: Run) -> float:
    """Return a run's throughput as a share of the bare endpoint's (same workers and clients)."""
    bare = report.run("bare", run.workers, run.clients)
    if bare is None or not bare.load.throughput:
        return math.nan
    return run.load.throughput / bare.load.throughput


def targets(report: Report) -> list[tuple[str, str, str]]:
    """Return (target, measured, PASS/FAIL) rows."""
    rows: list[tuple[str, str, str]] = []
    if report.cold_starts_s:
        median = statistics.median(report.cold_starts_s)
        worst = max(report.cold_starts_s)
        n = len(report.cold_starts_s)
        rows.append(
            (
                f"cold start, median of {n} < {COLD_START_TARGET_S:g} s",
                f"{median:.2f} s",
                verdict(median < COLD_START_TARGET_S),
            )
        )
        rows.append(
            (
                f"cold start, every one of {n} < {COLD_START_TARGET_S:g} s",
                f"worst {worst:.2f} s",
                verdict(worst < COLD_START_TARGET_S),
            )
        )
    listing = report.run("projects", 1, SHARE_CLIENTS)
    if listing is not None:
        ratio = share(report, listing)
        rows.append(
            (
                (
                    f"`GET {PROJECTS}` ≥ {SHARE_TARGET:.0%} of the bare endpoint's throughput, "
                    f"one process, {SHARE_CLIENTS} clients"
                ),
                f"{ratio:.1%}",
                verdict(ratio >= SHARE_TARGET),
            )
        )
    most_workers = max((r.workers for r in report.runs), default=0)
    most_clients = max((r.clients for r in report.runs), default=0)
    loaded = report.run("projects", most_workers, most_clients)
    if loaded is not None:
        rows.append(
            (
                (
                    f"`GET {PROJECTS}` p95 < {P95_TARGET_MS:g} ms, {most_clients} clients, "
                    f"{most_workers} worker(s)"
                ),
                f"{loaded.load.p95_ms:.1f} ms",
                verdict(loaded.load.p95_ms < P95_TARGET_MS),
            )
        )
    if report.runs:
        errors = sum(r.load.errors for r in report.runs)
        rows.append(("no errors in any load run", str(errors), verdict(errors == 0)))
    return rows


def cpu_cell(run: Run) -> str:
    """Return the server's CPU per request, and PostgreSQL's."""
    n = run.load.requests
    if not n:
        return "-"
    text = f"{run.cpu.server_s / n * 1000:.2f}"
    if run.cpu.postgres_s:
        text += f" + PG {run.cpu.postgres_s / n * 1000:.2f}"
    return text


def other_share(run: Run) -> float:
    """Return the machine's other CPU use during a run, in cores."""
    return run.cpu.other_s / run.load.seconds if run.load.seconds else math.nan


def load_rows(report: Report) -> list[list[str]]:
    """Return one row per run: the figures of the load table."""
    rows = []
    for run in report.runs:
        load = run.load
        ratio = share(report, run)
        rows.append(
            [
                str(run.workers),
                f"`GET {ENDPOINTS[run.target]}`" + LABELS.get(run.target, ""),
                str(run.clients),
                f"{load.throughput:,.0f}",
                "-" if run.target == "bare" or math.isnan(ratio) else f"{ratio:.1%}",
                f"{load.p50_ms:.1f}",
                f"{load.p95_ms:.1f}",
                f"{load.p99_ms:.1f}",
                str(load.errors),
                cpu_cell(run),
                f"{other_share(run):.2f}",
            ]
        )
    return rows


LOAD_COLUMNS = [
    "workers",
    "endpoint",
    "clients",
    "req/s",
    "of bare",
    "p50 ms",
    "p95 ms",
    "p99 ms",
    "errors",
    "server CPU ms/req",
    "other CPU (cores)",
]


def print_report(report: Report, console: Console) -> None:
    """Print the figures as tables."""
    if report.cold_starts_s:
        starts = Table(
            title=f"Cold start of `devflow up` to /ready (n={len(report.cold_starts_s)})"
        )
        for column in ("min", "median", "max", "first start (not measured)", "stop (median)"):
            starts.add_column(column, justify="right")
        starts.add_row(
            f"{min(report.cold_starts_s):.3f} s",
            f"{statistics.median(report.cold_starts_s):.3f} s",
            f"{max(report.cold_starts_s):.3f} s",
            f"{report.first_start_s:.3f} s",
            f"{statistics.median(report.stops_s):.3f} s" if report.stops_s else "-",
        )
        console.print(starts)
    if report.runs:
        table = Table(title="The request path under load, side by side")
        for column in LOAD_COLUMNS:
            table.add_column(column, justify="left" if column == "endpoint" else "right")
        for row in load_rows(report):
            table.add_row(*row)
        console.print(table)
        for warning in generator_warnings(report):
            console.print(f"[yellow]{warning}[/]")
    verdicts = Table(title="Targets")
    for column in ("target", "measured", "result"):
        verdicts.add_column(column)
    for target, measured, result in targets(report):
        colour = "green" if result == "PASS" else "red"
        verdicts.add_row(target, measured, f"[{colour}]{result}[/]")
    console.print(verdicts)


def generator_warnings(report: Report) -> list[str]:
    """Return a warning per run where the load generator itself used most of a core."""
    warnings = []
    for run in report.runs:
        busy = run.cpu.generator_s / run.load.seconds if run.load.seconds else 0.0
        if busy >= GENERATOR_BUSY_SHARE:
            warnings.append(
                f"The load generator used {busy:.0%} of one core on `{ENDPOINTS[run.target]}` "
                f"({run.workers} worker(s), {run.clients} clients): it may have limited the "
                "throughput."
            )
    return warnings


def markdown(report: Report) -> str:
    """Return the report as a RESULTS.md section."""
    m = report.machine
    machine = (
        f"{m.cores} cores ({m.cpu_model}), {m.ram_gib:.1f} GiB RAM; {m.system}; Python {m.python}"
    )
    access_log = "true" if report.access_log else "false"
    settings = (
        f"`DEVFLOW_LOG__FORMAT=json`, `DEVFLOW_LOG__ACCESS_LOG={access_log}`, "
        "embedded PostgreSQL, fresh temporary DEVFLOW_HOME, database pool at its defaults"
    )
    begin = " / ".join(f"{x:.2f}" for x in report.loadavg)
    end = " / ".join(f"{x:.2f}" for x in report.loadavg_end)
    lines = [
        f"## Platform: cold start and the request path — {report.started:%Y-%m-%d %H:%M} UTC",
        "",
        f"- Command: `{shlex.join(report.argv)}`",
        f"- Machine: {machine}",
        f"- Revision: {report.revision}",
        f"- Load average (1/5/15 min) when the run began: {begin}; when it ended: {end}",
        f"- Settings: {settings}",
    ]
    if report.cold_starts_s:
        starts = report.cold_starts_s
        runs = ", ".join(f"{x:.3f}" for x in starts)
        lines += [
            "",
            (
                "### Cold start: `devflow up`, existing data dir, spawn to first 200 on `/ready` "
                f"(n={len(starts)})"
            ),
            "",
            "| min | median | max | first start (cluster init, not measured) |",
            "|---:|---:|---:|---:|",
            (
                f"| {min(starts):.3f} s | {statistics.median(starts):.3f} s | {max(starts):.3f} s "
                f"| {report.first_start_s:.3f} s |"
            ),
            "",
            (
                f"Runs (s): {runs}. /ready polled every {READY_POLL_S * 1000:.0f} ms; each run was "
                f"stopped with SIGINT (median stop {statistics.median(report.stops_s):.2f} s)."
            ),
        ]
    if report.runs:
        warmup = (
            f" {report.warmup_s:g} s warm-up before each, not counted." if report.warmup_s else ""
        )
        lines += [
            "",
            f"### The request path: {report.duration_s:g} s per run, side by side",
            "",
            (
                f"Load generator: {report.generator_setup}.{warmup} The bare endpoint is uvicorn "
                "serving one Starlette JSON route with DevFlow's server options; DevFlow is "
                "`devflow up --workers N`. CPU: the server processes' milliseconds per request "
                "(+ PostgreSQL's); other CPU: what the rest of the machine used meanwhile, in "
                "cores."
            ),
            "",
            "| " + " | ".join(LOAD_COLUMNS) + " |",
            "|---:|---|" + "---:|" * (len(LOAD_COLUMNS) - 2),
        ]
        lines += ["| " + " | ".join(row) + " |" for row in load_rows(report)]
        lines += [f"\n**{warning}**" for warning in generator_warnings(report)]
    lines += ["", "### Targets", "", "| target | measured | result |", "|---|---:|---|"]
    lines += [f"| {t} | {value} | **{r}** |" for t, value, r in targets(report)]
    return "\n".join(lines) + "\n"


def record(report: Report) -> None:
    """Append the report to bench/RESULTS.md, creating it with its header if needed."""
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else RESULTS_HEADER
    RESULTS.write_text(text.rstrip("\n") + "\n\n" + markdown(report), encoding="utf-8")


# -- entry point ----------------------------------------------------------------------------------


def counts(text: str) -> list[int]:
    """Parse `20,100` (a comma-separated list of positive counts; `CORES`: this machine's)."""
    cores = os.cpu_count() or 1
    values = [cores if part.strip().upper() == "CORES" else int(part) for part in text.split(",")]
    if any(v < 1 for v in values):
        raise argparse.ArgumentTypeError("counts must be positive")
    return list(dict.fromkeys(values))


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="Seconds of each load run.")
    parser.add_argument(
        "--clients", type=counts, default=[SHARE_CLIENTS, 100], help="Concurrent clients: 20,100."
    )
    parser.add_argument(
        "--workers", type=counts, default=counts("1,CORES"), help="Server processes: 1,CORES."
    )
    parser.add_argument("--starts", type=int, default=5, help="Cold starts to measure.")
    parser.add_argument("--warmup", type=float, default=2.0, help="Seconds of load not counted.")
    parser.add_argument(
        "--generator", choices=["auto", "wrk", "httpx"], default="auto", help="Load generator."
    )
    parser.add_argument("--wrk-threads", type=int, default=1, help="wrk threads.")
    parser.add_argument(
        "--access-log", action="store_true", help="Keep DevFlow's per-request access log on."
    )
    parser.add_argument("--keep", action="store_true", help="Keep the temporary DEVFLOW_HOME.")
    parser.add_argument("--no-record", action="store_true", help="Do not write RESULTS.md.")
    parser.add_argument("--httpx-worker", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.duration <= 0 or args.starts < 0:
        parser.error("--duration must be positive, --starts at least 0")
    return args


def main(argv: list[str]) -> int:
    """Run the benchmark; return the exit status (1 when it could not complete)."""
    args = parse_args(argv)
    if args.httpx_worker:
        httpx_worker(args.httpx_worker, args.clients[0], args.duration)
        return 0
    signal.signal(signal.SIGTERM, _interrupt)  # clean up (stop DevFlow) as on Ctrl-C
    console = Console(width=None if sys.stdout.isatty() else 160)  # a log keeps whole tables
    report = Report(
        started=datetime.now(tz=UTC),
        argv=["python", sys.argv[0], *argv],
        machine=describe_machine(),
        revision=git_revision(),
        loadavg=os.getloadavg(),
        access_log=args.access_log,
    )
    home = Path(tempfile.mkdtemp(prefix="devflow-bench-"))
    # When running as root, PostgreSQL runs as an unprivileged service user that must reach it.
    home.chmod(0o755)
    logs = Path(tempfile.mkdtemp(prefix="devflow-bench-logs-"))
    port = free_port()
    console.print(f"DEVFLOW_HOME={home}  port={port}  logs in {logs}")
    try:
        measure_starts(report, home, port, args.starts, logs, console)
        measure_load(report, home, args, logs, console)
    except (RuntimeError, OSError) as exc:
        console.print(f"[red]benchmark failed:[/] {exc}")
        return 1
    except KeyboardInterrupt:
        console.print("[red]interrupted[/]")
        return 130
    finally:
        kill_leftovers(home, console)
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)
    report.loadavg_end = os.getloadavg()
    print_report(report, console)
    if not args.no_record:
        record(report)
        console.print(f"appended to {RESULTS.relative_to(REPO_ROOT)}")
    shutil.rmtree(logs, ignore_errors=True)
    return 0


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
