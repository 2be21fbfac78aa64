"""Benchmark: ingesting a real documentation site, with embedding after the fetch or during it.

Python's own HTML documentation (Debian's `python3-doc`, /usr/share/doc/python3/html: 364 pages
reached by the default crawl, about 9,100 chunks) is served on 127.0.0.1 by `python -m
http.server`, and crawled with the default settings (500 pages, depth 3, 4 requests at once,
0.1 s apart) by a stack as a user runs it (embedded PostgreSQL, `devflow serve`, `devflow
worker`, the built-in local embedder), once per mode, each on a fresh data directory:

- `after`: `DEVFLOW_KNOWLEDGE__EMBED_DURING_FETCH=false`, embedding starts when the fetch ends;
- `during`: the default, full batches embedded while pages are still being fetched.

Measured from the source's creation to its `ready`: the whole time, the fetch phase, the embed
phase (from the job's own phase start), and how many chunks had their vectors when the fetch ended.

    python bench/ingest_docs.py [--docs DIR] [--rounds 1] [--no-record]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from knowledge import free_port, stack

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "RESULTS.md"
DOCS = Path("/usr/share/doc/python3/html")
MODES = {"after": "false", "during": "true"}


@dataclass
class Ingestion:
    mode: str
    seconds: float
    fetch_seconds: float
    embed_seconds: float
    pages: int
    chunks: int
    embedded_while_fetching: int
    status: str


def serve_docs(docs: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=docs,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/"
    for _ in range(100):
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return server, url
        except httpx.TransportError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit(f"python -m http.server did not start for {docs}")


def ingest(docs_url: str, mode: str) -> Ingestion:
    """Crawl the docs on a fresh stack whose worker embeds `mode` the fetch."""
    with stack() as running:
        running.env["DEVFLOW_KNOWLEDGE__EMBED_DURING_FETCH"] = MODES[mode]
        running.start_server()
        running.start_worker()
        api = running.client()
        started = time.perf_counter()
        created = api.post(
            "/api/v1/knowledge/sources",
            json={"location": docs_url, "name": "python-docs", "settings": {"allow_private": True}},
        )
        created.raise_for_status()
        sid = created.json()["id"]
        fetch_end: float | None = None
        at_fetch_end = 0
        last_job: dict[str, Any] = {}
        while True:
            source = api.get(f"/api/v1/knowledge/sources/{sid}").json()
            if source["job_id"] is not None:
                last_job = api.get(f"/api/v1/jobs/{source['job_id']}").json()
                if fetch_end is None and last_job.get("phase") == "embed":
                    fetch_end = time.perf_counter()
                    at_fetch_end = int((last_job.get("counts") or {}).get("embedded", 0))
            if source["status"] in {"ready", "partial", "failed"}:
                break
            time.sleep(0.25)
        seconds = time.perf_counter() - started
        api.close()
    fetch_seconds = (fetch_end or started + seconds) - started
    return Ingestion(
        mode=mode,
        seconds=seconds,
        fetch_seconds=fetch_seconds,
        embed_seconds=seconds - fetch_seconds,
        pages=int(source["fetched"]),
        chunks=int(source["chunk_count"]),
        embedded_while_fetching=at_fetch_end,
        status=str(source["status"]),
    )


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def revision() -> str:
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return head + (" + uncommitted changes" if dirty else "")


def report(runs: list[Ingestion], docs: Path, began_load: str, ended_load: str) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"## Ingesting Python's documentation: embedding after or during the fetch — {now}",
        "",
        "- Command: `python bench/ingest_docs.py`",
        (
            f"- Machine: {os.cpu_count()} cores, Linux {platform.machine()}; "
            f"Python {platform.python_version()}; revision {revision()}"
        ),
        (
            f"- Load average (1/5/15 min) when the run began: {began_load}; when it ended: "
            f"{ended_load}"
        ),
        (
            f"- Site: {docs} served by `python -m http.server` on 127.0.0.1; default crawl "
            "settings; `devflow serve` + `devflow worker`, local embedder, a fresh data "
            "directory per run"
        ),
        "",
        (
            "| embedding | whole (s) | fetch (s) | embed after the fetch (s) | pages | chunks "
            "| embedded during the fetch | status |"
        ),
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    lines += [
        f"| {r.mode} the fetch | {r.seconds:.1f} | {r.fetch_seconds:.1f} | "
        f"{r.embed_seconds:.1f} | {r.pages} | {r.chunks:,} | {r.embedded_while_fetching:,} | "
        f"{r.status} |"
        for r in runs
    ]
    by_mode: dict[str, list[float]] = {}
    for r in runs:
        by_mode.setdefault(r.mode, []).append(r.seconds)
    if {"after", "during"} <= by_mode.keys():
        after = sorted(by_mode["after"])[len(by_mode["after"]) // 2]
        during = sorted(by_mode["during"])[len(by_mode["during"]) // 2]
        lines += [
            "",
            (
                f"Median whole ingestion: after {after:.1f} s, during {during:.1f} s: "
                f"{after / during:.2f}x ({(after - during) / after:.0%} less time)."
            ),
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=Path, default=DOCS, help="an HTML documentation tree")
    parser.add_argument("--rounds", type=int, default=1, help="runs of each mode, alternated")
    parser.add_argument("--no-record", action="store_true", help="do not append to RESULTS.md")
    args = parser.parse_args()
    if not (args.docs / "index.html").exists():
        raise SystemExit(f"{args.docs}/index.html not found: apt-get install python3-doc")
    began = load()
    server, url = serve_docs(args.docs)
    runs: list[Ingestion] = []
    try:
        for _ in range(args.rounds):
            for mode in MODES:
                print(f"ingesting {url} with embedding {mode} the fetch …", flush=True)
                runs.append(ingest(url, mode))
                print(f"  {runs[-1]}", flush=True)
    finally:
        server.terminate()
        server.wait(10)
    text = report(runs, args.docs, began, load())
    print(text)
    if not args.no_record:
        with RESULTS.open("a", encoding="utf-8") as results:
            results.write("\n" + text)


if __name__ == "__main__":
    main()
