"""Git hosting benchmark: clone and push through DevFlow's Smart HTTP, side by side with
`git http-backend` behind a minimal server and with `git daemon`, in one run.

    python bench/git.py [--source PATH] [--runs 3] [--no-record]

Everything runs on 127.0.0.1 in a temporary folder:

1. The payload is a real repository: a bare mirror of `--source` (default: this checkout,
   DevFlow's own history), with every branch and tag.
2. Three servers hold it: DevFlow (`devflow up`: embedded PostgreSQL, Smart HTTP through
   `git http-backend`, token auth), the anchor `git http-backend` behind a minimal threaded
   Python HTTP server in this script (no auth, no database: the same CGI program, streamed the
   same way, Git-Protocol passed on), and `git daemon` (git://, git's own server).
3. Timed, `--runs` times each, medians compared: `git clone --bare` of the whole repository
   (protocol v2), and `git push` of every branch and tag into a new empty repository.

The ratio is DevFlow / anchor (time: below 1.0 means DevFlow is faster); the issue's target is
1.1 against `git http-backend` served bare. Figures are printed and, unless --no-record,
appended as a dated section to bench/RESULTS.md with the machine, revision and load.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import psutil

from registry import process, revision

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
RESULTS = BENCH_DIR / "RESULTS.md"
CHUNK = 64 * 1024


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def git_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "DEVFLOW_"))}
    env.update(
        HOME=str(home),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_TERMINAL_PROMPT="0",
    )
    return env


def git(*args: str, cwd: Path, env: dict[str, str]) -> None:
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)


def wait_port(port: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port} after {timeout} s")


# -- the servers -------------------------------------------------------------------------------


class Devflow:
    """`devflow up` in a fresh home, and its admin token."""

    def __init__(self, stack: ExitStack, work: Path) -> None:
        home = work / "devflow-home"
        home.mkdir()
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("DEVFLOW_")}
        env.update(
            DEVFLOW_HOME=str(home), DEVFLOW_LOG__FORMAT="json", DEVFLOW_LOG__ACCESS_LOG="false"
        )
        proc = stack.enter_context(
            process(
                [sys.executable, "-m", "devflow", "up", "--port", str(port)],
                work / "devflow.log",
                env=env,
            )
        )
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if httpx.get(f"{self.url}/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.token = json.loads((home / "credentials").read_text())["token"]
        self.pid = proc.pid

    def new_repo(self, name: str) -> str:
        with httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}
        ) as api:
            api.post("/api/v1/projects/default/repos", json={"name": name}).raise_for_status()
        return f"{self.url}/default/{name}.git"

    def git_options(self) -> list[str]:
        helper = f"!f() {{ echo username=bench; echo password={self.token}; }}; f"
        return ["-c", f"credential.helper={helper}"]


class _Backend(BaseHTTPRequestHandler):
    """`git http-backend` as a CGI program, streamed both ways: the minimal anchor."""

    root: Path
    protocol_version = "HTTP/1.1"

    def log_message(self, *_args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._run()

    def do_POST(self) -> None:
        self._run()

    def _run(self) -> None:
        path, _, query = self.path.partition("?")
        env = {k: v for k, v in os.environ.items() if k == "PATH"}
        env.update(
            GIT_PROJECT_ROOT=str(self.root),
            GIT_HTTP_EXPORT_ALL="1",
            REMOTE_USER="bench",
            PATH_INFO=path,
            QUERY_STRING=query,
            REQUEST_METHOD=self.command,
            CONTENT_TYPE=self.headers.get("content-type", ""),
            GIT_CONFIG_NOSYSTEM="1",
            HOME=str(self.root),
        )
        if self.headers.get("git-protocol"):
            env["GIT_PROTOCOL"] = self.headers["git-protocol"]
        if self.headers.get("content-encoding"):
            env["HTTP_CONTENT_ENCODING"] = self.headers["content-encoding"]
        proc = subprocess.Popen(
            ["git", "http-backend"], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        assert proc.stdin  # noqa: S101
        assert proc.stdout  # noqa: S101
        feeder = threading.Thread(target=self._feed, args=(proc.stdin,))
        feeder.start()
        status, headers = "200 OK", []
        while line := proc.stdout.readline().rstrip(b"\r\n"):
            name, _, value = line.decode().partition(":")
            if name.lower() == "status":
                status = value.strip()
            else:
                headers.append((name, value.strip()))
        self.send_response(int(status.split()[0]))
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        while chunk := proc.stdout.read1(CHUNK):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        self.wfile.write(b"0\r\n\r\n")
        feeder.join()
        proc.wait()

    def _feed(self, stdin: Any) -> None:
        try:
            if self.headers.get("transfer-encoding", "").lower() == "chunked":
                while size := int(self.rfile.readline().split(b";")[0], 16):
                    stdin.write(self.rfile.read(size))
                    self.rfile.readline()
                self.rfile.readline()
            else:
                left = int(self.headers.get("content-length") or 0)
                while left:
                    chunk = self.rfile.read(min(left, CHUNK))
                    stdin.write(chunk)
                    left -= len(chunk)
        finally:
            stdin.close()


@contextmanager
def http_backend(root: Path) -> Iterator[str]:
    handler = type("Backend", (_Backend,), {"root": root})
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def git_daemon(stack: ExitStack, work: Path, root: Path) -> str:
    port = free_port()
    stack.enter_context(
        process(
            [
                "git",
                "daemon",
                "--export-all",
                "--enable=receive-pack",
                "--reuseaddr",
                f"--base-path={root}",
                f"--port={port}",
                "--listen=127.0.0.1",
                str(root),
            ],
            work / "daemon.log",
        )
    )
    wait_port(port)
    return f"git://127.0.0.1:{port}"


# -- the measurements --------------------------------------------------------------------------


def tree_cpu(pid: int | None) -> float:
    if pid is None:
        return 0.0
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for proc in procs:
        try:
            times = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        # The children's share counts the git processes the server ran and reaped.
        total += times.user + times.system + times.children_user + times.children_system
    return total


def timed(args: list[str], cwd: Path, env: dict[str, str]) -> float:
    began = time.perf_counter()
    subprocess.run(args, cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - began


def measure(
    name: str,
    clone_url: str,
    new_push_url: Any,
    options: list[str],
    work: Path,
    runs: int,
    payload: Path,
    env: dict[str, str],
) -> dict[str, Any]:
    clones, pushes = [], []
    for run in range(runs):
        target = work / f"clone-{name}-{run}.git"
        clones.append(
            timed(
                [
                    "git",
                    *options,
                    "-c",
                    "protocol.version=2",
                    "clone",
                    "-q",
                    "--bare",
                    clone_url,
                    str(target),
                ],
                work,
                env,
            )
        )
        shutil.rmtree(target)
        pushes.append(
            timed(
                [
                    "git",
                    *options,
                    "push",
                    "-q",
                    new_push_url(run),
                    "refs/heads/*:refs/heads/*",
                    "refs/tags/*:refs/tags/*",
                ],
                payload,
                env,
            )
        )
    return {"server": name, "clone": statistics.median(clones), "push": statistics.median(pushes)}


def report(args: argparse.Namespace, results: dict[str, Any]) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M")
    cores = psutil.cpu_count() or 0
    ram = psutil.virtual_memory().total / 2**30
    rows = results["rows"]
    anchor = next(r for r in rows if r["server"] == "git http-backend (minimal server)")
    lines = [
        f"## Git hosting: clone and push over Smart HTTP — {when} UTC",
        "",
        f"- Command: `python bench/git.py --runs {args.runs}`",
        (
            f"- Machine: {cores} cores, {ram:.1f} GiB RAM; Python {sys.version.split()[0]}; "
            f"{results['git']}; revision {revision()}"
        ),
        (
            f"- Load average (1/5/15 min) when the run began: {results['load']}; "
            f"when it ended: {results['load_end']}"
        ),
        f"- Payload: {results['payload']}",
        "",
        "| server | clone --bare (s) | push all refs (s) | clone ratio | push ratio |",
        "|---|---:|---:|---:|---:|",
    ]
    lines.extend(
        f"| {row['server']} | {row['clone']:.2f} | {row['push']:.2f} | "
        f"{row['clone'] / anchor['clone']:.2f} | {row['push'] / anchor['push']:.2f} |"
        for row in rows
    )
    lines += [
        "",
        (
            "Ratios are against `git http-backend` behind the minimal server (target: DevFlow "
            "≤ 1.1). DevFlow's server CPU during its runs (server, worker, PostgreSQL): "
            f"{results['devflow_cpu']:.1f} s."
        ),
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=REPO_ROOT)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="devflow-bench-git-"))
    env = git_env(work)
    results: dict[str, Any] = {
        "load": " / ".join(f"{x:.2f}" for x in os.getloadavg()),
        "git": subprocess.run(
            ["git", "--version"], capture_output=True, text=True, check=False
        ).stdout.strip(),
    }
    try:
        payload = work / "payload.git"
        git("clone", "-q", "--mirror", str(args.source), str(payload), cwd=work, env=env)
        refs = subprocess.run(
            ["git", "for-each-ref"], cwd=payload, capture_output=True, text=True, check=True
        ).stdout.count("\n")
        commits = subprocess.run(
            ["git", "rev-list", "--all", "--count"],
            cwd=payload,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        size = sum(f.stat().st_size for f in payload.rglob("*") if f.is_file())
        results["payload"] = (
            f"a mirror of {args.source.name} ({commits} commits, {refs} "
            f"ref{'s' if refs != 1 else ''}, {size / 2**20:.1f} MiB packed)"
        )
        served = work / "served"
        served.mkdir()
        shutil.copytree(payload, served / "payload.git")
        for run in range(args.runs):
            git("init", "-q", "--bare", str(served / f"push-{run}.git"), cwd=work, env=env)
        rows = []
        with ExitStack() as stack:
            devflow = Devflow(stack, work)
            clone_url = devflow.new_repo("payload")
            git(
                *devflow.git_options(),
                "push",
                "-q",
                clone_url,
                "refs/heads/*:refs/heads/*",
                "refs/tags/*:refs/tags/*",
                cwd=payload,
                env=env,
            )
            daemon = git_daemon(stack, work, served)
            backend = stack.enter_context(http_backend(served))
            cpu_before = tree_cpu(devflow.pid)
            rows.append(
                measure(
                    "DevFlow Smart HTTP",
                    clone_url,
                    lambda run: devflow.new_repo(f"push-{run}"),
                    devflow.git_options(),
                    work,
                    args.runs,
                    payload,
                    env,
                )
            )
            results["devflow_cpu"] = tree_cpu(devflow.pid) - cpu_before
            for name, base in (
                ("git http-backend (minimal server)", backend),
                ("git daemon (git://)", daemon),
            ):
                for run in range(args.runs):  # fresh empty targets for each server
                    shutil.rmtree(served / f"push-{run}.git")
                    git("init", "-q", "--bare", str(served / f"push-{run}.git"), cwd=work, env=env)
                rows.append(
                    measure(
                        name,
                        f"{base}/payload.git",
                        lambda run, b=base: f"{b}/push-{run}.git",
                        [],
                        work,
                        args.runs,
                        payload,
                        env,
                    )
                )
        results["rows"] = rows
        results["load_end"] = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = report(args, results)
    print(text)
    if not args.no_record:
        with RESULTS.open("a", encoding="utf-8") as out:
            out.write("\n" + text)


if __name__ == "__main__":
    main()
