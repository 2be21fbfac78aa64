"""Registry benchmark: DevFlow side by side with pypiserver and verdaccio, in one run.

    python bench/registry.py [--packages 50] [--runs 3] [--duration 15] [--clients 50]
                             [--no-record]

Everything runs on 127.0.0.1 in a temporary folder:

1. DevFlow is started as users start it (`devflow up`, embedded PostgreSQL, server and worker),
   with one public PyPI and one public npm repository.
2. PyPI: N small wheels where each depends on the next (a chain of N), uploaded to DevFlow with
   twine and put in the package folder of pypiserver (`pypi-server run`, from PyPI, its default
   server). Timed: `pip download --no-cache-dir` of the head of the chain (resolves all N) and
   `uv pip install --no-cache --target` of it, from each server, `--runs` times; medians compared.
3. npm: N packages, each depending on the next, published with npm's own publish document to
   DevFlow and to verdaccio (from the npm registry, installed into ~/.cache/devflow-bench;
   storage on disk, no uplinks). Timed: `npm install` of the head with an empty npm cache and
   no lockfile, from each server, `--runs` times; medians compared.
4. Raw download: `wrk` with `--clients` connections for `--duration` seconds on one tarball,
   against DevFlow and verdaccio in turn: requests/s and p95 latency.

Besides wall time, each install records the CPU seconds of the client (with its children) and of
the server's process tree (DevFlow: server, worker and PostgreSQL; the anchors: their one
process). On a shared, loaded machine wall times swing by 2x between runs; CPU seconds show
what each side costs much more steadily.

The ratio is DevFlow / anchor (time ratio: below 1.0 means DevFlow is faster). Figures are
printed and, unless --no-record, appended as a dated section to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import io
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
sys.path.insert(0, str(REPO_ROOT))

from tests.registry_fixtures import build_wheel, client_env  # noqa: E402

from devflow.core.embedded_pg import free_port  # noqa: E402

RESULTS = BENCH_DIR / "RESULTS.md"
VERDACCIO_VERSION = "6.8.0"  # 6.9+ needs Node 22; the machines have Node 20
VERDACCIO_DIR = Path("~/.cache/devflow-bench/verdaccio").expanduser()
BIN = Path(sys.executable).parent
SERVERS: dict[str, int] = {}  # base URL -> pid of the server process (children counted too)

WRK_LUA = """\
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH_JSON {\\"requests\\": %d, \\"duration_us\\": %d, \\"errors\\": %d, " ..
    "\\"status\\": %d, \\"p50_us\\": %.1f, \\"p95_us\\": %.1f, \\"p99_us\\": %.1f}\\n",
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""


def wait_http(
    url: str, timeout: float = 120.0, proc: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer in {timeout} s")


@contextmanager
def process(args: list[str], log: Path, **kwargs: Any) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, **kwargs)
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(60)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


# -- the servers -------------------------------------------------------------------------------


def start_devflow(stack: ExitStack, work: Path) -> tuple[str, str]:
    home = work / "devflow-home"
    home.mkdir()
    home.chmod(0o755)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEVFLOW_")}
    # Access logs off, as for the anchors (pypiserver --log-stream none, verdaccio level error).
    env.update(
        {
            "DEVFLOW_HOME": str(home),
            "DEVFLOW_LOG__FORMAT": "json",
            "DEVFLOW_LOG__ACCESS_LOG": "false",
        }
    )
    proc = stack.enter_context(
        process(
            [sys.executable, "-m", "devflow", "up", "--port", str(port)],
            work / "devflow.log",
            env=env,
        )
    )
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/ready", proc=proc)
    SERVERS[url] = proc.pid
    token = json.loads((home / "credentials").read_text())["token"]
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as api:
        for name, fmt in (("bench-py", "pypi"), ("bench-npm", "npm")):
            answer = api.post(
                "/api/v1/registry/repositories",
                json={"name": name, "format": fmt, "visibility": "public"},
            )
            answer.raise_for_status()
    return url, token


def start_pypiserver(stack: ExitStack, work: Path, folder: Path) -> str:
    port = free_port()
    proc = stack.enter_context(
        process(
            [
                str(BIN / "pypi-server"),
                "run",
                "-i",
                "127.0.0.1",
                "-p",
                str(port),
                "-a",
                ".",
                "-P",
                ".",
                "--log-stream",
                "none",
                str(folder),
            ],
            work / "pypiserver.log",
        )
    )
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/simple/", proc=proc)
    SERVERS[url] = proc.pid
    return url


def verdaccio_binary() -> Path:
    binary = VERDACCIO_DIR / "node_modules" / ".bin" / "verdaccio"
    if not binary.exists():
        VERDACCIO_DIR.mkdir(parents=True, exist_ok=True)
        # The npm mirror here lacks node-fetch's `cjs` dist-tag that a dependency asks for.
        (VERDACCIO_DIR / "package.json").write_text(
            json.dumps(
                {
                    "name": "devflow-bench-verdaccio",
                    "private": True,
                    "dependencies": {"verdaccio": VERDACCIO_VERSION},
                    "overrides": {"node-fetch": "2.7.0"},
                }
            )
        )
        subprocess.run(["npm", "install", "--no-audit", "--no-fund"], cwd=VERDACCIO_DIR, check=True)
    return binary


def start_verdaccio(stack: ExitStack, work: Path) -> tuple[str, str]:
    port = free_port()
    folder = work / "verdaccio"
    folder.mkdir()
    config = folder / "config.yaml"
    config.write_text(
        f"storage: {folder / 'storage'}\n"
        f"auth:\n  htpasswd:\n    file: {folder / 'htpasswd'}\n    max_users: 100\n"
        "uplinks: {}\n"
        "packages:\n  '**':\n    access: $all\n    publish: $authenticated\n"
        "server:\n  keepAliveTimeout: 60\n"
        "log: { type: stdout, format: json, level: error }\n"
        f"listen: 127.0.0.1:{port}\n"
    )
    proc = stack.enter_context(
        process([str(verdaccio_binary()), "--config", str(config)], work / "verdaccio.log")
    )
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/-/ping", proc=proc)
    SERVERS[url] = proc.pid
    answer = httpx.put(
        f"{url}/-/user/org.couchdb.user:bench",
        json={"name": "bench", "password": "bench-password", "type": "user", "roles": []},
    )
    answer.raise_for_status()
    return url, answer.json()["token"]


# -- packages ----------------------------------------------------------------------------------


def make_wheels(folder: Path, count: int) -> list[Path]:
    return [
        build_wheel(
            folder,
            f"chain{i:02d}",
            "1.0",
            requires=(f"chain{i + 1:02d}>=1.0",) if i + 1 < count else (),
        )
        for i in range(count)
    ]


def npm_document(registry: str, name: str, version: str, deps: dict[str, str]) -> dict[str, Any]:
    manifest = {"name": name, "version": version, "main": "index.js", "dependencies": deps}
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        for member, data in (
            ("package/package.json", json.dumps(manifest).encode()),
            ("package/index.js", f"module.exports = {json.dumps(name)};\n".encode()),
        ):
            info = tarfile.TarInfo(member)
            info.size = len(data)
            info.mtime = 1_700_000_000
            archive.addfile(info, io.BytesIO(data))
    tarball = out.getvalue()
    dist = {
        "tarball": f"{registry}{name}/-/{name}-{version}.tgz",  # as libnpmpublish writes it
        "shasum": hashlib.sha1(tarball, usedforsecurity=False).hexdigest(),
        "integrity": "sha512-" + base64.b64encode(hashlib.sha512(tarball).digest()).decode(),
    }
    return {
        "_id": name,
        "name": name,
        "dist-tags": {"latest": version},
        "versions": {version: {**manifest, "_id": f"{name}@{version}", "dist": dist}},
        "_attachments": {
            f"{name}-{version}.tgz": {
                "content_type": "application/octet-stream",
                "data": base64.b64encode(tarball).decode(),
                "length": len(tarball),
            }
        },
    }


def publish_npm(registry: str, token: str, count: int) -> None:
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
        for i in range(count):
            deps = {f"nchain{i + 1:02d}": "^1.0.0"} if i + 1 < count else {}
            name = f"nchain{i:02d}"
            answer = http.put(f"{registry}{name}", json=npm_document(registry, name, "1.0.0", deps))
            answer.raise_for_status()


# -- timed client runs -------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One timed client run: wall seconds, and CPU seconds of the client and of the server."""

    wall: float
    client_cpu: float
    server_cpu: float


def tree_cpu(pid: int | None) -> float:
    """Return the CPU seconds used so far by a process and its live descendants."""
    if pid is None:
        return 0.0
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = proc.cpu_times()
            total += times.user + times.system
    return total


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(args: list[str], env: dict[str, str], cwd: Path | None = None, server: str = "") -> Run:
    pid = next((p for url, p in SERVERS.items() if server.startswith(url)), None)
    server_before, client_before = tree_cpu(pid), children_cpu()
    began = time.perf_counter()
    done = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(args[:5])} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        )
    return Run(elapsed, children_cpu() - client_before, tree_cpu(pid) - server_before)


