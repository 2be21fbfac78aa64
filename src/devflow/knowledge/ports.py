"""Swappable parts of the knowledge hub; implementations live in `devflow.knowledge.backends`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from devflow.core.services import Key


class Embedder(Protocol):
    """Turns text into vectors.

    `model` names the model exactly (for example `local:<name>` or `<provider>/<model>`); it is
    stored with every vector together with `dimension`, so a changed model is detected and
    re-embedded instead of mixing incompatible vectors. Vectors are L2-normalised, so cosine and
    inner product agree.
    """

    @property
    def model(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    async def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        """Embed passages (chunks) for indexing, in the order given."""
        ...

    async def embed_query(self, text: str) -> list[float]:
        """Embed a search query (some models prefix queries differently from passages)."""
        ...


class Reranker(Protocol):
    """Re-orders search candidates (a cross-encoder, an LLM judge); optional stage of search."""

    @property
    def name(self) -> str: ...

    async def rerank(self, query: str, passages: Sequence[str]) -> list[float]:
        """Return one relevance score per passage (higher is better), in the order given."""
        ...


EMBEDDER: Key[Embedder] = Key("embedder")
"""The process's configured embedder (`services.get(EMBEDDER)`): its model loads once."""
