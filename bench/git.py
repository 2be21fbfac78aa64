"""Git hosting benchmark: clone and push through DevFlow's Smart HTTP, side by side with
`git http-backend` behind a minimal server and with `git daemon`, in one run.

    python bench/git.py [--source PATH] [--runs 3] [--commits 1000] [--clients 20]
                        [--history 10000] [--skip-transfer] [--skip-push-history]
                        [--skip-concurrent] [--skip-merge] [--no-record]

Everything runs on 127.0.0.1 in a temporary folder:

1. The payload is a real repository: a bare mirror of `--source` (default: this checkout,
   DevFlow's own history), with every branch and tag, in one pack as every server gets it.
2. Three servers hold it: DevFlow (`devflow up`: embedded PostgreSQL, Smart HTTP through
   `git http-backend`, token auth), the anchor `git http-backend` behind a minimal threaded
   Python HTTP server in this script (no auth, no database: the same CGI program, streamed the
   same way, Git-Protocol passed on), and `git daemon` (git://, git's own server).
3. Timed, `--runs` times each, medians compared: `git clone --bare` of the whole repository
   (protocol v2); `git fetch` into a copy of the repository that lacks the default branch's
   last commits; and `git push` of every branch and tag into a new empty repository.
4. Push of a generated linear history (`--commits`, made with `git fast-import`) into a new
   empty repository, DevFlow against the direct `git http-backend`, `--runs` times each.
5. `--clients` concurrent `git clone --bare` of the payload, DevFlow against the direct
   `git http-backend`: the wall time until the last one ends and the p95 of one clone.
6. Mergeability of a pull request on a generated `--history`-commit base: a head branch of a few
   commits that left the base 10% of the history ago. DevFlow's `POST .../pulls` (which runs
   `git merge-tree --write-tree` on the new pair) and `GET .../pulls/{n}` (the pair already
   checked: the API's cost without git) against plain `git merge-tree --write-tree` on
   DevFlow's own bare repository, `--runs` times each.

Parts 3 to 6 can be skipped (`--skip-...`); the default run takes a few minutes on 2 cores.

The ratio is DevFlow / anchor (time: below 1.0 means DevFlow is faster); the issue's target is
1.1 for clone and fetch against `git http-backend` served bare. Figures are printed and, unless
--no-record, appended as a dated section to bench/RESULTS.md with the machine, revision and load.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
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
ANCHOR = "git http-backend (minimal server)"
TARGET = 1.1  # issue 17: DevFlow / bare git http-backend, for clone and fetch


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
        self.home = home
        # Set by main(): the anchors' folder and URL, and the payload's DevFlow URL.
        self.served = work / "served"
        self.backend = ""
        self.payload_url = ""

    def api(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=120
        )

    def new_repo(self, name: str) -> str:
        with self.api() as api:
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


def p95(values: list[float]) -> float:
    """The nearest-rank 95th percentile (of 20 values: the 19th smallest)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def clone_args(options: list[str], url: str, target: Path) -> list[str]:
    return ["git", *options, "-c", "protocol.version=2", "clone", "-q", "--bare", url, str(target)]


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
    clones, fetches, pushes = [], [], []
    branch = default_branch(payload)
    for run in range(runs):
        target = work / f"clone-{name}-{run}.git"
        clones.append(timed(clone_args(options, clone_url, target), work, env))
        shutil.rmtree(target)
        behind = work / f"fetch-{run}.git"
        shutil.copytree(work / "behind.git", behind)
        fetches.append(
            timed(
                ["git", *options, "-c", "protocol.version=2", "fetch", "-q", clone_url,
                 f"+refs/heads/{branch}:refs/heads/{branch}"],
                behind,
                env,
            )
        )  # fmt: skip
        shutil.rmtree(behind)
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
    return {
        "server": name,
        "clone": statistics.median(clones),
        "fetch": statistics.median(fetches),
        "push": statistics.median(pushes),
    }


