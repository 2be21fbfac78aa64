"""Workflows benchmark: exactly-once claiming under load, and the board through the API.

    python bench/workflows.py [--tasks 10000] [--claimants 50] [--board-tasks 5000]
                              [--requests 300] [--no-record]

Everything runs on 127.0.0.1 in a temporary folder, on an embedded PostgreSQL migrated to head:

1. Claiming: `--tasks` tasks in one project, each blocked by 0 to 2 earlier ones at random (a
   dependency graph, a fixed seed), priorities at random. `--claimants` users, each with its
   own database connection, run `claim_next` (the service behind `POST /tasks/next` and
   `devflow task next`) in a loop: claim, then close what was claimed (a versioned update to
   Done), until every task is done. Counted: double assignments (a task claimed twice, from
   the claimants' own records and from the tasks' history), blocked tasks handed out (a
   claimed task with a blocker not done), claims per second over the whole run, and the
   latency of each claim (its unit of work, commit included). The tasks are inserted in bulk
   (creating them one by one is not what is measured).
2. The board: `--board-tasks` tasks spread over the five default columns of another project,
   served by `devflow serve` (one process); `GET /api/v1/projects/{project}/board` (the
   default 50 tasks per column, with counts) `--requests` times from one client, then from 10
   at once: p50/p95/p99. Target: p95 under 50 ms.
3. Duplicate detection: the labelled pairs of bench/data/task_duplicates.jsonl embedded with the
   built-in local embedder, flagged at the configured `workflows.duplicate_threshold`:
   precision and recall (bench/task_duplicates.py sweeps the thresholds and chose it).

Figures are printed and, unless --no-record, appended as a dated section to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import psutil

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(BENCH_DIR))

from devflow.core import clock  # noqa: E402
from devflow.core.auth import Role, Scope  # noqa: E402
from devflow.core.config import DatabaseSettings, EmbeddedPostgresSettings  # noqa: E402
from devflow.core.db import create_engine, session_factory, unit_of_work  # noqa: E402
from devflow.core.embedded_pg import EmbeddedPostgres, free_port  # noqa: E402
from devflow.core.migrate import upgrade  # noqa: E402
from devflow.identity import service as identity  # noqa: E402
from devflow.identity.schemas import ProjectCreate, UserCreate  # noqa: E402
from devflow.workflows import TaskUpdate, claim_next, show_board, update_task  # noqa: E402
from devflow.workflows.models import Task, TaskChange, TaskCounter, TaskDependency  # noqa: E402
from platform_bench import describe_machine, git_revision  # noqa: E402

RESULTS = BENCH_DIR / "RESULTS.md"
LEASE = timedelta(minutes=15)
BOARD_TARGET_MS = 50.0


def percentile(values: list[float], pct: float) -> float:
    """Return the `pct` percentile of `values` (nearest rank)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))]


async def seed_tasks(
    sessions: Any, project: Any, owner: Any, count: int, *, deps: bool, seed: int
) -> None:
    """Insert `count` tasks into `project`, spread over columns (`deps`: all open, each
    blocked by up to two earlier tasks)."""
    rng = random.Random(seed)
    async with unit_of_work(sessions) as session:
        board = await show_board(session, principal=owner, project=project.name, limit=1)
    columns = board.columns
    now = clock.now()
    ids = [uuid.uuid4() for _ in range(count)]
    rows, edges = [], []
    for n in range(1, count + 1):
        column = columns[1] if deps else columns[rng.randrange(len(columns))]
        rows.append(
            {
                "id": ids[n - 1],
                "project_id": project.id,
                "number": n,
                "title": f"Task {n}: {rng.choice(['fix', 'add', 'write', 'test'])} something",
                "body": "",
                "done_definition": "",
                "type": "task",
                "priority": rng.randint(1, 4),
                "labels": [],
                "column_id": column.id,
                "state": column.state,
                "rank": Decimal(n),
                "links": [],
                "version": 1,
                "created_by": owner.user_id,
                "created_at": now,
                "updated_at": now,
            }
        )
        if deps and n > 1:
            picked = rng.sample(range(1, n), k=min(n - 1, rng.randint(0, 2)))
            edges += [{"task_id": ids[n - 1], "blocker_id": ids[b - 1]} for b in picked]
    async with unit_of_work(sessions) as session:
        for start in range(0, len(rows), 1000):
            await session.execute(Task.__table__.insert(), rows[start : start + 1000])
        for start in range(0, len(edges), 2000):
            await session.execute(TaskDependency.__table__.insert(), edges[start : start + 2000])
        await session.execute(
            TaskCounter.__table__.insert(), [{"project_id": project.id, "last_number": count}]
        )


