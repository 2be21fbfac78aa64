"""Secrets benchmark (issue 18): resolution with a warm and a cold 1Password cache, the audited
resolution path, and re-encryption of many values under a new key while reads go on.

    python bench/secrets_bench.py [--values 100000] [--calls 20000] [--cold-calls 500]
                                  [--audited-calls 500] [--no-record]

Named secrets_bench.py, not secrets.py: a script's folder comes first on sys.path, so a
bench/secrets.py would stand in for the standard library's `secrets`, which DevFlow imports.

Everything runs on 127.0.0.1 in a temporary DEVFLOW_HOME, on an embedded PostgreSQL migrated to
head, with the services a DevFlow process has (`open_services`: the key file made on first use,
`Resolver`, the process's `OnePassword`) and 1Password played by `FakeConnect` (a real HTTP
server, uvicorn in a thread of this process):

1. `OnePassword.resolve` of one reference with a warm cache (`--calls` calls; target: p95 under
   1 ms), cold (cache TTL 0: every call goes to the fake Connect server, `--cold-calls` calls),
   and cold batches of 50 references spread over 10 items (`resolve_many`): time per batch and
   the HTTP requests each made.
2. `Resolver.resolve_many` of one name, each call in its own unit of work as a route has it: a
   stored value of the system tier (database read, AES-GCM open and, when revealed, the audit
   record appended to the hash chain and committed in its own transaction) and a 1Password
   reference stored in a project tier (warm cache). Each also with `reveal=False` (no audit
   record), so the audit's cost reads off the difference.
3. Re-encryption: `--values` values sealed with the real `Keyring.seal` and `context_of`, inserted
   in bulk; `SecretKeys.rotate` (a new key in the key file) and the `secrets.reencrypt` job
   deferred as `POST /api/v1/secrets/keys/rotate` does; the job then run by a procrastinate
   worker in a process of its own (as `devflow worker` runs it, away from the server). Meanwhile
   this process resolves a random one of the values every 50 ms through `Resolver.resolve_many`
   (revealed and audited) and checks it: latency and errors before and during the job. At the
   end: every value under the new key, the old key retired, a sample opened, the audit chain
   verified.

Figures are printed and, unless --no-record, appended as a dated section to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(BENCH_DIR))

from sqlalchemy import func, insert, select, text  # noqa: E402

from devflow.core import clock  # noqa: E402
from devflow.core.auth import Scope  # noqa: E402
from devflow.core.config import EmbeddedPostgresSettings  # noqa: E402
from devflow.core.db import libpq_url, unit_of_work  # noqa: E402
from devflow.core.embedded_pg import EmbeddedPostgres  # noqa: E402
from devflow.core.jobs import create_job_app, defer, job_context  # noqa: E402
from devflow.core.migrate import upgrade  # noqa: E402
from devflow.core.services import Services, open_services  # noqa: E402
from devflow.domains import providers  # noqa: E402
from devflow.identity import service as identity  # noqa: E402
from devflow.identity.schemas import ProjectCreate, UserCreate  # noqa: E402
from devflow.secrets import SECRETS, audit  # noqa: E402
from devflow.secrets import jobs as secrets_jobs  # noqa: E402
from devflow.secrets.crypto import context_of  # noqa: E402
from devflow.secrets.keys import REENCRYPT  # noqa: E402
from devflow.secrets.models import AuditEntry, EncryptionKey, Secret, SecretVersion  # noqa: E402
from devflow.secrets.onepassword import OnePassword  # noqa: E402
from devflow.secrets.onepassword.fake import FakeConnect  # noqa: E402
from devflow.secrets.resolution import Resolver  # noqa: E402
from devflow.secrets.schemas import SecretWrite  # noqa: E402
from devflow.secrets.scopes import Where, of_project, system  # noqa: E402
from devflow.secrets.service import set_secret  # noqa: E402
from devflow.settings import load_settings  # noqa: E402
from platform_bench import describe_machine, git_revision  # noqa: E402

RESULTS = BENCH_DIR / "RESULTS.md"
WARM_TARGET_MS = 1.0
ENV = "development"
VAULT = "Bench"
REFERENCE = f"op://{VAULT}/Database/password"
REFERENCE_VALUE = "connect-db-password-7Hq2"
STORED_VALUE = "stored-value-Zq8#pL2-bench"
BATCH_ITEMS, BATCH_FIELDS = 10, 5  # 50 references per batch
BATCH_ROUNDS = 20
INSERT_CHUNK = 2000
PROBE_EVERY = 0.05
BASELINE_SECONDS = 5.0
SAMPLE_OPENED = 1000


def percentile(values: list[float], pct: float) -> float:
    """Return the `pct` percentile of `values` (nearest rank)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))]


