"""OCI registry benchmark: DevFlow side by side with the CNCF reference registry, in one run.

    python bench/oci.py [--layers 5] [--layer-mb 20] [--runs 3] [--no-record]

Everything runs on 127.0.0.1 in a temporary folder. An image of `--layers` gzip layers of
random bytes (about layers x layer-mb MB) is written as an OCI layout, then copied with skopeo
into DevFlow (`devflow up`, authenticated with Docker token auth) and into Debian's
`docker-registry` (distribution 2.8, filesystem storage, no auth), `--runs` times each:
push of a new image (new random layers each run, so skopeo's blob-info cache never turns an
upload into a cross-repository mount) to a fresh repository, re-push of the unchanged image, and
pull into a fresh layout, alternating between the two servers. Medians are compared; the ratio
is DevFlow / reference (below 1.0 is faster). Figures are printed and, unless --no-record,
appended as a dated section to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import registry as base  # noqa: E402 - bench/registry.py: servers, machine, revision
from devflow.core.embedded_pg import free_port  # noqa: E402

RESULTS = BENCH_DIR / "RESULTS.md"


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def make_layout(folder: Path, layers: int, layer_mb: int) -> int:
    """Write an OCI layout with one image tagged `bench`; return its size in bytes."""
    blobs = folder / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    descriptors, diff_ids, total = [], [], 0
    for _ in range(layers):
        raw = os.urandom(layer_mb * 1024 * 1024)
        data = gzip.compress(raw, compresslevel=1, mtime=0)
        (blobs / digest(data).split(":")[1]).write_bytes(data)
        descriptors.append(
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": digest(data),
                "size": len(data),
            }
        )
        diff_ids.append(digest(raw))
        total += len(data)
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": digest(config),
                "size": len(config),
            },
            "layers": descriptors,
        }
    ).encode()
    for data in (config, manifest):
        (blobs / digest(data).split(":")[1]).write_bytes(data)
    (folder / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    ref = {"org.opencontainers.image.ref.name": "bench"}
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": digest(manifest),
                "size": len(manifest),
                "annotations": ref,
            }
        ],
    }
    (folder / "index.json").write_text(json.dumps(index))
    return total


def start_reference(stack: ExitStack, work: Path) -> str:
    port = free_port()
    config = work / "distribution.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: error\n  accesslog:\n    disabled: true\n"
        f"storage:\n  filesystem:\n    rootdirectory: {work / 'reference-storage'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    proc = stack.enter_context(
        base.process(["docker-registry", "serve", str(config)], work / "reference.log")
    )
    url = f"http://127.0.0.1:{port}"
    base.wait_http(f"{url}/v2/", proc=proc)
    return url


def skopeo(work: Path, *args: str) -> float:
    """Time one skopeo command (its own HOME and temporary folder)."""
    home = Path(tempfile.mkdtemp(dir=work, prefix="skopeo-home-"))
    policy = home / "policy.json"
    policy.write_text('{"default": [{"type": "insecureAcceptAnything"}]}')
    start = time.perf_counter()
    subprocess.run(
        ["skopeo", "--policy", str(policy), "--tmpdir", str(home), *args],
        check=True,
        capture_output=True,
        env={"HOME": str(home), "PATH": "/usr/bin:/bin", "XDG_RUNTIME_DIR": str(home)},
    )
    return time.perf_counter() - start


def bench_one(
    work: Path, url: str, layout: Path, creds: str | None, run: int, times: dict[str, list[float]]
) -> None:
    """Push (fresh repository), re-push unchanged, pull into a fresh layout; add the timings."""
    host = url.removeprefix("http://")
    dest = ["--dest-tls-verify=false"] + (["--dest-creds", creds] if creds else [])
    src = ["--src-tls-verify=false"] + (["--src-creds", creds] if creds else [])
    target = f"docker://{host}/default/bench{run}:v1"
    times["push"].append(skopeo(work, "copy", *dest, f"oci:{layout}:bench", target))
    again = skopeo(work, "copy", *dest, f"oci:{layout}:bench", target)
    times["re-push (unchanged)"].append(again)
    out = work / f"pulled-{host.replace(':', '-')}-{run}"
    times["pull"].append(skopeo(work, "copy", *src, target, f"oci:{out}:bench"))
    shutil.rmtree(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--layers", type=int, default=5)
    parser.add_argument("--layer-mb", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="devflow-bench-oci-"))
    work.chmod(0o755)
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    ours: dict[str, list[float]] = {"push": [], "re-push (unchanged)": [], "pull": []}
    theirs: dict[str, list[float]] = {op: [] for op in ours}
    try:
        with ExitStack() as stack:
            devflow, token = base.start_devflow(stack, work)
            reference = start_reference(stack, work)
            for run in range(args.runs):
                # A new image per run: skopeo's blob-info cache (shared by root's runs) would
                # otherwise turn later pushes into cross-repository mounts.
                layout = work / f"layout-{run}"
                size = make_layout(layout, args.layers, args.layer_mb)
                bench_one(work, devflow, layout, f"bench:{token}", run, ours)
                bench_one(work, reference, layout, None, run, theirs)
                shutil.rmtree(layout)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M")
    lines = [
        f"## OCI registry: DevFlow vs docker-registry (distribution) — {when} UTC",
        "",
        (
            f"- Command: `python bench/oci.py --layers {args.layers} --layer-mb {args.layer_mb} "
            f"--runs {args.runs}`"
        ),
        f"- Machine: {base.machine()}; load average when the run began: {load}",
        (
            f"- Revision: {base.revision()}; image of {args.layers} layers, {size / 1e6:.0f} MB; "
            "skopeo copy over HTTP on 127.0.0.1. DevFlow via `devflow up` with Docker token "
            "auth; docker-registry (Debian) with filesystem storage and no auth."
        ),
        "",
        f"| operation | DevFlow (s) | docker-registry (s) | ratio (median of {args.runs}) |",
        "|---|---:|---:|---:|",
    ]
    for op, values in ours.items():
        a, b = base.median(values), base.median(theirs[op])
        lines.append(f"| {op} | {a:.2f} | {b:.2f} | {a / b:.2f} |")
    runs = "; ".join(
        f"{op}: DevFlow {', '.join(f'{x:.2f}' for x in ours[op])} / "
        f"docker-registry {', '.join(f'{x:.2f}' for x in theirs[op])}"
        for op in ours
    )
    lines += ["", f"Runs (s): {runs}.", ""]
    text = "\n".join(lines)
    print(text)
    if not args.no_record:
        with RESULTS.open("a", encoding="utf-8") as out:
            out.write("\n" + text)


if __name__ == "__main__":
    main()
