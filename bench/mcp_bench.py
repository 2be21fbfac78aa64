"""Benchmark of the MCP gateway: `knowledge_search` latency over streamable HTTP, and token sizes.

Runs DevFlow as a user does (embedded PostgreSQL, `devflow serve`, `devflow worker` as
subprocesses, the default local embedder), uploads BEIR SciFact through the HTTP API and waits
until every chunk has its vector. Then the MCP SDK's own client calls `knowledge_search`
(hybrid, limit 5, query embedded on the server) for each test-split claim over streamable HTTP at
/mcp; the same queries go to `POST /api/v1/knowledge/search` so the gateway's own cost shows.

Sizes are counted in cl100k tokens (`bpe-openai`, the tiktoken tables built in; tiktoken itself
downloads them, which these machines cannot) or characters/4 when it is missing: `tools/list` as
sent on the wire, and the text of each 5-result search answer. The anchors' figures are the ones
their users reported (../shared/research/hub-anchors.md, table 4 row 6).

    python bench/mcp_bench.py [--no-record] [--queries N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import httpx2
import mcp_types
import psycopg
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from devflow.core.config import EmbeddedPostgresSettings
from devflow.core.credentials import read_credentials
from devflow.core.embedded_pg import EmbeddedPostgres
from devflow.runtime import prepare
from devflow.settings import load_settings

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "bench-data" / "scifact"
RESULTS = ROOT / "bench" / "RESULTS.md"
UPLOAD_BATCH = 300
TARGET_P95_MS = 150.0

ANCHORS = [
    ("Archon v1 `manage_document` schema alone (issue #274)", "≈3,000 tokens"),
    ("Archon v1 `list_projects` answer (issue #488)", "180,000 tokens"),
    ("Archon v1 after the fix", "page size 10, truncated fields (no size published)"),
    ("Grounded Docs (10 tools)", "no size published"),
]


def token_counter() -> tuple[str, Callable[[str], int]]:
    try:
        import bpe_openai
    except ImportError:
        return "characters/4", lambda text: round(len(text) / 4)
    encoding = bpe_openai.get_encoding("cl100k_base")
    return "cl100k_base (bpe-openai)", lambda text: len(encoding.encode(text))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Stack:
    """Embedded PostgreSQL + `devflow serve` + `devflow worker`."""

    def __init__(self, home: Path) -> None:
        self.pg: EmbeddedPostgres | None = EmbeddedPostgres(home, EmbeddedPostgresSettings())
        self.url = self.pg.start()
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "DEVFLOW_HOME": str(home),
            "DEVFLOW_DATABASE_URL": self.url,
            "DEVFLOW_SERVER__PORT": str(port),
            "DEVFLOW_LOG__ACCESS_LOG": "false",
            "DEVFLOW_LOG__LEVEL": "WARNING",
        }
        prepare(load_settings(home=home, database_url=self.url, server={"port": port}), self.url)
        creds = read_credentials(home / "credentials")
        if creds is None:
            raise SystemExit("first start wrote no credentials")
        self.token = creds.token
        devflow = [sys.executable, "-m", "devflow"]
        self.procs = [
            subprocess.Popen([*devflow, "serve", "--no-migrate"], env=env),
            subprocess.Popen([*devflow, "worker"], env=env),
        ]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/ready", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise SystemExit("devflow serve did not become ready")

    @classmethod
    def attach(cls, home: Path) -> Stack:
        """Use a stack an earlier run left running (its server, worker and PostgreSQL)."""
        running = cls.__new__(cls)
        pg = json.loads((home / "pg.json").read_text())
        running.url = f"postgresql://devflow:{pg['password']}@127.0.0.1:{pg['port']}/devflow"
        creds = read_credentials(home / "credentials")
        if creds is None:
            raise SystemExit(f"no credentials in {home}")
        running.base, running.token, running.procs, running.pg = creds.url, creds.token, [], None
        return running

    def api(self) -> httpx.Client:
        auth = {"Authorization": f"Bearer {self.token}"}
        return httpx.Client(base_url=self.base, headers=auth, timeout=300)

    def close(self) -> None:
        for proc in self.procs:
            proc.terminate()
            proc.wait(60)
        if self.pg is not None:
            self.pg.stop()


@contextmanager
def stack(attach: Path | None = None) -> Iterator[Stack]:
    if attach is not None:
        yield Stack.attach(attach)
        return
    home = Path(tempfile.mkdtemp(prefix="devflow-bench-mcp-"))
    home.chmod(0o755)  # as root, the PostgreSQL service user must reach it
    running = Stack(home)
    try:
        yield running
    finally:
        running.close()
        shutil.rmtree(home, ignore_errors=True)


def load_scifact() -> tuple[list[dict[str, str]], list[str]]:
    corpus = [json.loads(line) for line in (DATA / "corpus.jsonl").open()]
    queries = {q["_id"]: q["text"] for q in map(json.loads, (DATA / "queries.jsonl").open())}
    lines = (DATA / "qrels" / "test.tsv").read_text().splitlines()[1:]
    test_ids = dict.fromkeys(line.split("\t")[0].strip() for line in lines if line.strip())
    return corpus, [queries[qid] for qid in test_ids]


@dataclass
class Index:
    """The SciFact index when the queries ran."""

    seconds: float
    chunks: int
    embedded: int


def ingest(stack: Stack, corpus: list[dict[str, str]], max_wait: float) -> Index:
    """Upload SciFact (unless it is there) and wait for its vectors, at most `max_wait` s."""
    started = time.perf_counter()
    with psycopg.connect(stack.url) as conn:
        row = conn.execute("SELECT count(*) FROM knowledge_document").fetchone()
    if row is None or row[0] < len(corpus):
        with stack.api() as api:
            body = {"location": "upload", "name": "sf"}
            created = api.post("/api/v1/knowledge/sources", json=body)
            created.raise_for_status()
            sid = created.json()["id"]
            for i in range(0, len(corpus), UPLOAD_BATCH):
                files = [
                    ("files", (f"{d['_id']}.md", f"# {d['title']}\n\n{d['text']}\n".encode()))
                    for d in corpus[i : i + UPLOAD_BATCH]
                ]
                api.post(f"/api/v1/knowledge/sources/{sid}/files", files=files).raise_for_status()
    with psycopg.connect(stack.url, autocommit=True) as conn:
        while True:
            row = conn.execute(
                "SELECT (SELECT count(*) FROM knowledge_chunk), "
                "(SELECT count(DISTINCT chunk_id) FROM knowledge_embedding)"
            ).fetchone()
            waited = time.perf_counter() - started
            if row is not None and row[0] > 0 and (row[1] >= row[0] or waited > max_wait):
                return Index(seconds=waited, chunks=row[0], embedded=row[1])
            time.sleep(2)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@dataclass
class Measured:
    """What one run found."""

    tools: int
    tools_list_tokens: int
    tools_list_chars: int
    mcp_ms: list[float]
    rest_ms: list[float]
    answer_tokens: list[int]
    example: str


async def measure(stack: Stack, queries: list[str], count: Callable[[str], int]) -> Measured:
    auth = {"Authorization": f"Bearer {stack.token}"}
    async with (
        httpx2.AsyncClient(headers=auth, timeout=60) as http,
        Client(streamable_http_client(f"{stack.base}/mcp", http_client=http)) as client,
    ):
        listed = await client.list_tools()
        tools = [t.model_dump(by_alias=True, exclude_none=True, mode="json") for t in listed.tools]
        wire = json.dumps({"tools": tools}, separators=(",", ":"))
        for query in queries[:20]:  # warm-up: model loaded, pools filled, plans cached
            await client.call_tool("knowledge_search", {"query": query, "limit": 5})
        mcp_ms: list[float] = []
        answers: list[str] = []
        for query in queries:
            began = time.perf_counter()
            result = await client.call_tool("knowledge_search", {"query": query, "limit": 5})
            mcp_ms.append((time.perf_counter() - began) * 1000)
            block = result.content[0]
            if result.is_error or not isinstance(block, mcp_types.TextContent):
                raise SystemExit(f"knowledge_search failed: {block}")
            answers.append(block.text)
    rest_ms: list[float] = []
    with stack.api() as api:
        for query in queries:
            began = time.perf_counter()
            body = {"query": query, "limit": 5}
            api.post("/api/v1/knowledge/search", json=body).raise_for_status()
            rest_ms.append((time.perf_counter() - began) * 1000)
    return Measured(
        tools=len(listed.tools),
        tools_list_tokens=count(wire),
        tools_list_chars=len(wire),
        mcp_ms=mcp_ms,
        rest_ms=rest_ms,
        answer_tokens=[count(a) for a in answers],
        example=answers[0],
    )


def machine() -> str:
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} cores, {mem:.1f} GiB RAM; {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}; load average at start {load}"
    )


def revision() -> str:
    rev = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    )
    dirty = subprocess.run(
        ["git", "status", "--porcelain"], capture_output=True, text=True, check=False
    )
    changed = len(dirty.stdout.splitlines())
    return rev.stdout.strip() + (f" + uncommitted changes in {changed} paths" if changed else "")


def latency_row(name: str, values: list[float]) -> str:
    cells = " | ".join(f"{percentile(values, q):.1f} ms" for q in (0.5, 0.95, 0.99, 1.0))
    return f"| {name} | {len(values)} | {cells} |"


def report(found: Measured, tokenizer: str, index: Index, docs: int, when: str) -> str:
    p95 = percentile(found.mcp_ms, 0.95)
    verdict = "met" if p95 < TARGET_P95_MS else "missed"
    overhead = statistics.median(found.mcp_ms) - statistics.median(found.rest_ms)
    sizes = found.answer_tokens
    cap = load_settings().mcp.max_output_chars
    lines = [
        f"## MCP gateway: `knowledge_search` latency and token sizes — {when}",
        "",
        "- Command: `python bench/mcp_bench.py`",
        f"- Machine: {machine()}",
        f"- Revision: {revision()}",
        (
            f"- Data: BEIR SciFact, {docs} abstracts uploaded through the API as {index.chunks} "
            f"chunks; {index.embedded} had their vector (local all-MiniLM-L6-v2) when the queries "
            f"ran, {index.seconds:.0f} s after the upload began; {len(found.mcp_ms)} test-split "
            "claims, 20 warm-up calls not counted"
        ),
        f"- Tokens counted with {tokenizer}",
        "",
        "### Latency: hybrid search, query embedded on the server, limit 5",
        "",
        "| path | n | p50 | p95 | p99 | max |",
        "|---|---:|---:|---:|---:|---:|",
        latency_row("MCP `knowledge_search` (streamable HTTP)", found.mcp_ms),
        latency_row("REST `POST /api/v1/knowledge/search`", found.rest_ms),
        "",
        (
            f"Target p95 < {TARGET_P95_MS:.0f} ms: **{verdict}** ({p95:.1f} ms). "
            f"Gateway overhead at the median: {overhead:+.1f} ms."
        ),
        "",
        "### Sizes",
        "",
        "| what | DevFlow | anchor (as their users reported it) |",
        "|---|---:|---|",
        (
            f"| `tools/list`, {found.tools} tools | {found.tools_list_tokens} tokens "
            f"({found.tools_list_chars} chars) | {ANCHORS[0][1]} for one Archon tool's schema |"
        ),
        (
            f"| 5-result `knowledge_search` answer | median {statistics.median(sizes):.0f}, "
            f"max {max(sizes)} tokens | no per-search figure published (Archon answered with "
            "5 whole chunks of up to 5,000 characters) |"
        ),
        (
            f"| hard cap on one call | {cap} characters (about {cap // 4} tokens) "
            f"| {ANCHORS[1][1]} from one Archon `list_projects` call |"
        ),
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-record", action="store_true", help="Do not append to RESULTS.md.")
    parser.add_argument("--queries", type=int, default=0, help="Use only the first N claims.")
    parser.add_argument(
        "--max-wait",
        type=float,
        default=float("inf"),
        help="Seconds to wait for the vectors before measuring anyway (the report says how many).",
    )
    parser.add_argument("--attach", type=Path, help="DEVFLOW_HOME of a stack left running.")
    args = parser.parse_args()
    tokenizer, count = token_counter()
    corpus, queries = load_scifact()
    if args.queries:
        queries = queries[: args.queries]
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    with stack(args.attach) as running:
        print(f"ingesting {len(corpus)} SciFact abstracts …", flush=True)
        index = ingest(running, corpus, args.max_wait)
        print(f"{index}; {len(queries)} queries over MCP and REST …", flush=True)
        found = asyncio.run(measure(running, queries, count))
    text = report(found, tokenizer, index, len(corpus), when)
    print(text)
    print("Example 5-result answer:\n" + found.example)
    if not args.no_record:
        with RESULTS.open("a", encoding="utf-8") as out:
            out.write("\n" + text)


if __name__ == "__main__":
    main()