async def setup(url: str, claimants: int) -> tuple[Any, str, list[Any], Any]:
    """Make the admin (with a token), two projects and the claimants; return the admin's
    principal, token, the claimants' principals and the session maker."""
    engine = create_engine(url, DatabaseSettings(pool_size=claimants + 5, max_overflow=10))
    sessions = session_factory(engine)
    async with unit_of_work(sessions) as session:
        admin = await identity.create_user(
            session, principal=None, data=UserCreate(username="admin", is_admin=True)
        )
        _, token = await identity.issue_token(session, user=admin, name="b", scopes=[Scope.ADMIN])
        owner = await identity.authenticate(session, token=token)
        for name in ("claims", "board"):
            await identity.create_project(session, principal=owner, data=ProjectCreate(name=name))
    agents = []
    async with unit_of_work(sessions) as session:
        for i in range(claimants):
            user = await identity.create_user(
                session, principal=None, data=UserCreate(username=f"agent{i}")
            )
            _, secret = await identity.issue_token(
                session, user=user, name="b", scopes=[Scope.READ, Scope.WRITE]
            )
            await identity.set_membership(
                session,
                principal=owner,
                project_name="claims",
                username=user.username,
                role=Role.WRITE,
            )
            agents.append(secret)
    async with unit_of_work(sessions) as session:
        principals = [await identity.authenticate(session, token=t) for t in agents]
        owner = await identity.authenticate(session, token=token)
    return owner, token, principals, sessions


async def claim_run(
    sessions: Any, principals: list[Any], total: int, project_id: uuid.UUID
) -> dict[str, Any]:
    """Let every claimant claim and close until all `total` tasks are done."""
    latencies: list[float] = []
    claimed: list[int] = []
    blocked: list[int] = []
    done = 0
    empty = 0

    async def claimant(principal: Any) -> None:
        nonlocal done, empty
        while done < total:
            began = time.perf_counter()
            async with unit_of_work(sessions) as session:
                task = await claim_next(session, principal=principal, project="claims", lease=LEASE)
            latencies.append(time.perf_counter() - began)
            if task is None:
                empty += 1
                await asyncio.sleep(0.005)  # the rest is blocked by tasks still in progress
                continue
            claimed.append(task.number)
            if task.blocked:
                blocked.append(task.number)
            async with unit_of_work(sessions) as session:
                await update_task(
                    session,
                    principal=principal,
                    project="claims",
                    number=task.number,
                    data=TaskUpdate(version=task.version, column="Done"),
                    lease=LEASE,
                )
            done += 1

    began = time.perf_counter()
    await asyncio.gather(*(claimant(p) for p in principals))
    elapsed = time.perf_counter() - began
    async with unit_of_work(sessions) as session:
        from sqlalchemy import func, select

        history_claims = Counter(
            n
            for (n,) in await session.execute(
                select(Task.number)
                .join(TaskChange, TaskChange.task_id == Task.id)
                .where(TaskChange.field == "column", TaskChange.note == "claimed")
            )
        )
        still_open = await session.scalar(
            select(func.count())
            .select_from(Task)
            .where(Task.project_id == project_id, Task.state != "done")
        )
    doubles = sum(1 for c in Counter(claimed).values() if c > 1)
    doubles_history = sum(1 for c in history_claims.values() if c > 1)
    return {
        "claims": len(claimed),
        "distinct": len(set(claimed)),
        "doubles": max(doubles, doubles_history),
        "blocked": len(blocked),
        "elapsed": elapsed,
        "empty": empty,
        "still_open": still_open,
        "p50": percentile(latencies, 50) * 1000,
        "p95": percentile(latencies, 95) * 1000,
        "p99": percentile(latencies, 99) * 1000,
    }


def start_server(url: str, home: Path, port: int) -> subprocess.Popen[bytes]:
    """Start `devflow serve` (one process) on `port`; return once it is ready."""
    env = {
        **os.environ,
        "DEVFLOW_DATABASE_URL": url,
        "DEVFLOW_HOME": str(home),
        "DEVFLOW_LOG__ACCESS_LOG": "false",
        "DEVFLOW_LOG__LEVEL": "WARNING",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "devflow", "serve", "--port", str(port), "--no-migrate"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(home / "serve.log").open("wb"),
    )
    deadline = time.monotonic() + 120
    said = "no answer"
    while time.monotonic() < deadline:
        try:
            ready = httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1)
            if ready.status_code == 200:
                return server
            said = ready.text
        except httpx.HTTPError as exc:
            said = repr(exc)
        time.sleep(0.2)
    server.kill()
    raise SystemExit(f"devflow serve did not start ({said}); see {home / 'serve.log'}")