def default_branch(repo: Path) -> str:
    out = subprocess.run(
        ["git", "symbolic-ref", "--short", "HEAD"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def make_behind(payload: Path, work: Path, env: dict[str, str], lag: int) -> None:
    """`behind.git`: the default branch `lag` commits short of the payload's, nothing else."""
    branch = default_branch(payload)
    behind = work / "behind.git"
    git("init", "-q", "--bare", str(behind), cwd=work, env=env)
    older = subprocess.run(
        ["git", "rev-parse", f"{branch}~{lag}"], cwd=payload, capture_output=True, text=True,
        check=True,
    ).stdout.strip()  # fmt: skip
    upload = "--upload-pack=git -c uploadpack.allowAnySHA1InWant=true upload-pack"
    git("fetch", "-q", upload, str(payload), f"{older}:refs/heads/{branch}", cwd=behind, env=env)
    git("symbolic-ref", "HEAD", f"refs/heads/{branch}", cwd=behind, env=env)


def generate(repo: Path, commits: int, env: dict[str, str], *, topic: int = 0) -> None:
    """Write a linear `main` of `commits` small commits with `git fast-import`.

    With `topic`, a branch `topic` of that many commits adding new files leaves `main` 10% of
    the history before its tip, so the merge is clean but needs a real merge base.
    """
    stamp = 1_700_000_000
    parts: list[str] = []

    def commit(ref: str, mark: int, path: str, parent: int | None) -> None:
        message, content = f"commit {mark}\n", f"line {mark}\n"
        parts.extend([f"commit {ref}", f"mark :{mark}",
                      f"committer Bench <bench@example.com> {stamp + mark} +0000",
                      f"data {len(message)}", message.rstrip("\n")])  # fmt: skip
        if parent is not None:
            parts.append(f"from :{parent}")
        parts.extend([f"M 100644 inline {path}", f"data {len(content)}", content])

    for mark in range(1, commits + 1):
        commit("refs/heads/main", mark, f"src/f{mark % 100:02d}.txt", None)
    for step in range(topic):
        fork = commits - commits // 10 if step == 0 else None
        commit("refs/heads/topic", commits + 1 + step, f"feature/g{step}.txt", fork)
    git("init", "-q", "--bare", "--initial-branch=main", str(repo), cwd=repo.parent, env=env)
    subprocess.run(
        ["git", "fast-import", "--quiet"],
        cwd=repo,
        env=env,
        input="\n".join(parts).encode() + b"\n",
        check=True,
        capture_output=True,
    )


def push_history(
    devflow: Devflow, served: Path, work: Path, runs: int, commits: int, env: dict[str, str]
) -> dict[str, Any]:
    """Push a generated linear history into new empty repositories, servers in turn."""
    linear = work / "linear.git"
    generate(linear, commits, env)
    times: dict[str, list[float]] = {"devflow": [], "backend": []}
    for run in range(runs):
        url = devflow.new_repo(f"linear-{run}")
        push = ["push", "-q", url, "refs/heads/main:refs/heads/main"]
        times["devflow"].append(timed(["git", *devflow.git_options(), *push], linear, env))
        git("init", "-q", "--bare", str(served / f"linear-{run}.git"), cwd=work, env=env)
        push[2] = f"{devflow.backend}/linear-{run}.git"
        times["backend"].append(timed(["git", *push], linear, env))
    return {key: statistics.median(values) for key, values in times.items()}


def concurrent(
    urls: dict[str, tuple[str, list[str]]], work: Path, clients: int, env: dict[str, str]
) -> dict[str, dict[str, float]]:
    """`clients` clones at once of each server in turn: wall time, median and p95 of one."""
    out = {}
    for key, (url, options) in urls.items():
        targets = [work / f"many-{key}-{i}.git" for i in range(clients)]
        commands = [clone_args(options, url, target) for target in targets]
        began = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            times = list(pool.map(lambda command: timed(command, work, env), commands))
        wall = time.perf_counter() - began
        for target in targets:
            shutil.rmtree(target)
        out[key] = {"wall": wall, "median": statistics.median(times), "p95": p95(times)}
    return out


def mergeability(
    devflow: Devflow, work: Path, runs: int, history: int, env: dict[str, str]
) -> dict[str, Any]:
    """Open `runs` pull requests (same pair, one head branch each) and time mergeability.

    Each is a new pull request, so DevFlow runs merge-tree for each; one first is not counted
    (the server's first pull request pays for warming up).
    """
    repo = work / "history.git"
    generate(repo, history, env, topic=3)
    for run in range(runs + 1):  # topic-0 opens a first pull request, not counted
        git("branch", f"topic-{run}", "topic", cwd=repo, env=env)
    url = devflow.new_repo("history")
    git(*devflow.git_options(), "push", "-q", url, "refs/heads/*:refs/heads/*", cwd=repo, env=env)
    times: dict[str, list[float]] = {"create": [], "show": [], "merge_tree": []}
    statuses = set()
    pulls = "/api/v1/projects/default/repos/history/pulls"
    with devflow.api() as api:
        served = devflow.home / "repos" / f"{api.get(pulls[:-6]).json()['id']}.git"
        for run in range(runs + 1):
            began = time.perf_counter()
            answer = api.post(pulls, json={"head": f"topic-{run}", "base": "main", "title": "t"})
            times["create"].append(time.perf_counter() - began)
            answer.raise_for_status()
            statuses.add(str(answer.json().get("merge_status")))
            began = time.perf_counter()
            api.get(f"{pulls}/{answer.json()['number']}").raise_for_status()
            times["show"].append(time.perf_counter() - began)
            times["merge_tree"].append(
                timed(["git", "merge-tree", "--write-tree", "--name-only", "--no-messages", "-z",
                       "main", f"topic-{run}"], served, env)
            )  # fmt: skip
    result: dict[str, Any] = {key: statistics.median(values[1:]) for key, values in times.items()}
    result["status"] = ", ".join(sorted(statuses))
    return result


# -- the report --------------------------------------------------------------------------------


def verdict(ratio: float) -> str:
    return "**PASS**" if ratio <= TARGET else "**FAIL**"


def report(args: argparse.Namespace, results: dict[str, Any]) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M")
    cores = psutil.cpu_count() or 0
    ram = psutil.virtual_memory().total / 2**30
    lines = [
        f"## Git hosting: clone, fetch, push, concurrent clones, mergeability — {when} UTC",
        "",
        f"- Command: `{' '.join(['python', 'bench/git.py', *sys.argv[1:]])}`",
        (
            f"- Machine: {platform.node()}, {cores} cores, {ram:.1f} GiB RAM; Python "
            f"{sys.version.split()[0]}; {results['git']}; revision {revision()}"
        ),
        (
            f"- Load average (1/5/15 min) when the run began: {results['load']}; "
            f"when it ended: {results['load_end']}"
        ),
        f"- Payload: {results.get('payload', 'not used')}",
        "",
    ]
    targets: list[str] = []
    if "rows" in results:
        lines += transfer_lines(results, targets)
    if "history" in results:
        lines += history_lines(args, results["history"])
    if "concurrent" in results:
        lines += concurrent_lines(args, results["concurrent"], targets)
    if "merge" in results:
        lines += merge_lines(args, results["merge"])
    if targets:
        lines += ["### Targets", "", "| target | DevFlow / anchor | verdict |", "|---|---:|---|"]
        lines += [*targets, ""]
    return "\n".join(lines)


def history_lines(args: argparse.Namespace, h: dict[str, float]) -> list[str]:
    return [
        (
            f"### Push of {args.commits:,} commits (a generated linear history) into an empty "
            f"repository (median of {args.runs})"
        ),
        "",
        "| server | push (s) | ratio |",
        "|---|---:|---:|",
        f"| DevFlow Smart HTTP | {h['devflow']:.2f} | {h['devflow'] / h['backend']:.2f} |",
        f"| {ANCHOR} | {h['backend']:.2f} | 1.00 |",
        "",
    ]


def concurrent_lines(
    args: argparse.Namespace, c: dict[str, dict[str, float]], targets: list[str]
) -> list[str]:
    d, b = c["devflow"], c["backend"]
    targets.append(
        f"| {args.clients} concurrent clones, wall (≤ {TARGET}) | "
        f"{d['wall'] / b['wall']:.2f} | {verdict(d['wall'] / b['wall'])} |"
    )
    return [
        f"### {args.clients} concurrent `git clone --bare` of the payload",
        "",
        "| server | wall, all (s) | median clone (s) | p95 clone (s) | wall ratio | p95 ratio |",
        "|---|---:|---:|---:|---:|---:|",
        (
            f"| DevFlow Smart HTTP | {d['wall']:.2f} | {d['median']:.2f} | {d['p95']:.2f} | "
            f"{d['wall'] / b['wall']:.2f} | {d['p95'] / b['p95']:.2f} |"
        ),
        f"| {ANCHOR} | {b['wall']:.2f} | {b['median']:.2f} | {b['p95']:.2f} | 1.00 | 1.00 |",
        "",
    ]


def merge_lines(args: argparse.Namespace, m: dict[str, Any]) -> list[str]:
    return [
        (
            f"### Mergeability of a pull request on a {args.history:,}-commit base (median of "
            f"{args.runs}; head: 3 commits leaving the base {args.history // 10:,} commits "
            f"ago; DevFlow's answer: {m['status']})"
        ),
        "",
        "| what | time (ms) |",
        "|---|---:|",
        f"| DevFlow `POST .../pulls` (opens it, runs merge-tree) | {m['create'] * 1000:.0f} |",
        f"| DevFlow `GET .../pulls/{{n}}` (pair already checked) | {m['show'] * 1000:.0f} |",
        f"| `git merge-tree --write-tree` on the same repository | {m['merge_tree'] * 1000:.0f} |",
        "",
        f"DevFlow's open / plain merge-tree: {m['create'] / m['merge_tree']:.2f}.",
        "",
    ]


def transfer_lines(results: dict[str, Any], targets: list[str]) -> list[str]:
    rows = results["rows"]
    anchor = next(r for r in rows if r["server"] == ANCHOR)
    lines = [
        (
            f"### Clone, fetch ({results['lag']} commits behind) and push of the payload "
            f"(median of {results['runs']})"
        ),
        "",
        (
            "| server | clone --bare (s) | fetch (s) | push all refs (s) | clone ratio | "
            "fetch ratio | push ratio |"
        ),
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    lines.extend(
        f"| {row['server']} | {row['clone']:.2f} | {row['fetch']:.2f} | {row['push']:.2f} | "
        f"{row['clone'] / anchor['clone']:.2f} | {row['fetch'] / anchor['fetch']:.2f} | "
        f"{row['push'] / anchor['push']:.2f} |"
        for row in rows
    )
    lines += [
        "",
        (
            f"Ratios are against {ANCHOR}. DevFlow's server CPU during its runs (server, worker, "
            f"PostgreSQL): {results['devflow_cpu']:.1f} s."
        ),
        "",
    ]
    devflow = rows[0]
    for what in ("clone", "fetch"):
        ratio = devflow[what] / anchor[what]
        targets.append(f"| {what} (≤ {TARGET}) | {ratio:.2f} | {verdict(ratio)} |")
    return lines


# -- the run -----------------------------------------------------------------------------------


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=REPO_ROOT)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--commits", type=int, default=1000, help="commits in the pushed history")
    parser.add_argument("--clients", type=int, default=20, help="concurrent clones")
    parser.add_argument("--history", type=int, default=10000, help="commits under the PR's base")
    parser.add_argument("--lag", type=int, default=20, help="commits the fetching copy lacks")
    for part in ("transfer", "push-history", "concurrent", "merge"):
        parser.add_argument(f"--skip-{part}", action="store_true")
    parser.add_argument("--no-record", action="store_true")
    return parser.parse_args()


def prepare_payload(args: argparse.Namespace, work: Path, env: dict[str, str]) -> Path:
    payload = work / "payload.git"
    # --no-local: a local clone hard-links the source's objects, loose ones included, and the
    # anchors would serve those while DevFlow serves the one pack its push received.
    git("clone", "-q", "--mirror", "--no-local", str(args.source), str(payload), cwd=work, env=env)
    return payload


def describe(args: argparse.Namespace, payload: Path) -> str:
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
    return (
        f"a mirror of {args.source.name} ({commits} commits, {refs} "
        f"ref{'s' if refs != 1 else ''}, {size / 2**20:.1f} MiB packed)"
    )


def transfer(
    args: argparse.Namespace,
    stack: ExitStack,
    devflow: Devflow,
    payload: Path,
    work: Path,
    env: dict[str, str],
    results: dict[str, Any],
) -> None:
    served = devflow.served
    commits = int(
        subprocess.run(["git", "rev-list", "--count", "HEAD"], cwd=payload, capture_output=True,
                       text=True, check=True).stdout
    )  # fmt: skip
    results["lag"] = min(args.lag, commits - 1)
    results["runs"] = args.runs
    make_behind(payload, work, env, results["lag"])
    daemon = git_daemon(stack, work, served)
    cpu_before = tree_cpu(devflow.pid)
    rows = [
        measure(
            "DevFlow Smart HTTP",
            devflow.payload_url,
            lambda run: devflow.new_repo(f"push-{run}"),
            devflow.git_options(),
            work,
            args.runs,
            payload,
            env,
        )
    ]
    results["devflow_cpu"] = tree_cpu(devflow.pid) - cpu_before
    for name, base in ((ANCHOR, devflow.backend), ("git daemon (git://)", daemon)):
        for run in range(args.runs):  # fresh empty targets for each server
            shutil.rmtree(served / f"push-{run}.git", ignore_errors=True)
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


def main() -> None:
    args = parse()
    work = Path(tempfile.mkdtemp(prefix="devflow-bench-git-"))
    env = git_env(work)
    results: dict[str, Any] = {
        "load": " / ".join(f"{x:.2f}" for x in os.getloadavg()),
        "git": subprocess.run(
            ["git", "--version"], capture_output=True, text=True, check=False
        ).stdout.strip(),
    }
    try:
        payload = prepare_payload(args, work, env)
        results["payload"] = describe(args, payload)
        served = work / "served"
        served.mkdir()
        shutil.copytree(payload, served / "payload.git")
        with ExitStack() as stack:
            devflow = Devflow(stack, work)
            devflow.served = served
            devflow.backend = stack.enter_context(http_backend(served))
            devflow.payload_url = devflow.new_repo("payload")
            everything = ("refs/heads/*:refs/heads/*", "refs/tags/*:refs/tags/*")
            git(*devflow.git_options(), "push", "-q", devflow.payload_url, *everything,
                cwd=payload, env=env)  # fmt: skip
            if not args.skip_transfer:
                transfer(args, stack, devflow, payload, work, env, results)
            if not args.skip_push_history:
                results["history"] = push_history(
                    devflow, served, work, args.runs, args.commits, env
                )
            if not args.skip_concurrent:
                results["concurrent"] = concurrent(
                    {
                        "devflow": (devflow.payload_url, devflow.git_options()),
                        "backend": (f"{devflow.backend}/payload.git", []),
                    },
                    work,
                    args.clients,
                    env,
                )
            if not args.skip_merge:
                results["merge"] = mergeability(devflow, work, args.runs, args.history, env)
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
