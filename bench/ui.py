"""Dashboard benchmark: what the first page costs to load, Lighthouse, and live updates.

    python bench/ui.py [--events 50] [--lighthouse-runs 3] [--presets mobile,desktop]
                       [--no-lighthouse] [--no-record]

Against a real `devflow up` on a fresh temporary DEVFLOW_HOME (embedded PostgreSQL, the small
test embedder), serving the build of `make ui`, seeded with a knowledge source (this
repository's docs/, uploaded with `devflow knowledge add`), an npm repository with three
published packages and an empty PyPI repository, so that the pages show lists rather than
empty states:

1. Initial JavaScript + CSS: what the browser loads for the first page, read from the served
   index.html: its module script, stylesheet and modulepreload links (Vite's static imports
   of the entry), not the lazy chunks. Each is fetched from the server and gzipped at level 9;
   the sum is judged. Also listed: every chunk of the build (lazy ones included), and the bytes
   the server actually sends when the browser offers gzip and br.
2. Lighthouse (npm `lighthouse`, pinned in bench/lighthouse/, `npm ci` there when its
   node_modules is missing or stale; run with Debian's chromium through CHROME_PATH, headless,
   no browser download) on the overview, knowledge and registry pages, signed in: the
   session cookie comes from `POST /api/v1/session` with the admin token and is passed with
   `--extra-headers`. Performance and accessibility, the median of `--lighthouse-runs` runs per
   page and preset (Lighthouse's default mobile emulation with simulated throttling, and its
   desktop preset). A run whose `GET /api/v1/session` did not answer 200 (not signed in) fails
   the benchmark.
3. Live updates: chromium (Playwright from ui/node_modules, bench/ui_events.mjs) holds the
   signed-in Overview open; this script writes `--events` events into the database as the app
   does (`core.events.emit`: the row and `pg_notify` in one transaction, then COMMIT), one at a
   time with a short random pause, and the page notes when each one's line appears in Recent
   activity (a MutationObserver, installed before the app's scripts) and at the next animation
   frame. The page's clock is compared with this process's (both the machine's wall clock) by
   round trips before and after; latencies run from the start of the write's transaction.

Targets (issue 15): initial JS + CSS gzipped under 200 KB (the product documents allow 500 KB);
Lighthouse performance and accessibility 95+ on each page; an event on an open page within
1 s at p95 (the documents ask 5 s). kB here are 1,000 bytes, as Vite prints them.

Figures are printed and, unless --no-record, appended as a dated section to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import psycopg

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(BENCH_DIR))

from tests.registry_fixtures import npm_document  # noqa: E402

from devflow.core.embedded_pg import free_port  # noqa: E402
from devflow.core.events import CHANNEL  # noqa: E402
from devflow.core.http import SESSION_COOKIE  # noqa: E402
from platform_bench import describe_machine, git_revision  # noqa: E402

RESULTS = BENCH_DIR / "RESULTS.md"
DIST = REPO_ROOT / "src" / "devflow" / "web" / "ui_dist"
LIGHTHOUSE_DIR = BENCH_DIR / "lighthouse"
LIGHTHOUSE = LIGHTHOUSE_DIR / "node_modules" / ".bin" / "lighthouse"
EVENTS_SCRIPT = BENCH_DIR / "ui_events.mjs"
PLAYWRIGHT_CORE = REPO_ROOT / "ui" / "node_modules" / "playwright-core"
CHROMIUM = os.environ.get("DEVFLOW_E2E_CHROMIUM", "/usr/bin/chromium")

PAGES = {"overview": "/", "knowledge": "/knowledge", "registry": "/registry"}
INITIAL_TARGET_KB = 200.0
INITIAL_DOCUMENTS_KB = 500.0
SCORE_TARGET = 95
EVENT_TARGET_S = 1.0
EVENT_DOCUMENTS_S = 5.0
EVENT_MARK = "bench.ping."
CLOCK_SAMPLES = 15
WARMUP_EVENTS = 3
START_TIMEOUT_S = 120.0


# -- the server --------------------------------------------------------------------------------


@dataclass
class Server:
    """A running `devflow up` and what the benchmark needs from it."""

    url: str
    home: Path
    env: dict[str, str]

    @property
    def token(self) -> str:
        return str(json.loads((self.home / "credentials").read_text())["token"])

    @property
    def database_url(self) -> str:
        pg = json.loads((self.home / "pg.json").read_text())
        return f"postgresql://devflow:{pg['password']}@127.0.0.1:{pg['port']}/devflow"

    def cli(self, *args: str) -> str:
        """Run the `devflow` CLI against this server; return what it printed."""
        done = subprocess.run(
            [sys.executable, "-m", "devflow", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"devflow {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
        return done.stdout


@contextmanager
def devflow_up(work: Path) -> Iterator[Server]:
    """Start `devflow up` on a free port with a fresh home; stop it with SIGINT afterwards."""
    home = work / "home"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEVFLOW_")}
    env.update(
        {
            "DEVFLOW_HOME": str(home),
            "DEVFLOW_LOG__FORMAT": "json",
            "DEVFLOW_LOG__ACCESS_LOG": "false",
            # Small, deterministic embeddings (as the browser tests use): the seeded source
            # is ready in seconds, and no model competes with the browser for the cores.
            "DEVFLOW_KNOWLEDGE__EMBEDDER": "python:tests.knowledge_site.embedder:make_small",
            "PYTHONPATH": str(REPO_ROOT),
        }
    )
    server = Server(url=f"http://127.0.0.1:{port}", home=home, env=env)
    log = (work / "devflow.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "devflow", "up", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=work,  # no stray `.env` from the caller's working directory
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not ready(server.url):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"devflow up did not start; see {work / 'devflow.log'}")
            time.sleep(0.1)
        yield server
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()


def ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/ready", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def seed(server: Server) -> str:
    """Give the pages something to list; return what was added, in words."""
    server.cli("knowledge", "add", str(REPO_ROOT / "docs"), "--name", "devflow-docs")
    headers = {"Authorization": f"Bearer {server.token}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=60) as client:
        for name, fmt in (("js", "npm"), ("py", "pypi")):
            created = client.post(
                "/api/v1/registry/repositories",
                json={"name": name, "format": fmt, "visibility": "private"},
            )
            created.raise_for_status()
        packages = ["left-pad-bench", "right-pad-bench", "center-bench"]
        for package in packages:
            answer = client.put(f"/npm/js/{package}", json=npm_document(package, "1.0.0"))
            answer.raise_for_status()
    files = sum(1 for p in (REPO_ROOT / "docs").rglob("*") if p.is_file())
    return (
        f"a knowledge source of this repository's docs/ ({files} files, `devflow knowledge "
        f"add`), an npm repository with {len(packages)} published packages, an empty PyPI "
        "repository"
    )


def sign_in(server: Server) -> str:
    """Open a dashboard session with the admin token, as pasting it does; return the cookie."""
    answer = httpx.post(
        f"{server.url}/api/v1/session",
        json={"token": server.token},
        headers={"X-DevFlow-Request": "1"},
        timeout=30,
    )
    answer.raise_for_status()
    return answer.cookies[SESSION_COOKIE]


# -- 1. what the first page loads --------------------------------------------------------------


class _Initial(HTMLParser):
    """The files index.html makes the browser load before the app runs."""

    def __init__(self) -> None:
        super().__init__()
        self.files: list[tuple[str, str]] = []  # (kind, path)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        rel = (found.get("rel") or "").lower()
        if tag == "script" and found.get("src"):
            self.files.append(("script", found["src"] or ""))
        elif tag == "link" and rel in {"stylesheet", "modulepreload"} and found.get("href"):
            self.files.append((rel, found["href"] or ""))


def gzip9(data: bytes) -> int:
    return len(gzip.compress(data, compresslevel=9, mtime=0))


def measure_initial(server: Server) -> dict[str, Any]:
    """Sizes of the first page's JS and CSS, and of every chunk of the build."""
    with httpx.Client(base_url=server.url, timeout=30) as client:
        index = client.get("/", headers={"Accept": "text/html"})
        index.raise_for_status()
        parser = _Initial()
        parser.feed(index.text)
        files = []
        for kind, path in parser.files:
            plain = client.get(path, headers={"Accept-Encoding": "identity"})
            plain.raise_for_status()
            offered = client.get(path, headers={"Accept-Encoding": "gzip, br"})
            offered.raise_for_status()
            files.append(
                {
                    "kind": kind,
                    "path": path,
                    "raw": len(plain.content),
                    "gzip": gzip9(plain.content),
                    "served": offered.num_bytes_downloaded,
                    "encoding": offered.headers.get("content-encoding", "none"),
                }
            )
    initial = {Path(f["path"]).name for f in files}
    chunks = sorted(p for p in (DIST / "assets").iterdir() if p.suffix in {".js", ".css"})
    lazy = [p for p in chunks if p.name not in initial]
    return {
        "files": files,
        "index_raw": len(index.content),
        "index_gzip": gzip9(index.content),
        "chunks": len(chunks),
        "chunks_raw": sum(p.stat().st_size for p in chunks),
        "chunks_gzip": sum(gzip9(p.read_bytes()) for p in chunks),
        "lazy": len(lazy),
        "lazy_gzip": sum(gzip9(p.read_bytes()) for p in lazy),
    }


