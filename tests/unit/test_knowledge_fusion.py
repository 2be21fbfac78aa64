"""Fusion of keyword and vector rankings: reciprocal rank fusion and standardised scores."""

import uuid

from devflow.knowledge.retrieval import fuse

A, B, C, D, E, F = (uuid.UUID(int=i) for i in range(1, 7))


def test_rrf_adds_weighted_reciprocal_ranks():
    keyword = [(A, 9.0), (B, 1.0)]
    semantic = [(B, 0.9), (C, 0.8)]
    fused = dict(fuse([(keyword, 1.0), (semantic, 2.0)], method="rrf", k=10))
    assert fused[B] == 1 / 12 + 2 / 11
    assert fused[A] == 1 / 11
    assert fused[C] == 2 / 12
    assert [cid for cid, _ in fuse([(keyword, 1.0), (semantic, 1.0)], k=10)] == [B, A, C]


def test_zscore_keeps_score_gaps_that_ranks_lose():
    # A is far ahead on keywords and absent from the vectors; B and C are close behind on both.
    # Rank fusion puts A behind them; standardised scores keep A's lead, since the others'
    # keyword scores sit near the floor and their vector scores barely differ.
    keyword = [(A, 30.0), (B, 2.0), (C, 1.5), (D, 1.0), (E, 1.0), (F, 1.0)]
    semantic = [(C, 0.52), (B, 0.51), (D, 0.50)]
    rrf = [cid for cid, _ in fuse([(keyword, 1.0), (semantic, 1.0)], method="rrf", k=5)]
    assert rrf.index(B) < rrf.index(A)
    assert rrf.index(C) < rrf.index(A)
    zscore = fuse([(keyword, 1.0), (semantic, 1.0)], method="zscore")
    assert zscore[0][0] == A
    # A chunk missing from a ranking counts as that ranking's lowest candidate: A's semantic
    # part equals D's (the lowest semantic score).
    semantic_only = dict(fuse([(semantic, 1.0)], method="zscore"))
    keyword_only = dict(fuse([(keyword, 1.0)], method="zscore"))
    assert dict(zscore)[A] == keyword_only[A] + semantic_only[D]


def test_zscore_with_one_empty_ranking_is_the_other_ranking():
    keyword = [(A, 3.0), (B, 2.0)]
    assert [cid for cid, _ in fuse([(keyword, 1.0), ([], 1.0)], method="zscore")] == [A, B]
    assert fuse([([], 1.0), ([], 1.0)], method="zscore") == []
