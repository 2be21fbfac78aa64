"""Duplicate detection of tasks: precision and recall of `workflows.duplicate_threshold`.

    python bench/task_duplicates.py [--embedder python:module:factory] [--json] [--no-record]

The labelled set is bench/data/task_duplicates.jsonl: pairs of task texts (title and body) with
`duplicate` true or false and a `kind`: `paraphrase` and `reworded` duplicates (the second
sharing few words), `near_miss` non-duplicates that share words but not meaning, `same_area`
ones (the same part of the product, other work) and `unrelated` ones. Both texts are embedded as
`workflows.similar` embeds a task (`task_text`) with the local embedder DevFlow ships (or the
one given), and a pair is flagged when its cosine similarity reaches the threshold.

Thresholds from 0.30 to 0.99 by 0.01 are swept. The chosen one has the best F0.5, which weighs
precision twice as much as recall: a wrong flag teaches people (and agents) to ignore flags,
while a missed duplicate costs only what it cost before detection existed. The best-F1
threshold and the lowest with precision at least 0.9 are printed beside it. Choosing and
measuring on the same pairs flatters the figures, so a two-fold check also chooses on the pairs
with odd ids and measures on the even ones, and the other way round.

Figures are printed (`--json`: as JSON) and, unless --no-record, appended to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(BENCH_DIR))

from devflow.workflows.similar import task_text  # noqa: E402
from platform_bench import describe_machine, git_revision  # noqa: E402

DATA = BENCH_DIR / "data" / "task_duplicates.jsonl"
RESULTS = BENCH_DIR / "RESULTS.md"
MIN_PRECISION = 0.9
THRESHOLDS = [round(0.30 + 0.01 * i, 2) for i in range(70)]


@dataclass(frozen=True)
class Pair:
    id: int
    kind: str
    duplicate: bool
    a: str
    b: str


@dataclass(frozen=True)
class Figures:
    threshold: float
    precision: float
    recall: float
    f1: float
    f05: float
    tp: int
    fp: int
    fn: int


def load_pairs() -> list[Pair]:
    pairs = []
    for line in DATA.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        a, b = row["a"], row["b"]
        pairs.append(
            Pair(
                row["id"],
                row["kind"],
                bool(row["duplicate"]),
                task_text(a["title"], a.get("body", ""), ""),
                task_text(b["title"], b.get("body", ""), ""),
            )
        )
    return pairs


def make_embedder(target: str | None) -> Any:
    if target is None:
        from devflow.knowledge.backends.embedders import local_embedder

        return local_embedder()
    module, _, factory = target.removeprefix("python:").partition(":")
    return getattr(importlib.import_module(module), factory)()


async def similarities(embedder: Any, pairs: list[Pair]) -> np.ndarray:
    texts = sorted({t for p in pairs for t in (p.a, p.b)})
    vectors = dict(zip(texts, await embedder.embed_documents(texts), strict=True))
    return np.array([float(np.dot(vectors[p.a], vectors[p.b])) for p in pairs], dtype=np.float64)


def measure(scores: np.ndarray, labels: np.ndarray, threshold: float) -> Figures:
    flagged = scores >= threshold - 1e-9
    tp = int(np.sum(flagged & labels))
    fp = int(np.sum(flagged & ~labels))
    fn = int(np.sum(~flagged & labels))
    return _figures(threshold, tp, fp, fn)


def _figures(threshold: float, tp: int, fp: int, fn: int) -> Figures:
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    f05 = 1.25 * precision * recall / (0.25 * precision + recall) if precision + recall else 0.0
    return Figures(threshold, precision, recall, f1, f05, tp, fp, fn)


def choose(scores: np.ndarray, labels: np.ndarray) -> tuple[Figures, Figures, Figures | None]:
    """Return the chosen threshold's figures (best F0.5), the best F1's, and those of the lowest
    threshold with precision >= MIN_PRECISION (None: no threshold reaches it)."""
    swept = [measure(scores, labels, t) for t in THRESHOLDS]
    chosen = max(swept, key=lambda f: (f.f05, f.threshold))
    best_f1 = max(swept, key=lambda f: (f.f1, f.threshold))
    precise = [f for f in swept if f.precision >= MIN_PRECISION and f.tp > 0]
    return chosen, best_f1, min(precise, key=lambda f: f.threshold) if precise else None


def two_fold(scores: np.ndarray, labels: np.ndarray, ids: np.ndarray) -> Figures:
    """Choose on one half of the pairs and measure on the other, both ways; pooled counts."""
    tp = fp = fn = 0
    thresholds = []
    for fold in (0, 1):
        pick, test = ids % 2 == fold, ids % 2 != fold
        chosen, _, _ = choose(scores[pick], labels[pick])
        held = measure(scores[test], labels[test], chosen.threshold)
        tp, fp, fn = tp + held.tp, fp + held.fp, fn + held.fn
        thresholds.append(chosen.threshold)
    return _figures(float(np.mean(thresholds)), tp, fp, fn)


def by_kind(pairs: list[Pair], scores: np.ndarray, threshold: float) -> dict[str, dict[str, Any]]:
    kinds: dict[str, dict[str, Any]] = {}
    for kind in dict.fromkeys(p.kind for p in pairs):
        mine = np.array([p.kind == kind for p in pairs])
        kinds[kind] = {
            "pairs": int(mine.sum()),
            "flagged": int(np.sum(scores[mine] >= threshold - 1e-9)),
            "similarity_median": round(float(np.median(scores[mine])), 3),
            "similarity_min": round(float(scores[mine].min()), 3),
            "similarity_max": round(float(scores[mine].max()), 3),
        }
    return kinds


def markdown(report: dict[str, Any]) -> str:
    machine = report["machine"]
    c, b, h, p = report["chosen"], report["best_f1"], report["held_out"], report["precise"]

    def row(name: str, f: dict[str, Any] | None) -> str:
        if f is None:
            return f"| {name} | none | | | | | | | |"
        return (
            f"| {name} | {f['threshold']:.2f} | {f['precision']:.3f} | {f['recall']:.3f} | "
            f"{f['f1']:.3f} | {f['f05']:.3f} | {f['tp']} | {f['fp']} | {f['fn']} |"
        )

    lines = [
        f"## Task duplicate detection — {report['started']}",
        "",
        "- Command: `python bench/task_duplicates.py`",
        (
            f"- Machine: {machine.cores} cores ({machine.cpu_model}), "
            f"{machine.ram_gib:.1f} GiB RAM; {machine.system}; Python {machine.python}"
        ),
        f"- Revision: {report['revision']}",
        (
            f"- Embedder: {report['model']}; {report['pairs']} labelled pairs "
            f"({report['duplicates']} duplicates) from bench/data/task_duplicates.jsonl; "
            f"embedding them took {report['embed_seconds']:.1f} s"
        ),
        (
            "- Rule: the best F0.5 (precision weighs twice recall: a wrong flag costs more than "
            "a missed one); the held-out row chooses so on odd ids and measures on even ones and "
            "the other way round (pooled counts, mean threshold)"
        ),
        "",
        "| | threshold | precision | recall | F1 | F0.5 | TP | FP | FN |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        row("**chosen** (`workflows.duplicate_threshold`)", c),
        row("held out (two-fold)", h),
        row("best F1", b),
        row(f"lowest with precision >= {MIN_PRECISION}", p),
        "",
        "| kind | pairs | flagged at the chosen threshold | similarity min / median / max |",
        "|---|---:|---:|---|",
    ]
    for kind, k in report["kinds"].items():
        lines.append(
            f"| {kind} | {k['pairs']} | {k['flagged']} | {k['similarity_min']:.3f} / "
            f"{k['similarity_median']:.3f} / {k['similarity_max']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--embedder", help="python:module:factory (default: the local model)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--no-record", action="store_true", help="do not append to RESULTS.md")
    args = parser.parse_args()
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    pairs = load_pairs()
    embedder = make_embedder(args.embedder)
    began = time.perf_counter()
    scores = asyncio.run(similarities(embedder, pairs))
    embed_seconds = time.perf_counter() - began
    labels = np.array([p.duplicate for p in pairs])
    ids = np.array([p.id for p in pairs])
    chosen, best_f1, precise = choose(scores, labels)
    held = two_fold(scores, labels, ids)
    report: dict[str, Any] = {
        "started": started,
        "model": embedder.model,
        "pairs": len(pairs),
        "duplicates": int(labels.sum()),
        "kinds_count": dict(Counter(p.kind for p in pairs)),
        "embed_seconds": embed_seconds,
        "chosen": chosen.__dict__,
        "best_f1": best_f1.__dict__,
        "held_out": held.__dict__,
        "precise": precise.__dict__ if precise else None,
        "kinds": by_kind(pairs, scores, chosen.threshold),
        "machine": describe_machine(),
        "revision": git_revision(),
    }
    section = markdown(report)
    if args.json:
        print(json.dumps({**report, "machine": report["machine"].__dict__}, indent=2))
    else:
        print(section)
    if not args.no_record:
        with RESULTS.open("a", encoding="utf-8") as out:
            out.write("\n" + section)


if __name__ == "__main__":
    main()
