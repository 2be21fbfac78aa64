"""Platform benchmark: cold start of `devflow up` and `GET /api/v1/projects` under load.

    python bench/platform_bench.py [--duration 20] [--clients 100] [--starts 5] [--no-record]

Everything runs against a fresh, temporary DEVFLOW_HOME on 127.0.0.1:

1. one first start (initialises the embedded PostgreSQL cluster; timed, but not measured against
   the target), then N cold starts of `devflow up` with that existing data dir: the time from
   spawning the process to the first 200 from GET /ready (polled every 10 ms). Each start is
   stopped with SIGINT, as Ctrl-C would, and waited for.
2. one more start, then `--clients` concurrent clients on keep-alive connections for `--duration`
   seconds against GET /api/v1/projects with the admin token. The load generator is `wrk` when it
   is on PATH (cheap: the server shares the machine's cores with it), otherwise an asyncio pool of
   httpx clients in a separate process.

The figures are printed and, unless --no-record, appended as a dated section to bench/RESULTS.md.
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
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psutil
from rich.console import Console
from rich.table import Table

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
RESULTS = BENCH_DIR / "RESULTS.md"

COLD_START_TARGET_S = 3.0
P95_TARGET_MS = 20.0  # the target
P95_DESIGN_TARGET_MS = 200.0  # the design document's target
READY_POLL_S = 0.01
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 60.0
ENDPOINT = "/api/v1/projects"
JSON_MARKER = "BENCH_JSON "
GENERATOR_BUSY_SHARE = 0.5  # of one core; above it the generator, not the server, may be the limit

RESULTS_HEADER = """\
# DevFlow platform benchmark results

Appended by the scripts in bench/ (`python bench/platform_bench.py`, `make bench`): one dated
section per run, newest last. Each section names the machine, the exact command and the settings
it ran with, so that figures from different machines or settings are not compared by accident. Do
not edit figures by hand: rerun the benchmark instead.

What is measured (see the docstring of bench/platform_bench.py):

- **Cold start**: `devflow up` with an existing data dir, from spawning the process to the first
  200 on `GET /ready` (embedded PostgreSQL, migrations, HTTP server). Target: under 3 s.
- **API under load**: `GET /api/v1/projects` with the admin token, N concurrent keep-alive
  clients for a fixed time: throughput, latency percentiles and errors (any non-200 response,
  timeout or socket error). Target: p95 under 20 ms (the design document asks for 200 ms).
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
    """CPU seconds spent by DevFlow's processes during the load run."""

    server_s: float  # the `devflow up` process: HTTP server (uvicorn, in-process)
    worker_s: float  # the job-worker subprocess
    postgres_s: float  # the embedded PostgreSQL, all its processes
    generator_s: float  # the load generator


@dataclass
class Report:
    """Everything one benchmark run found."""

    started: datetime
    argv: list[str]
    machine: Machine
    revision: str
    loadavg: tuple[float, float, float]
    access_log: bool
    clients: int
    first_start_s: float = math.nan
    cold_starts_s: list[float] = field(default_factory=list)
    stops_s: list[float] = field(default_factory=list)
    load: LoadResult | None = None
    cpu: CpuUse | None = None
    generator_setup: str = ""
    warmup_s: float = 0.0


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


# -- running DevFlow ------------------------------------------------------------------------------