# -- 2. Lighthouse -----------------------------------------------------------------------------


def install_lighthouse() -> str:
    """`npm ci` in bench/lighthouse when its install is missing or older than the lockfile;
    return Lighthouse's version."""
    marker = LIGHTHOUSE_DIR / "node_modules" / ".package-lock.json"
    lock = LIGHTHOUSE_DIR / "package-lock.json"
    if not marker.exists() or marker.stat().st_mtime < lock.stat().st_mtime:
        env = {**os.environ, "PUPPETEER_SKIP_DOWNLOAD": "1"}
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"], cwd=LIGHTHOUSE_DIR, env=env, check=True
        )
    done = subprocess.run(
        [str(LIGHTHOUSE), "--version"], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def lighthouse_once(
    url: str, preset: str, headers_file: Path, out: Path, env: dict[str, str]
) -> dict[str, Any]:
    """Run Lighthouse once on `url`; return its scores and metrics."""
    flags = "--headless=new --disable-dev-shm-usage"
    if os.geteuid() == 0:
        flags += " --no-sandbox"  # chromium refuses its sandbox to root
    args = [
        str(LIGHTHOUSE),
        url,
        "--quiet",
        "--output=json",
        f"--output-path={out}",
        "--only-categories=performance,accessibility",
        f"--extra-headers={headers_file}",
        f"--chrome-flags={flags}",
    ]
    if preset == "desktop":
        args.append("--preset=desktop")
    subprocess.run(args, env=env, check=True, capture_output=True, timeout=300)
    lhr = json.loads(out.read_text())
    if lhr.get("runtimeError"):
        raise RuntimeError(f"Lighthouse on {url}: {lhr['runtimeError']}")
    requests = lhr["audits"]["network-requests"]["details"]["items"]
    session = [r for r in requests if r["url"].endswith("/api/v1/session")]
    if not session or any(r.get("statusCode") != 200 for r in session):
        raise RuntimeError(f"Lighthouse on {url} was not signed in: {session}")
    audits = lhr["audits"]
    accessibility = lhr["categories"]["accessibility"]
    return {
        "performance": round(lhr["categories"]["performance"]["score"] * 100),
        "accessibility": round(accessibility["score"] * 100),
        "fcp_ms": audits["first-contentful-paint"]["numericValue"],
        "lcp_ms": audits["largest-contentful-paint"]["numericValue"],
        "tbt_ms": audits["total-blocking-time"]["numericValue"],
        "cls": audits["cumulative-layout-shift"]["numericValue"],
        "si_ms": audits["speed-index"]["numericValue"],
        "benchmark_index": lhr["environment"].get("benchmarkIndex"),
        "failed_accessibility": sorted(
            ref["id"]
            for ref in accessibility["auditRefs"]
            if ref.get("weight", 0) > 0 and audits[ref["id"]]["score"] not in {None, 1}
        ),
        "opportunities": sorted(
            a["id"]
            for a in audits.values()
            if a.get("details", {}).get("type") == "opportunity"
            and a.get("score") is not None
            and a["score"] < 1
        ),
        "warnings": lhr.get("runWarnings", []),
    }


def run_lighthouse(
    server: Server, cookie: str, work: Path, presets: list[str], runs: int
) -> list[dict[str, Any]]:
    """Lighthouse on each page and preset, `runs` times; the medians and the runs."""
    headers_file = work / "lighthouse-headers.json"  # the cookie stays off the command line
    headers_file.write_text(json.dumps({"Cookie": f"{SESSION_COOKIE}={cookie}"}))
    headers_file.chmod(0o600)
    env = {**os.environ, "CHROME_PATH": CHROMIUM, "PUPPETEER_SKIP_DOWNLOAD": "1"}
    results = []
    for preset in presets:
        for page, path in PAGES.items():
            found = []
            for run in range(runs):
                out = work / f"lighthouse-{page}-{preset}-{run}.json"
                found.append(lighthouse_once(server.url + path, preset, headers_file, out, env))
                print(
                    f"lighthouse {page} {preset} #{run + 1}: performance "
                    f"{found[-1]['performance']}, accessibility {found[-1]['accessibility']}",
                    flush=True,
                )
            results.append({"page": page, "path": path, "preset": preset, "runs": found})
    return results


# -- 3. an event written to the database, seen on an open page ----------------------------------


class Browser:
    """bench/ui_events.mjs: chromium with the signed-in Overview open, spoken to in lines."""

    def __init__(self, server: Server, cookie: str, log: Path) -> None:
        env = {
            **os.environ,
            "BENCH_URL": server.url,
            "BENCH_COOKIE": cookie,
            "BENCH_CHROMIUM": CHROMIUM,
            "BENCH_MARK": EVENT_MARK,
            "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1",
        }
        self._log = log.open("wb")
        self.proc = subprocess.Popen(
            ["node", str(EVENTS_SCRIPT)],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        if self._read().get("ready") is not True:
            raise RuntimeError(f"the page did not become ready; see {log}")

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None  # noqa: S101 - a pipe, see __init__
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"bench/ui_events.mjs ended early; see {self._log.name}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def ask(self, command: str) -> dict[str, Any]:
        assert self.proc.stdin is not None  # noqa: S101 - a pipe, see __init__
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self._read()

    def clock_offset(self) -> tuple[float, float]:
        """Return the page's clock minus ours (s) from the tightest of several round trips,
        and half that round trip (the bound on the estimate)."""
        best: tuple[float, float] | None = None
        for _ in range(CLOCK_SAMPLES):
            before = time.time()
            page = self.ask("clock")["clock"] / 1000
            after = time.time()
            if best is None or (after - before) / 2 < best[1]:
                best = (page - (before + after) / 2, (after - before) / 2)
        assert best is not None  # noqa: S101 - CLOCK_SAMPLES > 0
        return best

    def close(self) -> None:
        with suppress(OSError, ValueError):
            self.ask_quit()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()

    def ask_quit(self) -> None:
        assert self.proc.stdin is not None  # noqa: S101 - a pipe, see __init__
        self.proc.stdin.write("quit\n")
        self.proc.stdin.close()


def write_event(conn: psycopg.Connection[Any], n: int) -> tuple[float, float]:
    """Write event `n` as `core.events.emit` does in the app's transactions; return when the
    transaction began and when its COMMIT returned (time.time())."""
    began = time.time()
    with conn.transaction():
        row = conn.execute(
            "INSERT INTO event (created_at, type, project_id, actor_id, payload) "
            "VALUES (now(), %s, NULL, NULL, %s) RETURNING id",
            (f"{EVENT_MARK}{n}", json.dumps({"bench": "ui", "n": n})),
        ).fetchone()
        assert row is not None  # noqa: S101 - INSERT … RETURNING
        conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, str(row[0])))
    return began, time.time()