def summary(seconds: list[float]) -> dict[str, float]:
    """Count and p50/p95/p99/max in milliseconds."""
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "p50": percentile(ms, 50),
        "p95": percentile(ms, 95),
        "p99": percentile(ms, 99),
        "max": max(ms, default=float("nan")),
    }


async def timed(call: Callable[[], Awaitable[object]], times: int) -> list[float]:
    """Run `call` `times` times one after another; return each one's seconds."""
    spent = []
    for _ in range(times):
        began = time.perf_counter()
        await call()
        spent.append(time.perf_counter() - began)
    return spent


def value_of(number: int) -> str:
    return f"bulk-value-{number:07d}-xK9!"


def batch_references() -> dict[str, str]:
    return {
        f"op://{VAULT}/Service{i}/field{j}": f"service-{i}-field-{j}-v"
        for i in range(BATCH_ITEMS)
        for j in range(BATCH_FIELDS)
    }


def start_fake() -> FakeConnect:
    """The fake Connect server with the benchmark's items."""
    fake = FakeConnect().start()
    fake.add_item(VAULT, "Database", fields={"password": REFERENCE_VALUE, "username": "bench"})
    for i in range(BATCH_ITEMS):
        fields = {f"field{j}": f"service-{i}-field-{j}-v" for j in range(BATCH_FIELDS)}
        fake.add_item(VAULT, f"Service{i}", fields=fields)
    return fake


async def onepassword_part(resolver: Resolver, fake: FakeConnect, args: Any) -> dict[str, Any]:
    """Warm and cold `OnePassword.resolve`, and cold batches of 50 references."""
    warm_op: OnePassword = resolver.onepassword
    assert (await warm_op.resolve(REFERENCE)).value == REFERENCE_VALUE  # noqa: S101
    fake.clear_requests()

    async def warm_call() -> None:
        await warm_op.resolve(REFERENCE)

    warm = await timed(warm_call, args.calls)
    warm_requests = len(fake.requests)
    cold_op = OnePassword(fake.settings(cache_ttl_seconds=0))
    try:
        await cold_op.resolve(REFERENCE)  # opens the connection; not counted
        fake.clear_requests()

        async def cold_call() -> None:
            await cold_op.resolve(REFERENCE)

        cold = await timed(cold_call, args.cold_calls)
        cold_requests = len(fake.requests)
        expected = batch_references()
        wrong = 0
        fake.clear_requests()

        async def batch_call() -> None:
            nonlocal wrong
            found = await cold_op.resolve_many(expected)
            wrong += sum(1 for k, v in expected.items() if getattr(found[k], "value", None) != v)

        batches = await timed(batch_call, BATCH_ROUNDS)
        batch_requests = len(fake.requests)
    finally:
        await cold_op.aclose()
    return {
        "warm": summary(warm),
        "warm_requests": warm_requests,
        "cold": summary(cold),
        "cold_requests": cold_requests / args.cold_calls,
        "batch": summary(batches),
        "batch_size": len(expected),
        "batch_requests": batch_requests / BATCH_ROUNDS,
        "batch_wrong": wrong,
    }