async def board_run(
    base: str, token: str, requests: int, clients: int, server: psutil.Process
) -> dict[str, float]:
    """GET the board `requests` times from `clients` at once; return latency percentiles and
    the server's CPU time per request (its own process; PostgreSQL's not counted)."""
    headers = {"Authorization": f"Bearer {token}"}
    url = f"{base}/api/v1/projects/board/board"
    latencies: list[float] = []
    sizes: list[int] = []
    async with httpx.AsyncClient(headers=headers, timeout=30) as client:
        for _ in range(20):  # warm up the connection pool and caches
            (await client.get(url)).raise_for_status()
        left = requests

        async def one() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                began = time.perf_counter()
                response = await client.get(url)
                latencies.append(time.perf_counter() - began)
                response.raise_for_status()
                sizes.append(len(response.content))

        cpu = sum(server.cpu_times()[:2])
        began = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(clients)))
        elapsed = time.perf_counter() - began
        cpu = sum(server.cpu_times()[:2]) - cpu
    return {
        "clients": clients,
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50": percentile(latencies, 50) * 1000,
        "p95": percentile(latencies, 95) * 1000,
        "p99": percentile(latencies, 99) * 1000,
        "kib": statistics.mean(sizes) / 1024,
        "cpu_ms": cpu / len(latencies) * 1000,
    }


def markdown(report: dict[str, Any]) -> str:
    """Return the report as a RESULTS.md section."""
    c, machine = report["claims"], report["machine"]
    lines = [
        f"## Workflows: claiming and the board — {report['started']:%Y-%m-%d %H:%M} UTC",
        "",
        f"- Command: `{' '.join(['python bench/workflows.py', *report['argv']])}`",
        (
            f"- Machine: {machine.cores} cores ({machine.cpu_model}), "
            f"{machine.ram_gib:.1f} GiB RAM; {machine.system}; Python {machine.python}"
        ),
        f"- Revision: {report['revision']}",
        (
            f"- Load average (1/5/15 min) when the run began: {report['load_begin']}; "
            f"when it ended: {report['load_end']}"
        ),
        (
            "- Embedded PostgreSQL, fresh temporary folder; claims through the service (each "
            "claimant its own pooled connection, one asyncio process); the board through "
            "`devflow serve` (one process) over HTTP"
        ),
        "",
        (
            f"### Claiming: {report['claimants']} claimants, {report['tasks']:,} tasks with "
            f"{report['edges']:,} dependencies"
        ),
        "",
        (
            "| claims | distinct tasks | double assignments | blocked handed out | claims/s | "
            "claim p50 (ms) | claim p95 (ms) | claim p99 (ms) | empty claims | left open |"
        ),
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        (
            f"| {c['claims']:,} | {c['distinct']:,} | {c['doubles']} | {c['blocked']} | "
            f"{c['claims'] / c['elapsed']:,.0f} | {c['p50']:.1f} | {c['p95']:.1f} | "
            f"{c['p99']:.1f} | {c['empty']:,} | {c['still_open']} |"
        ),
        "",
        (
            "Claims/s counts whole cycles: each claimant claims, then closes the task (a second "
            "unit of work) before its next claim. Empty claims found every open task blocked or "
            "taken and waited 5 ms."
        ),
        "",
        (
            f"### The board: `GET /api/v1/projects/board/board`, {report['board_tasks']:,} tasks "
            "over 5 columns, 50 per column shown"
        ),
        "",
        (
            "| clients | requests | req/s | p50 (ms) | p95 (ms) | p99 (ms) | server CPU (ms/req) "
            "| answer (KiB) |"
        ),
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        (
            f"| {b['clients']} | {b['requests']} | {b['rps']:,.0f} | {b['p50']:.1f} | "
            f"{b['p95']:.1f} | {b['p99']:.1f} | {b['cpu_ms']:.1f} | {b['kib']:.0f} |"
        )
        for b in report["board"]
    ]
    d = report["duplicates"]
    lines += [
        "",
        (
            f"### Duplicate detection: {d['pairs']} labelled pairs ({d['positives']} duplicates), "
            f"built-in local embedder, threshold {d['threshold']:.2f}"
        ),
        "",
        "| precision | recall |",
        "|---:|---:|",
        f"| {d['precision']:.3f} | {d['recall']:.3f} |",
    ]
    one = report["board"][0]
    lines += [
        "",
        "### Targets",
        "",
        "| target | measured | result |",
        "|---|---:|---|",
        f"| no double assignment | {c['doubles']} | **{verdict(c['doubles'] == 0)}** |",
        (f"| no blocked task handed out | {c['blocked']} | **{verdict(c['blocked'] == 0)}** |"),
        (
            f"| every task claimed once and done | {c['distinct']:,} of {report['tasks']:,} | "
            f"**{verdict(c['distinct'] == report['tasks'] and not c['still_open'])}** |"
        ),
        (
            f"| board p95 < {BOARD_TARGET_MS:.0f} ms (one client) | {one['p95']:.1f} ms | "
            f"**{'PASS' if one['p95'] < BOARD_TARGET_MS else 'FAIL'}** |"
        ),
        "",
    ]
    return "\n".join(lines)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def load() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


