"""bench/knowledge.py scores SciFact at two levels: documents (what search returns) and passages."""

from __future__ import annotations

import importlib
import random
import sys
import uuid
from pathlib import Path

import pytest

from devflow.knowledge.retrieval import fuse, relevance

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture
def bench(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    monkeypatch.delitem(sys.modules, "knowledge", raising=False)
    return importlib.import_module("knowledge")


# Two passages of d1 (judged irrelevant) come before d2, the one relevant document.
RANKED = {"q": [("c1", "d1", 0.9), ("c2", "d1", 0.8), ("c3", "d2", 0.7), ("c4", "d3", 0.6)]}
QRELS = {"q": {"d2": 1}}


def test_at_document_level_a_document_takes_one_rank(bench):
    scores = bench.evaluate(bench.to_run(RANKED, distinct=True), QRELS)
    assert scores["ndcg@10"] == pytest.approx(1 / 1.584962500721156)  # rank 2: 1/log2(3)
    assert scores["mrr@10"] == pytest.approx(1 / 2)
    assert scores["recall@100"] == 1.0


def test_at_passage_level_a_documents_further_passages_take_ranks_and_gain_nothing(bench):
    scores = bench.evaluate(bench.to_run(RANKED, distinct=False), QRELS)
    assert scores["ndcg@10"] == pytest.approx(0.5)  # rank 3: 1/log2(4)
    assert scores["mrr@10"] == pytest.approx(1 / 3)
    assert scores["recall@100"] == 1.0


def test_a_relevant_document_repeated_in_passages_counts_once(bench):
    ranked = {"q": [("c1", "d2", 0.9), ("c2", "d2", 0.8)]}
    assert bench.evaluate(bench.to_run(ranked, distinct=False), QRELS)["ndcg@10"] == 1.0


def test_the_replayed_fusion_of_shown_scores_is_the_servers_fusion_of_raw_ones():
    rng = random.Random(3)  # noqa: S311 - test data
    ids = [uuid.uuid4() for _ in range(60)]
    keyword = sorted(((i, rng.uniform(0, 40)) for i in ids[:40]), key=lambda p: -p[1])
    semantic = sorted(((i, rng.uniform(-0.2, 0.9)) for i in ids[20:]), key=lambda p: -p[1])

    def shown(ranked):
        scaled = relevance(ranked)
        return [(i, scaled[i]) for i, _ in ranked]

    raw = fuse([(keyword, 1.25), (semantic, 1.0)], method="zscore")
    replayed = fuse([(shown(keyword), 1.25), (shown(semantic), 1.0)], method="zscore")
    assert [i for i, _ in replayed] == [i for i, _ in raw]