async def make_project(services: Services) -> Where:
    """An admin and a project `bench`; return the project's tier."""
    async with unit_of_work(services.sessions) as session:
        admin = await identity.create_user(
            session, principal=None, data=UserCreate(username="admin", is_admin=True)
        )
        _, token = await identity.issue_token(session, user=admin, name="b", scopes=[Scope.ADMIN])
        owner = await identity.authenticate(session, token=token)
        await identity.create_project(session, principal=owner, data=ProjectCreate(name="bench"))
    async with unit_of_work(services.sessions) as session:
        owner = await identity.authenticate(session, token=token)
        return await of_project(session, owner, "bench")


async def audited_part(
    services: Services, resolver: Resolver, project: Where, calls: int
) -> dict[str, Any]:
    """`Resolver.resolve_many` of a stored value and of a stored reference, revealed or not."""
    ctx = resolver.context()
    async with unit_of_work(services.sessions) as session:
        await set_secret(
            session, ctx, principal=None, where=system(), name="BENCH_VALUE", environment=ENV,
            data=SecretWrite(value=STORED_VALUE),
        )  # fmt: skip
        await set_secret(
            session, ctx, principal=None, where=project, name="BENCH_REF", environment=ENV,
            data=SecretWrite(reference=REFERENCE),
        )  # fmt: skip

    def resolving(name: str, tier: Where | None, *, reveal: bool, want: str) -> Any:
        async def call() -> None:
            async with unit_of_work(services.sessions) as session:
                found = await resolver.resolve_many(
                    session, principal=None, names=[name], project=tier, user=None,
                    environment=ENV, reveal=reveal,
                )  # fmt: skip
            if reveal and found[0].value != want:
                raise AssertionError(f"{name} resolved to another value")

        return call

    cases = {
        "value": resolving("BENCH_VALUE", None, reveal=True, want=STORED_VALUE),
        "value_unaudited": resolving("BENCH_VALUE", None, reveal=False, want=STORED_VALUE),
        "reference": resolving("BENCH_REF", project, reveal=True, want=REFERENCE_VALUE),
        "reference_unaudited": resolving("BENCH_REF", project, reveal=False, want=""),
    }
    figures = {}
    for label, call in cases.items():
        await timed(call, 20)  # warm-up: pool connections, statement caches
        figures[label] = summary(await timed(call, calls))
    return figures


async def seed_values(services: Services, resolver: Resolver, count: int) -> float:
    """Insert `count` system-tier values sealed under the active key; return the seconds."""
    began = time.perf_counter()
    async with services.sessions() as session:
        ring = await resolver.keys.sealing_ring(session)
    now = clock.now()
    for start in range(0, count, INSERT_CHUNK):
        secrets_rows, versions = [], []
        for number in range(start, min(count, start + INSERT_CHUNK)):
            secret_id, name = uuid.uuid4(), f"BULK_{number:07d}"
            secrets_rows.append(
                {
                    "id": secret_id, "tier": "system", "scope": "system", "project_id": None,
                    "user_id": None, "environment": ENV, "name": name, "description": "",
                    "current_version": 1, "created_at": now, "updated_at": now,
                    "created_by": None,
                }
            )  # fmt: skip
            context = context_of("system", "system", ENV, name, 1)
            versions.append(
                {
                    "secret_id": secret_id, "version": 1, "kind": "value",
                    "ciphertext": ring.seal(value_of(number).encode(), context),
                    "key_id": ring.active, "reference": None, "note": "set",
                    "created_at": now, "created_by": None,
                }
            )  # fmt: skip
        async with unit_of_work(services.sessions) as session:
            await session.execute(insert(Secret), secrets_rows)
            await session.execute(insert(SecretVersion), versions)
    async with services.sessions() as session:
        await session.execute(text("ANALYZE secrets_secret, secrets_version"))
        await session.commit()
    return time.perf_counter() - began