async def run(args: argparse.Namespace, url: str, home: Path) -> dict[str, Any]:
    owner, token, principals, sessions = await setup(url, args.claimants)
    async with unit_of_work(sessions) as session:
        claims_project = await identity.get_project(session, name="claims")
        board_project = await identity.get_project(session, name="board")
    await seed_tasks(sessions, claims_project, owner, args.tasks, deps=True, seed=16)
    await seed_tasks(sessions, board_project, owner, args.board_tasks, deps=False, seed=17)
    async with unit_of_work(sessions) as session:
        from sqlalchemy import func, select

        edges = await session.scalar(select(func.count()).select_from(TaskDependency))
    print(f"seeded {args.tasks:,} tasks ({edges:,} dependencies); claiming…", flush=True)
    claims = await claim_run(sessions, principals, args.tasks, claims_project.id)
    print(claims, flush=True)
    await sessions.kw["bind"].dispose()  # its connections, before the server opens its own
    port = free_port()
    server = start_server(url, home, port)
    try:
        board = [
            await board_run(
                f"http://127.0.0.1:{port}",
                token,
                args.requests,
                clients,
                psutil.Process(server.pid),
            )
            for clients in (1, 10)
        ]
    finally:
        server.terminate()
        server.wait(30)
    print(board, flush=True)
    return {"claims": claims, "board": board, "edges": edges, "duplicates": await duplicates()}


async def duplicates() -> dict[str, Any]:
    """Precision and recall of the duplicate flag at the configured threshold."""
    import numpy as np

    from devflow.workflows.settings import DUPLICATE_THRESHOLD
    from task_duplicates import load_pairs, make_embedder, measure, similarities

    pairs = load_pairs()
    scores = await similarities(make_embedder(None), pairs)
    labels = np.array([p.duplicate for p in pairs], dtype=bool)
    found = measure(scores, labels, DUPLICATE_THRESHOLD)
    return {
        "pairs": len(pairs),
        "positives": int(labels.sum()),
        "threshold": found.threshold,
        "precision": found.precision,
        "recall": found.recall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--claimants", type=int, default=50)
    parser.add_argument("--board-tasks", type=int, default=5_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    started = datetime.now(UTC)
    load_begin = load()
    home = Path(tempfile.mkdtemp(prefix="devflow-bench-workflows-"))
    home.chmod(0o755)
    pg = EmbeddedPostgres(home / "pg", EmbeddedPostgresSettings())
    try:
        url = pg.start()
        upgrade(url)
        figures = asyncio.run(run(args, url, home))
    finally:
        pg.stop()
        shutil.rmtree(home, ignore_errors=True)
    argv = [a for a in sys.argv[1:] if a != "--no-record"]
    report = {
        **figures,
        "started": started,
        "argv": argv,
        "machine": describe_machine(),
        "revision": git_revision(),
        "load_begin": load_begin,
        "load_end": load(),
        "claimants": args.claimants,
        "tasks": args.tasks,
        "board_tasks": args.board_tasks,
    }
    section = markdown(report)
    print(section)
    if not args.no_record:
        with RESULTS.open("a", encoding="utf-8") as out:
            out.write("\n" + section)


if __name__ == "__main__":
    main()