def pip_download(index: str, work: Path, run: int, env: dict[str, str]) -> Run:
    out = work / f"pip-{run}-{time.monotonic_ns()}"
    return timed(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-cache-dir",
            "-d",
            str(out),
            "--index-url",
            index,
            "chain00",
        ],
        env,
        server=index,
    )


def uv_install(index: str, work: Path, run: int, env: dict[str, str]) -> Run:
    out = work / f"uv-{run}-{time.monotonic_ns()}"
    return timed(
        [
            str(BIN / "uv"),
            "pip",
            "install",
            "--no-cache",
            "--target",
            str(out),
            "--index-url",
            index,
            "--python",
            sys.executable,
            "chain00",
        ],
        env,
        server=index,
    )


def npm_install(registry: str, work: Path, run: int, env: dict[str, str]) -> Run:
    app = work / f"npm-{run}-{time.monotonic_ns()}"
    app.mkdir()
    (app / ".npmrc").write_text(f"registry={registry}\naudit=false\nfund=false\n")
    (app / "package.json").write_text(json.dumps({"name": "app", "version": "1.0.0"}))
    run_env = {
        **env,
        "npm_config_userconfig": str(app / ".npmrc"),
        "npm_config_cache": str(app / "cache"),  # empty cache every run
    }
    return timed(
        ["npm", "install", "--no-package-lock", "nchain00"], run_env, cwd=app, server=registry
    )