class Probe:
    """Resolve a random stored value every `PROBE_EVERY` seconds; keep latencies and errors."""

    def __init__(self, services: Services, resolver: Resolver, count: int) -> None:
        self._services, self._resolver, self._count = services, resolver, count
        self._rng = random.Random(18)
        self.samples: list[tuple[float, float]] = []  # (wall clock at start, seconds)
        self.errors: list[tuple[float, str]] = []
        self._stop = asyncio.Event()

    async def run(self) -> None:
        while not self._stop.is_set():
            number = self._rng.randrange(self._count)
            at, began = time.time(), time.perf_counter()
            try:
                async with unit_of_work(self._services.sessions) as session:
                    found = await self._resolver.resolve_many(
                        session, principal=None, names=[f"BULK_{number:07d}"], project=None,
                        user=None, environment=ENV, reason="bench probe",
                    )  # fmt: skip
                if found[0].value != value_of(number):
                    self.errors.append((at, f"BULK_{number:07d}: another value"))
            except Exception as exc:  # noqa: BLE001 - every failure is what is counted
                self.errors.append((at, f"{type(exc).__name__}: {exc}"[:200]))
            self.samples.append((at, time.perf_counter() - began))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), PROBE_EVERY)

    def stop(self) -> None:
        self._stop.set()

    def between(self, start: float, end: float) -> dict[str, Any]:
        figures = summary([s for at, s in self.samples if start <= at <= end])
        figures["errors"] = sum(1 for at, _ in self.errors if start <= at <= end)
        return figures


async def run_worker_process(url: str, home: Path) -> dict[str, Any]:
    """Run the queued `secrets.reencrypt` job in a worker process of its own; return its
    timings (wall clock when the worker began and ended, its CPU seconds)."""
    env = {
        **os.environ,
        "DEVFLOW_DATABASE_URL": url,
        "DEVFLOW_HOME": str(home),
        "DEVFLOW_LOG__LEVEL": "WARNING",
    }
    spawned = time.time()
    with (home / "worker.log").open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--worker", env=env, stdout=asyncio.subprocess.PIPE,
            stderr=log,
        )  # fmt: skip
        out, _ = await proc.communicate()
    if proc.returncode != 0:
        tail = (home / "worker.log").read_text(errors="replace")[-3000:]
        raise SystemExit(f"the worker failed ({proc.returncode}):\n{tail}")
    return {"spawned": spawned, **json.loads(out.decode().strip().splitlines()[-1])}


async def worker() -> None:
    """The worker process: run the queued secrets jobs to their end, as `devflow worker` does
    (settings from the environment), and print when it began and ended."""
    settings = load_settings()
    assert settings.database_url is not None  # noqa: S101 - the parent sets it
    async with open_services(settings, providers()) as services:
        app = create_job_app(
            libpq_url(settings.database_url.get_secret_value()),
            blueprints=[secrets_jobs.blueprint],
            settings=settings.jobs,
        )
        async with app.open_async():
            cpu, began = time.process_time(), time.time()
            await app.run_worker_async(
                wait=False, install_signal_handlers=False, additional_context=job_context(services)
            )
            ended, cpu = time.time(), time.process_time() - cpu
    print(json.dumps({"began": began, "ended": ended, "cpu": cpu}))