class DevFlowProcess:
    """One `devflow up` process on 127.0.0.1:port with the given home."""

    def __init__(self, home: Path, port: int, log_path: Path, *, access_log: bool) -> None:
        self.home = home
        self.port = port
        self.log_path = log_path
        self.env = {
            **os.environ,
            "DEVFLOW_HOME": str(home),
            "DEVFLOW_LOG__FORMAT": "json",
            "DEVFLOW_LOG__ACCESS_LOG": "true" if access_log else "false",
        }
        # No DATABASE_URL from the caller's environment: this must be the embedded PostgreSQL.
        self.env.pop("DEVFLOW_DATABASE_URL", None)
        self.proc: subprocess.Popen[bytes] | None = None
        self.spawned_at = 0.0

    def start(self) -> None:
        """Spawn `devflow up` (it runs in its own session, so a ^C here is not sent to it)."""
        with self.log_path.open("ab") as log:
            self.spawned_at = time.perf_counter()
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "devflow",
                    "up",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                ],
                env=self.env,
                cwd=self.home,  # no stray `.env` from the caller's working directory
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self) -> float:
        """Poll GET /ready every 10 ms; return seconds from spawn to the first 200.

        Raises:
            RuntimeError: the process exited, or it was not ready within START_TIMEOUT_S.
        """
        assert self.proc is not None  # noqa: S101 - start() first
        deadline = self.spawned_at + START_TIMEOUT_S
        while True:
            if ready_once(self.port):
                return time.perf_counter() - self.spawned_at
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"devflow up exited with code {self.proc.returncode} before /ready answered "
                    f"200; its log:\n{tail(self.log_path)}"
                )
            if time.perf_counter() > deadline:
                raise RuntimeError(
                    f"/ready did not answer 200 within {START_TIMEOUT_S:.0f} s; "
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
                f"devflow up did not stop within {STOP_TIMEOUT_S:.0f} s of SIGINT; killed it"
            ) from None
        if code not in {0, -signal.SIGINT, 128 + signal.SIGINT}:
            raise RuntimeError(f"devflow up exited with code {code}; log:\n{tail(self.log_path)}")
        return time.perf_counter() - started

    def kill(self) -> None:
        """Kill the process group of `devflow up` (only used when SIGINT did not work)."""
        if self.proc is not None and self.proc.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def tree(self) -> list[psutil.Process]:
        """Return `devflow up` and every process below it (worker, PostgreSQL)."""
        assert self.proc is not None  # noqa: S101 - start() first
        root = psutil.Process(self.proc.pid)
        return [root, *root.children(recursive=True)]


@contextmanager
def running(devflow: DevFlowProcess) -> Iterator[float]:
    """Start DevFlow, yield the seconds it took to be ready, and stop it with SIGINT."""
    devflow.start()
    try:
        yield devflow.wait_ready()
    finally:
        devflow.stop()


