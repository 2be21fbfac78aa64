"""Stalled uploads benchmark: does the API keep answering while uploads never finish?

    python bench/stalled_uploads.py [--stalled 40] [--clients 10] [--duration 15] [--no-record]

Against a fresh `devflow up` (embedded PostgreSQL, default pool of 10 + 10 connections):

1. quiet: `--clients` concurrent keep-alive clients call `GET /api/v1/projects` for `--duration`
   seconds (an asyncio pool of httpx clients in a separate process, as bench/platform_bench.py);
2. stalled: `--stalled` uploads are opened and left unfinished (a PyPI upload, an npm publish, an
   OCI manifest and an OCI blob in turn, each announcing a body and sending only its start),
   spread over publisher tokens so that no token is over the per-client cap; the same load runs
   again while they stay open (the body timeout is raised for the run, so none is cut off);
3. one token: as many stalled uploads from a single token, to count how many the per-client cap
   refuses with 429.

Target (issue 12): with the stalled uploads open, no errors and a p95 within 2x of the quiet p95.
The figures are printed and, unless --no-record, appended to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import base64
import socket
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import httpx

from platform_bench import (
    RESULTS,
    LoadResult,
    describe_machine,
    devflow_up,
    free_port,
    git_revision,
    read_token,
    run_httpx,
)

ENDPOINT = "/api/v1/projects"
PER_CLIENT = 16  # server.max_bodies_per_client's default
RATIO_TARGET = 2.0


def _stalled(kind: int, token: str) -> tuple[str, str, dict[str, str], bytes]:
    basic = "Basic " + base64.b64encode(f"__token__:{token}".encode()).decode()
    options = [
        (
            "POST",
            "/pypi/py/legacy/",
            {"Authorization": basic, "Content-Type": "multipart/form-data; boundary=xyz"},
            b'--xyz\r\nContent-Disposition: form-data; name=":action"\r\n\r\nfile_upload\r\n',
        ),
        (
            "PUT",
            "/npm/js/left-pad",
            {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            b'{"name": "left-pad", ',
        ),
        (
            "PUT",
            "/v2/default/app/manifests/v1",
            {
                "Authorization": basic,
                "Content-Type": "application/vnd.oci.image.manifest.v1+json",
            },
            b'{"schemaVersion": 2, ',
        ),
        (
            "POST",
            "/v2/default/app/blobs/uploads/?digest=sha256:" + "0" * 64,
            {"Authorization": basic, "Content-Type": "application/octet-stream"},
            b"partial layer",
        ),
    ]
    return options[kind % len(options)]


def open_stalled(port: int, kind: int, token: str) -> socket.socket:
    """Open one upload that announces 1 MB and sends only its first bytes."""
    method, path, headers, start = _stalled(kind, token)
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Content-Length: 1000000"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + start)
    return sock


def answered(sock: socket.socket) -> int | None:
    """Return the status the server answered a stalled upload with, or None if it is silent."""
    sock.settimeout(0.2)
    try:
        data = sock.recv(4096)
    except TimeoutError:
        return None
    return int(data.split(b" ", 2)[1]) if data else 0


def setup(url: str, admin: str, publishers: int) -> list[str]:
    """Create the repositories and `publishers` tokens; return the tokens."""
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {admin}"}) as api:
        for name, fmt in (("py", "pypi"), ("js", "npm")):
            api.post("/api/v1/registry/repositories", json={"name": name, "format": fmt})
        return [
            api.post("/api/v1/tokens", json={"name": f"publisher-{i}"}).json()["token"]
            for i in range(publishers)
        ]


def run(args: argparse.Namespace) -> dict[str, object]:
    home = Path(tempfile.mkdtemp(prefix="devflow-bench-stalled-"))
    port = free_port()
    devflow = devflow_up(home, port, home / "devflow.log", access_log=False)
    devflow.env["DEVFLOW_SERVER__BODY_TIMEOUT"] = "3600"
    url = f"http://127.0.0.1:{port}"
    devflow.start()
    try:
        devflow.wait_ready()
        admin = read_token(home)
        publishers = setup(url, admin, -(-args.stalled // (PER_CLIENT - 1)))
        run_httpx(url + ENDPOINT, admin, args.clients, 3.0)  # warm-up
        quiet = run_httpx(url + ENDPOINT, admin, args.clients, args.duration)
        with ExitStack() as stack:
            sockets = [
                stack.enter_context(open_stalled(port, i, publishers[i % len(publishers)]))
                for i in range(args.stalled)
            ]
            time.sleep(1.0)  # every stalled upload has authenticated and is waiting for bytes
            loaded = run_httpx(url + ENDPOINT, admin, args.clients, args.duration)
            still_open = sum(1 for s in sockets if answered(s) is None)
        with ExitStack() as stack:
            one = [
                stack.enter_context(open_stalled(port, i, publishers[0]))
                for i in range(args.stalled)
            ]
            time.sleep(1.0)
            refused = sum(1 for s in one if answered(s) == 429)
    finally:
        devflow.stop()
    return {
        "quiet": quiet,
        "stalled": loaded,
        "still_open": still_open,
        "refused_one_token": refused,
        "publishers": len(publishers),
    }


def markdown(args: argparse.Namespace, found: dict[str, object]) -> str:
    quiet, loaded = found["quiet"], found["stalled"]
    assert isinstance(quiet, LoadResult)  # noqa: S101
    assert isinstance(loaded, LoadResult)  # noqa: S101
    machine = describe_machine()
    ratio = loaded.p95_ms / quiet.p95_ms if quiet.p95_ms else float("nan")
    ok = loaded.errors == 0 and ratio <= RATIO_TARGET
    return "\n".join(
        [
            f"\n## Stalled uploads — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
            "",
            (
                f"Machine: {machine.cores} cores, {machine.ram_gib:.0f} GiB, {machine.cpu_model}; "
                f"revision {git_revision()}."
            ),
            f"Command: `python bench/stalled_uploads.py {' '.join(sys.argv[1:])}`",
            "",
            f"`GET {ENDPOINT}`, {args.clients} clients for {args.duration:g} s each run:",
            "",
            "| run | requests/s | p50 ms | p95 ms | p99 ms | errors |",
            "|---|---|---|---|---|---|",
            *(
                f"| {name} | {r.throughput:,.0f} | {r.p50_ms:.1f} | {r.p95_ms:.1f} | "
                f"{r.p99_ms:.1f} | {r.errors} |"
                for name, r in (
                    ("quiet", quiet),
                    (f"{args.stalled} stalled uploads open", loaded),
                )
            ),
            "",
            (
                f"- p95 with the stalled uploads / quiet p95: {ratio:.2f} (target at most "
                f"{RATIO_TARGET:g}, no errors): {'met' if ok else 'NOT met'}."
            ),
            (
                f"- Stalled uploads still open (unanswered) after the loaded run: "
                f"{found['still_open']} of {args.stalled}, from {found['publishers']} tokens."
            ),
            (
                f"- {args.stalled} stalled uploads from one token: {found['refused_one_token']} "
                f"refused with 429 (the cap is {PER_CLIENT} bodies per client)."
            ),
            "",
        ]
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stalled", type=int, default=40)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args(argv)
    found = run(args)
    text = markdown(args, found)
    print(text)
    if not args.no_record:
        with RESULTS.open("a", encoding="utf-8") as out:
            out.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
