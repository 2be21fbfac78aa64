"""Benchmark: what the LLM client adds over a bare `openai` SDK call, against the fake gateway.

Runs an embedded PostgreSQL (or DEVFLOW_BENCH_DATABASE_URL), the fake OpenAI gateway on 127.0.0.1,
and alternates bare SDK calls with `LLMClient` calls (usage row, cost, budget-free project) so both
see the same server and machine state. The bare SDK uses its own default HTTP client; `LLMClient`
goes through the guarded outbound transport (address checks, body cap), so the difference includes
it. Prints p50/p95 and appends a section to bench/RESULTS.md.

    python bench/llm.py [--calls 400]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import openai
import psutil

from devflow.core.config import DatabaseSettings, EmbeddedPostgresSettings
from devflow.core.db import create_engine, session_factory
from devflow.core.embedded_pg import EmbeddedPostgres
from devflow.core.migrate import upgrade
from devflow.llm import LLMClient, Tags
from devflow.llm.writer import MemoryCache
from devflow.testing import FakeOpenAI

RESULTS = Path(__file__).with_name("RESULTS.md")
TAGS = Tags(feature="bench", project="bench")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def start_fake() -> tuple[subprocess.Popen[bytes], FakeOpenAI]:
    """Run the fake gateway in its own process, so it does not share our GIL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = f"from devflow.testing import FakeOpenAI; FakeOpenAI(port={port}).serve_forever()"
    process = subprocess.Popen([sys.executable, "-c", code])
    fake = FakeOpenAI(port=port)
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{fake.base_url}/models", timeout=1).raise_for_status()
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                process.kill()
                raise
            time.sleep(0.1)
        else:
            return process, fake


async def run(url: str, calls: int) -> dict[str, float]:
    engine = create_engine(url, DatabaseSettings(pool_size=4))
    sessions = session_factory(engine)
    process, fake = start_fake()
    try:
        bare = openai.AsyncOpenAI(base_url=fake.base_url, api_key="k", max_retries=0)
        client = LLMClient(fake.llm_settings(), sessions=sessions)
        # A second client without the in-memory layer: every hit is read from PostgreSQL, as it
        # is for a hit written by another process.
        pg_client = LLMClient(fake.llm_settings(), sessions=sessions)
        pg_client._ledger.memory = MemoryCache(size=0)  # noqa: SLF001 - measuring the layer below
        pg_hit_ms: list[float] = []
        bare_ms: list[float] = []
        ours_ms: list[float] = []
        hit_ms: list[float] = []
        cached = [{"role": "user", "content": "cached question"}]
        await client.chat("chat", cached, tags=TAGS, temperature=0)
        for i in range(calls + 50):
            messages = [{"role": "user", "content": f"question {i}"}]
            start = time.perf_counter()
            await bare.chat.completions.create(
                model="fake-chat", messages=messages, temperature=0.7
            )
            mid = time.perf_counter()
            await client.chat("chat", messages, tags=TAGS, temperature=0.7)
            end = time.perf_counter()
            await client.chat("chat", cached, tags=TAGS, temperature=0)
            hit_end = time.perf_counter()
            await pg_client.chat("chat", cached, tags=TAGS, temperature=0)
            pg_end = time.perf_counter()
            if i >= 50:  # warm-up
                pg_hit_ms.append((pg_end - hit_end) * 1000)
                bare_ms.append((mid - start) * 1000)
                ours_ms.append((end - mid) * 1000)
                hit_ms.append((hit_end - end) * 1000)
        await bare.close()
        await client.aclose()
        await pg_client.aclose()
    finally:
        process.terminate()
        process.wait()
    await engine.dispose()
    added = [o - b for o, b in zip(ours_ms, bare_ms, strict=True)]
    return {
        "bare_p50": statistics.median(bare_ms),
        "bare_p95": pct(bare_ms, 0.95),
        "ours_p50": statistics.median(ours_ms),
        "ours_p95": pct(ours_ms, 0.95),
        "added_p50": statistics.median(ours_ms) - statistics.median(bare_ms),
        "added_p95": pct(ours_ms, 0.95) - pct(bare_ms, 0.95),
        "paired_added_p50": statistics.median(added),
        "hit_p50": statistics.median(hit_ms),
        "hit_p95": pct(hit_ms, 0.95),
        "pg_hit_p50": statistics.median(pg_hit_ms),
        "pg_hit_p95": pct(pg_hit_ms, 0.95),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=400)
    args = parser.parse_args()
    url = os.environ.get("DEVFLOW_BENCH_DATABASE_URL")
    home = None
    pg = None
    if url is None:
        home = Path(tempfile.mkdtemp(prefix="devflow-bench-pg-"))
        home.chmod(0o755)
        pg = EmbeddedPostgres(home, EmbeddedPostgresSettings())
        url = pg.start()
    try:
        upgrade(url)
        figures = asyncio.run(run(url, args.calls))
    finally:
        if pg is not None:
            pg.stop()
        if home is not None:
            shutil.rmtree(home, ignore_errors=True)
    rows = [
        ("bare SDK chat call", figures["bare_p50"], figures["bare_p95"], ""),
        ("LLMClient chat call (usage row)", figures["ours_p50"], figures["ours_p95"], ""),
        ("added by LLMClient", figures["added_p50"], figures["added_p95"], "p50 < 2 ms"),
        ("LLMClient cache hit (total)", figures["hit_p50"], figures["hit_p95"], "total < 3 ms"),
        ("cache hit read from PostgreSQL", figures["pg_hit_p50"], figures["pg_hit_p95"], ""),
    ]
    print(f"{'measure':<34} {'p50 ms':>8} {'p95 ms':>8}  target")
    for name, p50, p95, target in rows:
        print(f"{name:<34} {p50:8.3f} {p95:8.3f}  {target}")
    print(f"paired per-call added p50: {figures['paired_added_p50']:.3f} ms")
    cores = psutil.cpu_count(logical=True)
    ram = psutil.virtual_memory().total / 2**30
    lines = [
        "",
        f"## LLM client overhead — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        (
            f"Machine: {cores} cores, {ram:.0f} GiB RAM, {platform.system()} {platform.machine()}, "
            f"Python {platform.python_version()}. "
            f"Command: `python bench/llm.py --calls {args.calls}` "
            "(embedded PostgreSQL, fake gateway in its own process on 127.0.0.1, "
            "calls alternated bare/ours)."
        ),
        "",
        "| measure | p50 ms | p95 ms | target |",
        "|---|---|---|---|",
        *(f"| {n} | {p50:.3f} | {p95:.3f} | {t} |" for n, p50, p95, t in rows),
        "",
        f"Paired per-call added latency, p50: {figures['paired_added_p50']:.3f} ms.",
        "",
    ]
    with RESULTS.open("a", encoding="utf-8") as out:
        if out.tell() == 0:
            out.write("# Benchmark results\n")
        out.write("\n".join(lines))


if __name__ == "__main__":
    main()