def measure_events(server: Server, cookie: str, work: Path, count: int) -> dict[str, Any]:
    """Write `count` events (after a few not counted) and time each one's way into the page."""
    browser = Browser(server, cookie, work / "ui_events.log")
    rng = random.Random(15)
    samples: list[dict[str, float]] = []
    timeouts = 0
    try:
        offset_before, bound_before = browser.clock_offset()
        with psycopg.connect(server.database_url) as conn:
            for n in range(1, WARMUP_EVENTS + count + 1):
                began, committed = write_event(conn, n)
                seen = browser.ask(f"wait {n}")
                if seen.get("timeout"):
                    timeouts += 1
                elif n > WARMUP_EVENTS:
                    samples.append(
                        {"began": began, "committed": committed, "dom": seen["dom"] / 1000}
                        | {"frame": seen["frame"] / 1000}
                    )
                time.sleep(rng.uniform(0.1, 0.3))
        offset_after, bound_after = browser.clock_offset()
    finally:
        browser.close()
    offset = (offset_before + offset_after) / 2
    return {
        "count": count,
        "timeouts": timeouts,
        "offset_ms": offset * 1000,
        "offset_bound_ms": max(bound_before, bound_after) * 1000,
        "offset_drift_ms": (offset_after - offset_before) * 1000,
        "write": [s["committed"] - s["began"] for s in samples],
        "dom": [s["dom"] - offset - s["began"] for s in samples],
        "frame": [s["frame"] - offset - s["began"] for s in samples],
        "after_commit": [s["dom"] - offset - s["committed"] for s in samples],
    }