def wrk(url: str, clients: int, duration: float, script: Path) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t", "1", "-c", str(clients), "-d", f"{round(duration)}s", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    )
    line = next(x for x in out.stdout.splitlines() if x.startswith("BENCH_JSON "))
    data = json.loads(line.removeprefix("BENCH_JSON "))
    seconds = data["duration_us"] / 1e6
    return {
        "requests": data["requests"],
        "rps": data["requests"] / seconds,
        "p50_ms": data["p50_us"] / 1000,
        "p95_ms": data["p95_us"] / 1000,
        "p99_ms": data["p99_us"] / 1000,
        "errors": data["errors"] + data["status"],
    }


# -- report ------------------------------------------------------------------------------------


def median(values: list[float]) -> float:
    return statistics.median(values)


def machine() -> str:
    cores = psutil.cpu_count() or 0
    ram = psutil.virtual_memory().total / 2**30
    return f"{cores} cores, {ram:.1f} GiB RAM; Python {sys.version.split()[0]}"


def revision() -> str:
    out = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.strip() or "unknown"


def report(args: argparse.Namespace, results: dict[str, Any]) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M")
    command = (
        f"python bench/registry.py --packages {args.packages} --runs {args.runs} "
        f"--duration {args.duration} --clients {args.clients}"
    )
    setup = (
        f"DevFlow via `devflow up` (embedded PostgreSQL, access log off), public repositories; "
        f"pypiserver {results['pypiserver_version']} (`pypi-server run`, its default server); "
        f"verdaccio {VERDACCIO_VERSION} (htpasswd, no uplinks)"
    )
    lines = [
        f"## Registry: DevFlow vs pypiserver and verdaccio — {when} UTC",
        "",
        f"- Command: `{command}`",
        f"- Machine: {machine()}; load average when the run began: {results['load']}",
        f"- Revision: {revision()}; {setup}",
        "",
        (
            f"### Installs of a {args.packages}-package dependency chain (median of {args.runs} "
            "runs, seconds; ratio = DevFlow / anchor, below 1.0 is faster)"
        ),
        "",
        (
            "| client | DevFlow | anchor | anchor time | ratio | CPU s DevFlow (client + server) "
            "| CPU s anchor (client + server) | CPU ratio |"
        ),
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for label, anchor, ours, theirs in results["installs"]:
        wall_ours, wall_theirs = median([r.wall for r in ours]), median([r.wall for r in theirs])
        cpu = [
            (median([r.client_cpu for r in x]), median([r.server_cpu for r in x]))
            for x in (ours, theirs)
        ]
        cpu_ratio = sum(cpu[0]) / sum(cpu[1])
        lines.append(
            f"| {label} | {wall_ours:.2f} | {anchor} | {wall_theirs:.2f} | "
            f"{wall_ours / wall_theirs:.2f} | {cpu[0][0]:.2f} + {cpu[0][1]:.2f} | "
            f"{cpu[1][0]:.2f} + {cpu[1][1]:.2f} | {cpu_ratio:.2f} |"
        )
    runs = "; ".join(
        f"{label}: DevFlow {', '.join(f'{x.wall:.2f}' for x in ours)} / "
        f"{anchor} {', '.join(f'{x.wall:.2f}' for x in theirs)}"
        for label, anchor, ours, theirs in results["installs"]
    )
    lines += [
        "",
        (
            f"Runs (s): {runs}. CPU: medians of the runs; the client with its children, the server "
            "with its process tree."
        ),
        "",
        (
            f"### Tarball downloads: {args.clients} concurrent clients for {args.duration:g} s "
            "(wrk, 1 thread, on the same cores)"
        ),
        "",
        "| server | requests | req/s | p50 | p95 | p99 | errors |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, f in results["throughput"]:
        lines.append(
            f"| {name} | {f['requests']} | {f['rps']:.0f} | {f['p50_ms']:.1f} ms | "
            f"{f['p95_ms']:.1f} ms | {f['p99_ms']:.1f} ms | {f['errors']} |"
        )
    return "\n".join(lines) + "\n"


def bench_pypi(
    stack: ExitStack, work: Path, devflow: str, token: str, args: argparse.Namespace
) -> list[tuple[str, str, list[Run], list[Run]]]:
    env = client_env(work)
    wheels_dir = work / "wheels"
    wheels_dir.mkdir()
    wheels = make_wheels(wheels_dir, args.packages)
    upload = [sys.executable, "-m", "twine", "upload", "--non-interactive"]
    upload += ["--disable-progress-bar", "--repository-url", f"{devflow}/pypi/bench-py/legacy/"]
    timed([*upload, "-u", "__token__", "-p", token, *map(str, wheels)], env)
    pypiserver = start_pypiserver(stack, work, wheels_dir)
    print(f"pypiserver on {pypiserver}")
    ours_index, theirs_index = f"{devflow}/pypi/bench-py/simple/", f"{pypiserver}/simple/"
    installs = []
    for label, fn in (("pip download", pip_download), ("uv pip install", uv_install)):
        ours, theirs = [], []
        for run in range(args.runs):  # interleaved, so that machine noise hits both alike
            ours.append(fn(ours_index, work, run, env))
            theirs.append(fn(theirs_index, work, run, env))
        installs.append((label, "pypiserver", ours, theirs))
        print(label, ours, theirs)
    return installs


def bench_npm(
    stack: ExitStack, work: Path, devflow: str, token: str, args: argparse.Namespace
) -> tuple[tuple[str, str, list[Run], list[Run]], list[tuple[str, dict[str, float]]]]:
    env = client_env(work)
    verdaccio, vtoken = start_verdaccio(stack, work)
    print(f"verdaccio on {verdaccio}")
    ours_npm, theirs_npm = f"{devflow}/npm/bench-npm/", f"{verdaccio}/"
    publish_npm(ours_npm, token, args.packages)
    publish_npm(theirs_npm, vtoken, args.packages)
    ours, theirs = [], []
    for run in range(args.runs):
        ours.append(npm_install(ours_npm, work, run, env))
        theirs.append(npm_install(theirs_npm, work, run, env))
    print("npm install", ours, theirs)
    script = work / "report.lua"
    script.write_text(WRK_LUA)
    last = f"nchain{args.packages - 1:02d}"
    tarball = f"{last}/-/{last}-1.0.0.tgz"
    throughput = []
    for name, base in (("DevFlow", ours_npm), ("verdaccio", theirs_npm)):
        httpx.get(base + tarball).raise_for_status()
        figures = wrk(base + tarball, args.clients, args.duration, script)
        throughput.append((name, figures))
        print(name, figures)
    return ("npm install", "verdaccio", ours, theirs), throughput


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--packages", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="devflow-bench-registry-"))
    work.chmod(0o755)
    results: dict[str, Any] = {
        "load": " / ".join(f"{x:.2f}" for x in os.getloadavg()),
        "pypiserver_version": subprocess.run(
            [str(BIN / "pypi-server"), "--version"], capture_output=True, text=True, check=False
        ).stdout.strip(),
    }
    try:
        with ExitStack() as stack:
            devflow, token = start_devflow(stack, work)
            print(f"DevFlow on {devflow}")
            results["installs"] = bench_pypi(stack, work, devflow, token, args)
            npm_install_result, results["throughput"] = bench_npm(stack, work, devflow, token, args)
            results["installs"].append(npm_install_result)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = report(args, results)
    print(text)
    if not args.no_record:
        with RESULTS.open("a", encoding="utf-8") as out:
            out.write("\n" + text)


if __name__ == "__main__":
    main()