async def reencrypt_part(
    services: Services, resolver: Resolver, url: str, home: Path, count: int
) -> dict[str, Any]:
    """Seed, rotate, re-encrypt in a worker process while probing; then check the outcome."""
    seed_seconds = await seed_values(services, resolver, count)
    print(f"seeded {count:,} values in {seed_seconds:.1f} s; probing, then rotating…", flush=True)
    probe = Probe(services, resolver, count)
    probing = asyncio.create_task(probe.run())
    await asyncio.sleep(BASELINE_SECONDS)
    baseline_end = time.time()
    began = time.perf_counter()
    async with unit_of_work(services.sessions) as session:
        old, new = await resolver.keys.rotate(session)
        await audit.append(
            session, actor="devflow", actor_id=None, token_id=None, action="key.rotate",
            outcome="ok", scope="system", reason=f"{old} -> {new}",
        )  # fmt: skip
        await defer(session, task=REENCRYPT, args={}, queueing_lock=REENCRYPT)
    rotate_seconds = time.perf_counter() - began
    try:
        job = await run_worker_process(url, home)
    finally:
        probe.stop()
        await probing
    checks = await check_outcome(services, resolver, old, new, count)
    job_seconds = job["ended"] - job["began"]
    return {
        "values": count,
        "seed_seconds": seed_seconds,
        "rotate_seconds": rotate_seconds,
        "job_seconds": job_seconds,
        "worker_cpu": job["cpu"],
        "rate": checks["moved"] / job_seconds if job_seconds else float("nan"),
        "before": probe.between(0, baseline_end),
        "during": probe.between(job["began"], job["ended"]),
        "error_samples": [e for _, e in probe.errors[:3]],
        "old": old,
        "new": new,
        **checks,
    }


async def check_outcome(
    services: Services, resolver: Resolver, old: str, new: str, count: int
) -> dict[str, Any]:
    """Where the values are, the keys' states, a sample opened, the audit chain."""
    async with services.sessions() as session:
        by_key = dict(
            (
                await session.execute(
                    select(SecretVersion.key_id, func.count())
                    .where(SecretVersion.kind == "value")
                    .group_by(SecretVersion.key_id)
                )
            ).all()
        )
        states = dict(
            (await session.execute(select(EncryptionKey.key_id, EncryptionKey.state))).all()
        )
        job_status = await session.scalar(
            text("SELECT status FROM procrastinate_jobs WHERE task_name = :t ORDER BY id DESC"),
            {"t": REENCRYPT},
        )
        reason = await session.scalar(
            select(AuditEntry.reason).where(AuditEntry.action == "key.reencrypt")
        )
        numbers = random.Random(7).sample(range(count), min(SAMPLE_OPENED, count))
        names = [f"BULK_{n:07d}" for n in numbers]
        rows = await session.execute(
            select(Secret.name, SecretVersion.ciphertext)
            .join(SecretVersion, SecretVersion.secret_id == Secret.id)
            .where(Secret.name.in_(names))
        )
        ring = await resolver.keys.ring()
        opened = sum(
            1
            for name, sealed in rows
            if ring.open(sealed, context_of("system", "system", ENV, name, 1)).decode()
            == value_of(int(name.removeprefix("BULK_")))
            and sealed[2 : 2 + sealed[1]].decode() == new
        )
        chain = await audit.verify(session)
    moved = int(reason.split(" ", 1)[0]) if reason else 0
    return {
        "moved": moved,
        "under_new": by_key.get(new, 0),
        "under_other": sum(n for k, n in by_key.items() if k != new),
        "total_values": sum(by_key.values()),
        "old_state": states.get(old),
        "new_state": states.get(new),
        "job_status": job_status,
        "sample": len(names),
        "sample_opened": opened,
        "chain_ok": chain.ok,
        "chain_rows": chain.checked,
    }


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def load() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def row(label: str, s: dict[str, float], *extra: str) -> str:
    cells = [f"{s['n']:,}", f"{s['p50']:.3f}", f"{s['p95']:.3f}", f"{s['p99']:.3f}"]
    return "| " + " | ".join([label, *cells, f"{s['max']:.3f}", *extra]) + " |"