# -- the report ---------------------------------------------------------------------------------


def percentile(values: list[float], pct: float) -> float:
    """Return the `pct` percentile of `values` (nearest rank)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))]


def kb(size: float) -> str:
    return f"{size / 1000:,.1f} kB"


def verdict(ok: bool) -> str:
    return "**PASS**" if ok else "**FAIL**"


def loadavg() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def tool_versions() -> str:
    node = subprocess.run(["node", "--version"], capture_output=True, text=True, check=False)
    chromium = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True, check=False)
    return f"Node {node.stdout.strip()}; {chromium.stdout.strip() or 'chromium: unknown'}"


def initial_section(sizes: dict[str, Any]) -> list[str]:
    lines = [
        "### Initial JavaScript + CSS: index.html's script, stylesheet and modulepreloads",
        "",
        "| file | loaded by | raw | gzip -9 | sent by the server (offered gzip, br) |",
        "|---|---|---:|---:|---:|",
    ]
    files = sizes["files"]
    lines += [
        (
            f"| `{f['path']}` | {f['kind']} | {kb(f['raw'])} | {kb(f['gzip'])} | "
            f"{kb(f['served'])} ({f['encoding']}) |"
        )
        for f in files
    ]
    lines += [
        (
            f"| **initial JS + CSS** | | {kb(sum(f['raw'] for f in files))} | "
            f"**{kb(sum(f['gzip'] for f in files))}** | {kb(sum(f['served'] for f in files))} |"
        ),
        "",
        (
            f"index.html itself: {kb(sizes['index_raw'])} ({kb(sizes['index_gzip'])} gzipped). "
            f"Every chunk of the build: {sizes['chunks']} files, {kb(sizes['chunks_raw'])} raw, "
            f"{kb(sizes['chunks_gzip'])} gzipped; of these {sizes['lazy']} lazy "
            f"({kb(sizes['lazy_gzip'])} gzipped), loaded when a page needs them."
        ),
        "",
    ]
    return lines


def lighthouse_section(version: str, results: list[dict[str, Any]], runs: int) -> list[str]:
    lines = [
        f"### Lighthouse {version}, signed in (median of {runs} run(s) per page and preset)",
        "",
        (
            "Headless chromium, simulated throttling (mobile: Lighthouse's default Moto G Power "
            "emulation, slow 4G, 4x CPU slowdown; desktop: its desktop preset)."
        ),
        "",
        "| page | preset | performance (runs) | accessibility | FCP | LCP | TBT | CLS | SI |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    failed: dict[str, set[str]] = {}
    opportunities: set[str] = set()
    warnings: set[str] = set()
    for r in results:
        found = r["runs"]

        def med(key: str, found: list[dict[str, Any]] = found) -> float:
            return float(statistics.median(x[key] for x in found))

        scores = ", ".join(str(x["performance"]) for x in found)
        lines.append(
            f"| {r['page']} (`{r['path']}`) | {r['preset']} | {med('performance'):.0f} "
            f"({scores}) | {med('accessibility'):.0f} | {med('fcp_ms') / 1000:.2f} s | "
            f"{med('lcp_ms') / 1000:.2f} s | {med('tbt_ms'):.0f} ms | {med('cls'):.3f} | "
            f"{med('si_ms') / 1000:.2f} s |"
        )
        for x in found:
            for audit in x["failed_accessibility"]:
                failed.setdefault(audit, set()).add(r["page"])
            opportunities.update(x["opportunities"])
            warnings.update(w.strip().rstrip(".") for w in x["warnings"])
    index = [x["benchmark_index"] for r in results for x in r["runs"] if x["benchmark_index"]]
    lines += [
        "",
        "Accessibility audits failed: "
        + (
            "; ".join(f"`{a}` ({', '.join(sorted(p))})" for a, p in sorted(failed.items()))
            or "none"
        )
        + ". Performance opportunities flagged: "
        + (", ".join(f"`{o}`" for o in sorted(opportunities)) or "none")
        + (f". Lighthouse's warnings: {'; '.join(sorted(warnings))}" if warnings else "")
        + (
            f". Lighthouse's CPU benchmark index: median {statistics.median(index):.0f} "
            f"(min {min(index):.0f})."
            if index
            else "."
        ),
        "",
    ]
    return lines


def events_section(events: dict[str, Any]) -> list[str]:
    def row(label: str, values: list[float]) -> str:
        return (
            f"| {label} | {percentile(values, 50) * 1000:.1f} ms | "
            f"{percentile(values, 95) * 1000:.1f} ms | {max(values) * 1000:.1f} ms |"
        )

    return [
        (
            f"### An event written to the database, on the open Overview "
            f"(n={len(events['dom'])}, after {WARMUP_EVENTS} not counted)"
        ),
        "",
        "| from → to | p50 | p95 | max |",
        "|---|---:|---:|---:|",
        row("write: BEGIN → INSERT + pg_notify → COMMIT returned", events["write"]),
        row("**write began → its line in the page's DOM**", events["dom"]),
        row("write began → the next animation frame (painted)", events["frame"]),
        row("COMMIT returned → its line in the DOM", events["after_commit"]),
        "",
        (
            f"Events one at a time, 0.1 to 0.3 s apart; {events['timeouts']} not seen within 30 s. "
            f"The page's clock minus the bench's: {events['offset_ms']:+.2f} ms (± "
            f"{events['offset_bound_ms']:.2f} ms, tightest of {CLOCK_SAMPLES} round trips, "
            f"before and after: drift {events['offset_drift_ms']:+.2f} ms); page times are "
            "converted by it."
        ),
        "",
    ]


def markdown(report: dict[str, Any]) -> str:
    machine = report["machine"]
    sizes, events, lighthouse = report["sizes"], report["events"], report["lighthouse"]
    lines = [
        (
            "## Dashboard: first load, Lighthouse, live updates — "
            f"{report['started']:%Y-%m-%d %H:%M} UTC"
        ),
        "",
        f"- Command: `{report['command']}`",
        (
            f"- Machine: {machine.cores} cores ({machine.cpu_model}), {machine.ram_gib:.1f} GiB "
            f"RAM; {machine.system}; Python {machine.python}; {report['tools']}"
        ),
        f"- Revision: {report['revision']}",
        (
            f"- Load average (1/5/15 min) when the run began (other work on the machine): "
            f"{report['load_begin']}; when it ended: {report['load_end']}"
        ),
        (
            "- Settings: `devflow up` on a fresh temporary DEVFLOW_HOME (embedded PostgreSQL, "
            "JSON logs, access log off, the small test embedder), the build of `make ui`; "
            f"seeded with {report['seeded']}"
        ),
        "",
        *initial_section(sizes),
    ]
    if lighthouse:
        lines += lighthouse_section(report["lighthouse_version"], lighthouse, report["runs"])
    lines += events_section(events)
    initial = sum(f["gzip"] for f in sizes["files"]) / 1000
    p95 = percentile(events["dom"], 95)
    lines += [
        "### Targets",
        "",
        "| target | measured | result |",
        "|---|---:|---|",
        (
            f"| initial JS + CSS gzipped < {INITIAL_TARGET_KB:.0f} kB (issue) | {initial:.1f} kB "
            f"| {verdict(initial < INITIAL_TARGET_KB)} |"
        ),
        (
            f"| initial JS + CSS gzipped < {INITIAL_DOCUMENTS_KB:.0f} kB (product documents) | "
            f"{initial:.1f} kB | {verdict(initial < INITIAL_DOCUMENTS_KB)} |"
        ),
    ]
    for r in lighthouse:
        for category in ("performance", "accessibility"):
            score = statistics.median(x[category] for x in r["runs"])
            lines.append(
                f"| Lighthouse {category} ≥ {SCORE_TARGET}, {r['page']}, {r['preset']} | "
                f"{score:.0f} | {verdict(score >= SCORE_TARGET)} |"
            )
    lines += [
        (
            f"| event on an open page, p95 < {EVENT_TARGET_S:.0f} s (issue) | "
            f"{p95 * 1000:.0f} ms | {verdict(p95 < EVENT_TARGET_S and not events['timeouts'])} |"
        ),
        (
            f"| event on an open page, p95 < {EVENT_DOCUMENTS_S:.0f} s (product documents) | "
            f"{p95 * 1000:.0f} ms | "
            f"{verdict(p95 < EVENT_DOCUMENTS_S and not events['timeouts'])} |"
        ),
        "",
    ]
    return "\n".join(lines)


# -- main ---------------------------------------------------------------------------------------


def missing() -> str | None:
    """What this machine lacks to run the benchmark, if anything."""
    if not (DIST / "index.html").exists():
        return "the dashboard is not built: run `make ui`"
    if not Path(CHROMIUM).exists():
        return f"no chromium at {CHROMIUM} (`make install-test` installs it)"
    if not PLAYWRIGHT_CORE.exists():
        return "ui/node_modules lacks Playwright: run `make ui`"
    if shutil.which("node") is None or shutil.which("npm") is None:
        return "Node.js 20 and npm are needed"
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--events", type=int, default=50, help="events timed into the page")
    parser.add_argument("--lighthouse-runs", type=int, default=3, help="runs per page, preset")
    parser.add_argument("--presets", default="mobile,desktop", help="Lighthouse presets")
    parser.add_argument("--no-lighthouse", action="store_true", help="skip Lighthouse")
    parser.add_argument("--no-record", action="store_true", help="do not append to RESULTS.md")
    args = parser.parse_args()
    reason = missing()
    if reason:
        sys.exit(f"bench/ui.py: {reason}")
    presets = [p.strip() for p in args.presets.split(",") if p.strip()]
    if set(presets) - {"mobile", "desktop"}:
        sys.exit("bench/ui.py: --presets takes mobile and/or desktop")
    started = datetime.now(UTC)
    load_begin = loadavg()
    version = "" if args.no_lighthouse else install_lighthouse()
    work = Path(tempfile.mkdtemp(prefix="devflow-bench-ui-"))
    work.chmod(0o755)  # as root, the PostgreSQL service user must reach the home inside
    try:
        with devflow_up(work) as server:
            print(f"devflow up on {server.url}; seeding…", flush=True)
            seeded = seed(server)
            cookie = sign_in(server)
            sizes = measure_initial(server)
            print(json.dumps(sizes, indent=1), flush=True)
            events = measure_events(server, cookie, work, args.events)
            print(f"event → DOM p95 {percentile(events['dom'], 95) * 1000:.1f} ms", flush=True)
            lighthouse = (
                []
                if args.no_lighthouse
                else run_lighthouse(server, cookie, work, presets, args.lighthouse_runs)
            )
    except BaseException:
        print(f"bench/ui.py failed; its logs are kept in {work}", file=sys.stderr)
        raise
    shutil.rmtree(work, ignore_errors=True)
    argv = [a for a in sys.argv[1:] if a != "--no-record"]
    section = markdown(
        {
            "started": started,
            "command": " ".join(["python bench/ui.py", *argv]),
            "machine": describe_machine(),
            "tools": tool_versions(),
            "revision": git_revision(),
            "load_begin": load_begin,
            "load_end": loadavg(),
            "seeded": seeded,
            "sizes": sizes,
            "events": events,
            "lighthouse": lighthouse,
            "lighthouse_version": version,
            "runs": args.lighthouse_runs,
        }
    )
    print(section)
    if not args.no_record:
        with RESULTS.open("a", encoding="utf-8") as out:
            out.write("\n" + section)


if __name__ == "__main__":
    main()