def ready_once(port: int) -> bool:
    """Return whether GET /ready answers 200 (one short-lived connection)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2.0)
    try:
        conn.request("GET", "/ready")
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


# -- the benchmark --------------------------------------------------------------------------------


def measure_starts(
    report: Report, home: Path, port: int, starts: int, logs: Path, console: Console
) -> None:
    """Time the first start (not measured) and `starts` cold starts."""
    devflow = DevFlowProcess(home, port, logs / "first-start.log", access_log=report.access_log)
    with running(devflow) as seconds:
        report.first_start_s = seconds
    console.print(f"first start (initialises the cluster, not measured): {seconds:.2f} s")
    for n in range(1, starts + 1):
        devflow = DevFlowProcess(home, port, logs / f"start-{n}.log", access_log=report.access_log)
        devflow.start()
        try:
            seconds = devflow.wait_ready()
        finally:
            report.stops_s.append(devflow.stop())
        report.cold_starts_s.append(seconds)
        console.print(f"cold start {n}/{starts}: {seconds:.3f} s to /ready")


def measure_load(
    report: Report, home: Path, port: int, args: argparse.Namespace, logs: Path, console: Console
) -> None:
    """Start DevFlow once more and put `args.clients` concurrent clients on the endpoint."""
    token = read_token(home)
    url = f"http://127.0.0.1:{port}{ENDPOINT}"
    wrk = None if args.generator == "httpx" else shutil.which("wrk")
    if args.generator == "wrk" and wrk is None:
        raise RuntimeError("--generator wrk, but wrk is not on PATH (apt-get install wrk)")
    script = logs / "report.lua"
    script.write_text(WRK_LUA, encoding="utf-8")
    if wrk is not None:
        threads = max(1, min(args.wrk_threads, args.clients))
        report.generator_setup = (
            f"{wrk_version(wrk)}: {threads} thread(s), {args.clients} connections, "
            "timeout 30 s, Lua script for p95 and non-200 counting"
        )
    else:
        console.print("[yellow]wrk not found: using the asyncio httpx client pool[/]")
        report.generator_setup = (
            f"httpx asyncio pool in a separate process: {args.clients} tasks over "
            f"{args.clients} keep-alive connections"
        )

    def load(duration: float) -> LoadResult:
        if wrk is not None:
            return run_wrk(wrk, url, token, args.clients, args.wrk_threads, duration, script)
        return run_httpx(url, token, args.clients, duration)

    devflow = DevFlowProcess(home, port, logs / "load.log", access_log=report.access_log)
    with running(devflow):
        probe = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        probe.request("GET", ENDPOINT, headers={"Authorization": f"Bearer {token}"})
        answer = probe.getresponse()
        answer.read()
        probe.close()
        if answer.status != 200:
            raise RuntimeError(f"GET {ENDPOINT} answered {answer.status}, not 200")
        if args.warmup > 0:
            console.print(f"warm-up: {args.warmup:g} s (not counted)")
            load(args.warmup)
            report.warmup_s = args.warmup
        console.print(
            f"load: {args.clients} clients for {args.duration:g} s on GET {ENDPOINT} "
            f"({'wrk' if wrk else 'httpx'})"
        )
        procs = devflow.tree()
        roles = {p.pid: role(p, devflow) for p in procs}
        before = cpu_seconds(procs)
        generator_before = children_cpu_seconds()
        report.load = load(args.duration)
        generator_s = children_cpu_seconds() - generator_before
        after = cpu_seconds(devflow.tree())
        used: dict[str, float] = {"server": 0.0, "worker": 0.0, "postgres": 0.0}
        for pid, seconds in after.items():
            used[roles.get(pid, "postgres")] += seconds - before.get(pid, 0.0)
        report.cpu = CpuUse(used["server"], used["worker"], used["postgres"], generator_s)


def role(proc: psutil.Process, devflow: DevFlowProcess) -> str:
    """Return which part of DevFlow a process is: server, worker or postgres."""
    assert devflow.proc is not None  # noqa: S101 - started
    if proc.pid == devflow.proc.pid:
        return "server"
    with suppress(psutil.Error):
        if "worker" in proc.cmdline():
            return "worker"
    return "postgres"


# -- output ---------------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    """Return PASS or FAIL."""
    return "PASS" if ok else "FAIL"


def targets(report: Report) -> list[tuple[str, str, str]]:
    """Return (target, measured, PASS/FAIL) rows."""
    rows: list[tuple[str, str, str]] = []
    if report.cold_starts_s:
        median = statistics.median(report.cold_starts_s)
        worst = max(report.cold_starts_s)
        rows.append(
            (
                f"cold start, median of {len(report.cold_starts_s)} < {COLD_START_TARGET_S:g} s",
                f"{median:.2f} s",
                verdict(median < COLD_START_TARGET_S),
            )
        )
        rows.append(
            (
                f"cold start, every one of {len(report.cold_starts_s)} < {COLD_START_TARGET_S:g} s",
                f"worst {worst:.2f} s",
                verdict(worst < COLD_START_TARGET_S),
            )
        )
    if report.load is not None:
        p95 = report.load.p95_ms
        rows.append(
            (f"p95 < {P95_TARGET_MS:g} ms (issue)", f"{p95:.1f} ms", verdict(p95 < P95_TARGET_MS))
        )
        rows.append(
            (
                f"p95 < {P95_DESIGN_TARGET_MS:g} ms (design document)",
                f"{p95:.1f} ms",
                verdict(p95 < P95_DESIGN_TARGET_MS),
            )
        )
        rows.append(
            ("no errors under load", str(report.load.errors), verdict(report.load.errors == 0))
        )
    return rows


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
    if report.load is not None:
        load = report.load
        table = Table(title=f"GET {ENDPOINT} under load ({load.generator})")
        for column in ("requests", "req/s", "p50", "p95", "p99", "max", "errors"):
            table.add_column(column, justify="right")
        table.add_row(
            str(load.requests),
            f"{load.throughput:.1f}",
            f"{load.p50_ms:.1f} ms",
            f"{load.p95_ms:.1f} ms",
            f"{load.p99_ms:.1f} ms",
            f"{load.max_ms:.1f} ms",
            str(load.errors),
        )
        console.print(table)
        console.print(f"errors: {load.error_detail}")
        if report.cpu is not None and load.requests:
            console.print(cpu_line(report))
        if warning := generator_warning(report):
            console.print(f"[yellow]{warning}[/]")
    verdicts = Table(title="Targets")
    for column in ("target", "measured", "result"):
        verdicts.add_column(column)
    for target, measured, result in targets(report):
        colour = "green" if result == "PASS" else "red"
        verdicts.add_row(target, measured, f"[{colour}]{result}[/]")
    console.print(verdicts)


def cpu_line(report: Report) -> str:
    """Return where the CPU went during the load run, per request."""
    assert report.cpu is not None  # noqa: S101
    assert report.load is not None  # noqa: S101
    cpu, n, seconds = report.cpu, report.load.requests, report.load.seconds
    return (
        f"CPU during the load run: server process {cpu.server_s / n * 1000:.2f} ms/request "
        f"({cpu.server_s / seconds * 100:.0f}% of one core), PostgreSQL "
        f"{cpu.postgres_s / n * 1000:.2f} ms/request ({cpu.postgres_s / seconds * 100:.0f}%), "
        f"job worker {cpu.worker_s / seconds * 100:.0f}%, load generator "
        f"{cpu.generator_s / seconds * 100:.0f}% of one core"
    )


def generator_warning(report: Report) -> str | None:
    """Return a warning when the load generator itself used most of a core (figures understated)."""
    if report.cpu is None or report.load is None or not report.load.seconds:
        return None
    share = report.cpu.generator_s / report.load.seconds
    if share < GENERATOR_BUSY_SHARE:
        return None
    return (
        f"Warning: the load generator used {share * 100:.0f}% of one core, so it may have limited "
        "the throughput; install wrk for figures that measure the server."
    )


def markdown(report: Report) -> str:
    """Return the report as a RESULTS.md section."""
    m = report.machine
    machine = (
        f"{m.cores} cores ({m.cpu_model}), {m.ram_gib:.1f} GiB RAM; {m.system}; Python {m.python}"
    )
    access_log = "true" if report.access_log else "false"
    settings = (
        f"`DEVFLOW_LOG__FORMAT=json`, `DEVFLOW_LOG__ACCESS_LOG={access_log}`, "
        "embedded PostgreSQL, fresh temporary DEVFLOW_HOME"
    )
    loadavg = " / ".join(f"{x:.2f}" for x in report.loadavg)
    lines = [
        f"## Platform: cold start and API load — {report.started:%Y-%m-%d %H:%M} UTC",
        "",
        f"- Command: `{shlex.join(report.argv)}`",
        f"- Machine: {machine}",
        f"- Revision: {report.revision}",
        f"- Load average when the run began (other work on the machine): {loadavg}",
        f"- Settings: {settings}",
    ]
    if report.cold_starts_s:
        starts = report.cold_starts_s
        title = (
            "### Cold start: `devflow up`, existing data dir, spawn to first 200 on `/ready` "
            f"(n={len(starts)})"
        )
        row = (
            f"| {min(starts):.3f} s | {statistics.median(starts):.3f} s | {max(starts):.3f} s "
            f"| {report.first_start_s:.3f} s |"
        )
        runs = ", ".join(f"{x:.3f}" for x in starts)
        note = (
            f"Runs (s): {runs}. /ready polled every {READY_POLL_S * 1000:.0f} ms; each run was "
            f"stopped with SIGINT (median stop {statistics.median(report.stops_s):.2f} s)."
        )
        lines += [
            "",
            title,
            "",
            "| min | median | max | first start (cluster init, not measured) |",
            "|---:|---:|---:|---:|",
            row,
            "",
            note,
        ]
    if report.load is not None:
        load = report.load
        warmup = f" {report.warmup_s:g} s warm-up first, not counted." if report.warmup_s else ""
        row = (
            f"| {load.requests} | {load.throughput:.1f} req/s | {load.p50_ms:.1f} ms "
            f"| {load.p95_ms:.1f} ms | {load.p99_ms:.1f} ms | {load.max_ms:.1f} ms "
            f"| {load.errors} ({load.error_detail}) |"
        )
        lines += [
            "",
            f"### `GET {ENDPOINT}`: {report.clients} concurrent clients for {load.seconds:.1f} s",
            "",
            f"Load generator: {report.generator_setup}.{warmup}",
            "",
            "| requests | throughput | p50 | p95 | p99 | max | errors |",
            "|---:|---:|---:|---:|---:|---:|---:|",
            row,
        ]
        if report.cpu is not None and load.requests:
            lines += ["", cpu_line(report) + "."]
        if warning := generator_warning(report):
            lines += ["", f"**{warning}**"]
    lines += ["", "### Targets", "", "| target | measured | result |", "|---|---:|---|"]
    lines += [f"| {t} | {value} | **{r}** |" for t, value, r in targets(report)]
    return "\n".join(lines) + "\n"


def record(report: Report) -> None:
    """Append the report to bench/RESULTS.md, creating it with its header if needed."""
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else RESULTS_HEADER
    RESULTS.write_text(text.rstrip("\n") + "\n\n" + markdown(report), encoding="utf-8")


# -- entry point ----------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=20.0, help="Seconds of load.")
    parser.add_argument("--clients", type=int, default=100, help="Concurrent clients.")
    parser.add_argument("--starts", type=int, default=5, help="Cold starts to measure.")
    parser.add_argument("--warmup", type=float, default=2.0, help="Seconds of load not counted.")
    parser.add_argument(
        "--generator", choices=["auto", "wrk", "httpx"], default="auto", help="Load generator."
    )
    parser.add_argument("--wrk-threads", type=int, default=1, help="wrk threads.")
    parser.add_argument(
        "--access-log", action="store_true", help="Keep the per-request access log on."
    )
    parser.add_argument("--keep", action="store_true", help="Keep the temporary DEVFLOW_HOME.")
    parser.add_argument("--no-record", action="store_true", help="Do not write RESULTS.md.")
    parser.add_argument("--httpx-worker", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.clients < 1 or args.duration <= 0 or args.starts < 0:
        parser.error("--clients and --duration must be positive, --starts at least 0")
    return args


def main(argv: list[str]) -> int:
    """Run the benchmark; return the exit status (1 when it could not complete)."""
    args = parse_args(argv)
    if args.httpx_worker:
        httpx_worker(args.httpx_worker, args.clients, args.duration)
        return 0
    signal.signal(signal.SIGTERM, _interrupt)  # clean up (stop DevFlow) as on Ctrl-C
    console = Console()
    report = Report(
        started=datetime.now(tz=UTC),
        argv=["python", sys.argv[0], *argv],
        machine=describe_machine(),
        revision=git_revision(),
        loadavg=os.getloadavg(),
        access_log=args.access_log,
        clients=args.clients,
    )
    home = Path(tempfile.mkdtemp(prefix="devflow-bench-"))
    # When running as root, PostgreSQL runs as an unprivileged service user that must reach it.
    home.chmod(0o755)
    logs = Path(tempfile.mkdtemp(prefix="devflow-bench-logs-"))
    port = free_port()
    console.print(f"DEVFLOW_HOME={home}  port={port}  logs in {logs}")
    try:
        measure_starts(report, home, port, args.starts, logs, console)
        measure_load(report, home, port, args, logs, console)
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