def markdown(report: dict[str, Any]) -> str:
    """Return the report as a RESULTS.md section."""
    op, a, r, machine = report["op"], report["audited"], report["reencrypt"], report["machine"]
    lines = [
        f"## Secrets: resolution and re-encryption — {report['started']:%Y-%m-%d %H:%M} UTC",
        "",
        f"- Command: `{' '.join(['python bench/secrets_bench.py', *report['argv']])}`",
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
            "- Embedded PostgreSQL, fresh temporary DEVFLOW_HOME (key file made on first use), "
            "the process's services as the server has them; 1Password is FakeConnect (uvicorn "
            "in a thread of the benchmark's process, so it shares its CPU and GIL); the "
            "re-encryption job in a worker process of its own"
        ),
        "",
        "### 1Password: `OnePassword.resolve` (the process's resolver)",
        "",
        "| path | calls | p50 (ms) | p95 (ms) | p99 (ms) | max (ms) | HTTP requests per call |",
        "|---|---:|---:|---:|---:|---:|---:|",
        row("warm cache (TTL 300 s)", op["warm"], f"{op['warm_requests'] / op['warm']['n']:.0f}"),
        row("cold (TTL 0), through FakeConnect", op["cold"], f"{op['cold_requests']:.1f}"),
        row(
            f"cold batch of {op['batch_size']} references in {BATCH_ITEMS} items "
            "(`resolve_many`, per batch)",
            op["batch"],
            f"{op['batch_requests']:.1f} per batch",
        ),
        "",
        (
            "A cold reference costs a vault lookup, an item lookup by title and the item fetch; a "
            "batch looks the vault up once and fetches each item once, whatever the number of "
            f"its fields. Wrong values in batches: {op['batch_wrong']}."
        ),
        "",
        "### Audited resolution: `Resolver.resolve_many` of one name, a unit of work per call",
        "",
        "| what | calls | p50 (ms) | p95 (ms) | p99 (ms) | max (ms) |",
        "|---|---:|---:|---:|---:|---:|",
        row("stored value (system tier), revealed: read + open + audit row", a["value"]),
        row("stored value, `reveal=False`: read + open, no audit row", a["value_unaudited"]),
        row("1Password reference (project tier, warm cache), revealed", a["reference"]),
        row("1Password reference, `reveal=False`", a["reference_unaudited"]),
        "",
        (
            "A revealed value is audited before it leaves: `record_read` appends a row to the "
            "hash-chained log under an advisory lock, in a transaction of its own that commits "
            "(a WAL flush). That commit, not the cache or AES-GCM, is most of the revealed "
            "path; the 1 ms target is the cache's (above). The reference walks the project "
            "tier, where the stored reference answers first."
        ),
        "",
        f"### Re-encryption of {r['values']:,} values under a new key",
        "",
        (
            "| values | bulk insert (s) | rotate + defer (s) | job (s) | values/s | "
            "worker CPU (s) | moved |"
        ),
        "|---:|---:|---:|---:|---:|---:|---:|",
        (
            f"| {r['values']:,} | {r['seed_seconds']:.1f} | {r['rotate_seconds']:.3f} | "
            f"{r['job_seconds']:.1f} | {r['rate']:,.0f} | {r['worker_cpu']:.1f} | "
            f"{r['moved']:,} |"
        ),
        "",
        (
            "Moved counts the bulk values and the audited part's stored value. The job's time "
            "runs from the worker's first poll to its exit with the queue empty (the process's "
            "start and the services' opening not counted); the worker's CPU over the same span."
        ),
        "",
        (
            f"Reads meanwhile: a random one of the values resolved every {PROBE_EVERY * 1000:.0f} "
            "ms through `Resolver.resolve_many` (revealed, audited) from the benchmark's "
            "process, its value checked."
        ),
        "",
        "| reads | probes | p50 (ms) | p95 (ms) | p99 (ms) | max (ms) | errors |",
        "|---|---:|---:|---:|---:|---:|---:|",
        row(
            f"before the rotation ({BASELINE_SECONDS:.0f} s)",
            r["before"],
            str(r["before"]["errors"]),
        ),
        row("during the job", r["during"], str(r["during"]["errors"])),
        "",
        (
            f"After the job: {r['under_new']:,} of {r['total_values']:,} stored values under the "
            f"new key, {r['under_other']} under another; old key `{r['old_state']}`, new key "
            f"`{r['new_state']}`; job `{r['job_status']}`; {r['sample_opened']} of {r['sample']} "
            f"sampled values open under the new key with their value; audit chain "
            f"{'verified' if r['chain_ok'] else 'BROKEN'} ({r['chain_rows']:,} rows)."
        ),
    ]
    if r["error_samples"]:
        lines += ["", "First errors: " + "; ".join(f"`{e}`" for e in r["error_samples"])]
    moved_all = r["under_other"] == 0 and r["old_state"] == "retired"
    lines += [
        "",
        "### Targets",
        "",
        "| target | measured | result |",
        "|---|---:|---|",
        (
            f"| warm-cache resolution p95 < {WARM_TARGET_MS:.0f} ms | {op['warm']['p95']:.3f} ms "
            f"| **{verdict(op['warm']['p95'] < WARM_TARGET_MS)}** |"
        ),
        (
            f"| reads stay available during re-encryption (no error) | {r['during']['errors']} "
            f"errors in {r['during']['n']} | **{verdict(r['during']['errors'] == 0)}** |"
        ),
        (
            f"| every value under the new key, old key retired | {r['under_other']} left, "
            f"`{r['old_state']}` | **{verdict(moved_all)}** |"
        ),
        "",
    ]
    if report["notes"]:
        lines += [f"Notes: {report['notes']}", ""]
    return "\n".join(lines)


