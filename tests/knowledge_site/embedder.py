"""Deterministic bag-of-words embedders: "another model" for the model-change test."""

from __future__ import annotations

import hashlib
import math
import re


class HashingEmbedder:
    model = "test:hashing-256"
    dimension = 256

    def _embed(self, text):
        vector = [0.0] * self.dimension
        for word in re.findall(r"[a-z0-9]+", text.lower()):
            slot = int(hashlib.sha256(word.encode()).hexdigest()[:8], 16) % self.dimension
            vector[slot] += 1.0
        norm = math.sqrt(sum(v * v for v in vector)) or 1.0
        return [v / norm for v in vector]

    async def embed_documents(self, texts):
        return [self._embed(t) for t in texts]

    async def embed_query(self, text):
        return self._embed(text)


class SmallHashingEmbedder(HashingEmbedder):
    model = "test:hashing-64"
    dimension = 64


def make_small():
    return SmallHashingEmbedder()


_SHARED: list[object] = []


def shared_local():
    """The real local model, loaded once for the whole test session and shared by every app and
    worker a test starts (`python:tests.knowledge_site.embedder:shared_local`): each would
    otherwise load its own copy, a second apiece."""
    from devflow.knowledge.backends.embedders import local_embedder

    if not _SHARED:
        _SHARED.append(local_embedder())
    return _SHARED[0]


class BrokenEmbedder(HashingEmbedder):
    """A model whose every call fails, as a remote one that lost its key does."""

    model = "test:broken"

    async def embed_documents(self, texts):
        raise RuntimeError("the embeddings service refused the key")


def make_broken():
    return BrokenEmbedder()