def notes(load_begin: str, load_end: str) -> str:
    cores = os.cpu_count() or 1
    busiest = max(float(x) for x in (load_begin + " / " + load_end).split(" / "))
    if busiest < 0.5 * cores:
        return ""
    return (
        f"the machine ({cores} cores) was shared with other work during this run (load averages "
        "above), so the latencies and rates are noisy and likely pessimistic; compare runs by "
        "their load."
    )


async def run(args: argparse.Namespace, url: str, home: Path) -> dict[str, Any]:
    fake = start_fake()
    try:
        settings = load_settings(
            database_url=url,
            home=home,
            secrets={"onepassword": {"connect_host": fake.base_url, "connect_token": fake.token}},
        )
        async with open_services(settings, providers()) as services:
            resolver = services.get(SECRETS)
            await resolver.keys.ring()  # the key file, made on first use as at a first start
            project = await make_project(services)
            op = await onepassword_part(resolver, fake, args)
            print(op, flush=True)
            audited = await audited_part(services, resolver, project, args.audited_calls)
            print(audited, flush=True)
            reencrypt = await reencrypt_part(services, resolver, url, home, args.values)
            print(reencrypt, flush=True)
    finally:
        fake.stop()
    return {"op": op, "audited": audited, "reencrypt": reencrypt}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--values", type=int, default=100_000, help="values re-encrypted")
    parser.add_argument("--calls", type=int, default=20_000, help="warm-cache resolutions")
    parser.add_argument("--cold-calls", type=int, default=500, help="cold resolutions")
    parser.add_argument("--audited-calls", type=int, default=500, help="calls per audited case")
    parser.add_argument("--no-record", action="store_true", help="do not append to RESULTS.md")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        asyncio.run(worker())
        return
    started = datetime.now(UTC)
    load_begin = load()
    home = Path(tempfile.mkdtemp(prefix="devflow-bench-secrets-"))
    home.chmod(0o755)
    pg = EmbeddedPostgres(home / "pg", EmbeddedPostgresSettings())
    try:
        url = pg.start()
        upgrade(url)
        figures = asyncio.run(run(args, url, home))
    finally:
        pg.stop()
        shutil.rmtree(home, ignore_errors=True)
    load_end = load()
    report = {
        **figures,
        "started": started,
        "argv": [a for a in sys.argv[1:] if a != "--no-record"],
        "machine": describe_machine(),
        "revision": git_revision(),
        "load_begin": load_begin,
        "load_end": load_end,
        "notes": notes(load_begin, load_end),
    }
    section = markdown(report)
    print(section)
    if not args.no_record:
        with RESULTS.open("a", encoding="utf-8") as out:
            out.write("\n" + section)


if __name__ == "__main__":
    main()
